// BlockPool: size classes, best-fit search, splitting and merging of cached memory blocks, for the
// GPUs and the CPU alike. Plain C++ (no CUDA): compiled into libkiln on every build so the unit
// tests can exercise it.
//
// Note [Size classes]
// ~~~~~~~~~~~~~~~~~~~
// Every request is rounded up to a multiple of 512 B (kMinBlockSize), so blocks stay aligned and
// near-equal sizes share blocks. Rounded sizes up to 1 MiB (kSmallSize) live in the small pool
// and are cut from 2 MiB segments (kSmallBuffer); larger ones live in the large pool: a request
// under 10 MiB (kMinLargeAlloc) takes a 20 MiB segment (kLargeBuffer) that later requests share,
// a bigger one takes a segment of its own, rounded up to 2 MiB (kRoundLarge). Keeping the pools
// apart stops many small tensors from fragmenting the big segments (PyTorch's reasoning).
//
// Note [Best fit]
// ~~~~~~~~~~~~~~~
// Free blocks of a pool sit in a std::set ordered by (stream, size, address). lower_bound of
// (stream, size, 0) is the smallest free block on that stream that fits; the address makes the
// order total and prefers lower addresses among equal sizes, which keeps the choice deterministic.
//
// Note [Splitting]
// ~~~~~~~~~~~~~~~~
// A block larger than the request is split when the rest is worth keeping: in the small pool when
// at least 512 B remain, in the large pool when more than 1 MiB remains (smaller large-pool rests
// are handed out with the block; `allocated` then counts the whole block). The blocks of one
// segment form a doubly linked list in address order (prev / next), which is what merging walks.
//
// Note [Merging]
// ~~~~~~~~~~~~~~
// A freed block absorbs a free neighbour on either side (same segment: the linked list never
// crosses segments), so a segment whose blocks are all free becomes one block with no neighbours
// again — exactly the blocks empty_cache() can return to the source.
//
// Note [Out of memory]
// ~~~~~~~~~~~~~~~~~~~~
// When the source answers nullptr, the pool returns every wholly free segment to it and asks once
// more (oom_retries counts these). If that fails too, it throws kiln::OutOfMemoryError naming the
// requested, allocated and reserved bytes; nothing was changed, so tensors that exist stay intact.
// Layer::call and the tape's backward walk add the layer being run to the message.
//
// Note [Cache limit]
// ~~~~~~~~~~~~~~~~~~~
// A pool may be given a bound on its free memory (reserved - allocated). When a deallocation takes
// it above the bound, wholly free segments go back to the source, largest first, until it is
// under again (or none is left: the free rests of segments still in use cannot be returned). The
// GPU pools have no bound — cudaMalloc says no when the device is full, and the retry of Note
// [Out of memory] then frees the cache. The CPU pool has one (4 GiB) because the system rarely
// says no there: Linux overcommits and its out-of-memory killer ends the process instead, so a
// cache grown by requests of ever new sizes would never be freed otherwise.
//
// Note [Stream-ordered reuse]
// ~~~~~~~~~~~~~~~~~~~~~~~~~~~
// Freeing a block does not wait for the GPU: kernels queued on the block's stream may still use
// it. Reuse is safe only for later work on the same stream, which runs after them; hence the
// stream is the first key of the free sets. kiln queues all work of a device on one stream
// (CudaBackend), so every block matches. Returning a segment to cudaFree is safe too: cudaFree
// waits for the device.
//
// Note [Caching off]
// ~~~~~~~~~~~~~~~~~~
// With caching off (KILN_CUDA_NO_CACHE=1 for the GPUs, KILN_CPU_NO_CACHE=1 for the CPU), each
// allocation is its own segment of exactly the requested size (1 byte for 0) and is freed at once,
// so compute-sanitizer, ASan or valgrind sees every buffer's true bounds and every use after free.
#include "backend/block_pool.h"

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <limits>
#include <mutex>
#include <set>
#include <string_view>
#include <tuple>
#include <unordered_map>
#include <utility>

#include "core/check.h"

namespace kiln::backend {

namespace {

struct Block {
  std::size_t size = 0;
  StreamId stream = nullptr;
  char* ptr = nullptr;
  bool small = false;
  bool allocated = false;
  Block* prev = nullptr;  // neighbours in the same segment, in address order (Note [Splitting])
  Block* next = nullptr;
};

struct BlockOrder {
  bool operator()(const Block* a, const Block* b) const {
    const auto key = [](const Block* block) {
      return std::make_tuple(reinterpret_cast<std::uintptr_t>(block->stream), block->size,
                             reinterpret_cast<std::uintptr_t>(block->ptr));
    };
    return key(a) < key(b);
  }
};

using FreeBlocks = std::set<Block*, BlockOrder>;

}  // namespace

struct BlockPool::State {
  SegmentSource& source;
  std::string device_name;
  bool caching;
  std::size_t max_cached_bytes;
  mutable std::mutex mutex;
  FreeBlocks small_free;
  FreeBlocks large_free;
  std::unordered_map<const void*, Block*> allocated_blocks;
  MemoryStats stats;
  std::size_t segments = 0;

  State(SegmentSource& src, std::string name, bool cache, std::size_t max_cached)
      : source(src), device_name(std::move(name)), caching(cache), max_cached_bytes(max_cached) {}

  FreeBlocks& pool_of(const Block* block) { return block->small ? small_free : large_free; }

  // Note [Best fit]
  Block* take_free_block(FreeBlocks& pool, StreamId stream, std::size_t size) {
    Block key;
    key.stream = stream;
    key.size = size;
    const auto it = pool.lower_bound(&key);
    if (it == pool.end() || (*it)->stream != stream) return nullptr;
    Block* block = *it;
    pool.erase(it);
    return block;
  }

  // Note [Out of memory]
  void* allocate_segment_or_throw(std::size_t requested, std::size_t segment_bytes) {
    void* ptr = source.allocate_segment(segment_bytes);
    if (ptr == nullptr && caching) {
      release_free_segments();
      stats.oom_retries += 1;
      ptr = source.allocate_segment(segment_bytes);
    }
    if (ptr == nullptr) {
      throw OutOfMemoryError(
          fmt::format("out of memory on {}: tried to allocate {} bytes ({}; segment of {} bytes); "
                      "{} bytes ({}) are allocated and {} bytes ({}) reserved by kiln{}",
                      device_name, requested, format_bytes(requested), segment_bytes,
                      stats.allocated, format_bytes(stats.allocated), stats.reserved,
                      format_bytes(stats.reserved),
                      caching ? ", after freeing the cache and retrying" : ""),
          requested);
    }
    stats.system_allocations += 1;
    stats.reserved += segment_bytes;
    stats.peak_reserved = std::max(stats.peak_reserved, stats.reserved);
    segments += 1;
    return ptr;
  }

  std::size_t cached_bytes() const { return stats.reserved - stats.allocated; }

  // Returns wholly free segments to the source, largest first, until at most `keep` bytes of the
  // reserved memory are free (Note [Out of memory]: 0; Note [Cache limit]: the bound).
  void release_free_segments(std::size_t keep = 0) {
    for (FreeBlocks* pool : {&large_free, &small_free}) {
      for (auto it = pool->end(); it != pool->begin() && cached_bytes() > keep;) {
        Block* block = *--it;
        if (block->prev != nullptr || block->next != nullptr) continue;
        source.free_segment(block->ptr, block->size);
        stats.reserved -= block->size;
        segments -= 1;
        it = pool->erase(it);
        delete block;
      }
    }
  }

  // Note [Splitting]
  static bool should_split(const Block* block, std::size_t size) {
    const std::size_t remaining = block->size - size;
    return block->small ? remaining >= kMinBlockSize : remaining > kSmallSize;
  }

  void split(Block* block, std::size_t size) {
    auto* rest = new Block;
    rest->size = block->size - size;
    rest->stream = block->stream;
    rest->ptr = block->ptr + size;
    rest->small = block->small;
    rest->prev = block;
    rest->next = block->next;
    if (rest->next != nullptr) rest->next->prev = rest;
    block->next = rest;
    block->size = size;
    pool_of(rest).insert(rest);
  }

  // Note [Merging]: `block` (free, in no set) absorbs `neighbour` when that one is free.
  void merge(Block* block, Block* neighbour) {
    if (neighbour == nullptr || neighbour->allocated) return;
    pool_of(neighbour).erase(neighbour);
    if (block->prev == neighbour) {
      block->ptr = neighbour->ptr;
      block->prev = neighbour->prev;
      if (block->prev != nullptr) block->prev->next = block;
    } else {
      block->next = neighbour->next;
      if (block->next != nullptr) block->next->prev = block;
    }
    block->size += neighbour->size;
    delete neighbour;
  }

  void hand_out(Block* block) {
    block->allocated = true;
    allocated_blocks.emplace(block->ptr, block);
    stats.allocated += block->size;
    stats.peak_allocated = std::max(stats.peak_allocated, stats.allocated);
  }
};

std::size_t BlockPool::round_size(std::size_t bytes) {
  KILN_CHECK(bytes <= std::numeric_limits<std::size_t>::max() - kRoundLarge,
             "device allocation of {} bytes is too large", bytes);
  if (bytes < kMinBlockSize) return kMinBlockSize;
  return (bytes + kMinBlockSize - 1) / kMinBlockSize * kMinBlockSize;
}

std::size_t BlockPool::segment_size(std::size_t rounded) {
  if (rounded <= kSmallSize) return kSmallBuffer;
  if (rounded < kMinLargeAlloc) return kLargeBuffer;
  return (rounded + kRoundLarge - 1) / kRoundLarge * kRoundLarge;
}

BlockPool::BlockPool(SegmentSource& source, std::string device_name, bool caching,
                     std::size_t max_cached_bytes)
    : state_(std::make_unique<State>(source, std::move(device_name), caching, max_cached_bytes)) {}

BlockPool::~BlockPool() {
  try {
    empty_cache();
  } catch (const Error&) {
    // The source could not take a segment back (a GPU in an error state): nothing to do here.
  }
  for (FreeBlocks* pool : {&state_->small_free, &state_->large_free}) {
    for (Block* block : *pool) delete block;
  }
  for (auto& entry : state_->allocated_blocks) delete entry.second;
}

void* BlockPool::allocate(std::size_t bytes, StreamId stream) {
  State& s = *state_;
  std::lock_guard lock(s.mutex);
  s.stats.allocations += 1;
  if (!s.caching) {  // Note [Caching off]
    const std::size_t exact = std::max<std::size_t>(bytes, 1);
    void* ptr = s.allocate_segment_or_throw(bytes, exact);
    auto* block = new Block;
    block->size = exact;
    block->stream = stream;
    block->ptr = static_cast<char*>(ptr);
    s.hand_out(block);
    return ptr;
  }
  const std::size_t size = round_size(bytes);
  const bool small = size <= kSmallSize;
  Block* block = s.take_free_block(small ? s.small_free : s.large_free, stream, size);
  if (block != nullptr) {
    s.stats.cache_hits += 1;
  } else {
    const std::size_t segment_bytes = segment_size(size);
    void* ptr = s.allocate_segment_or_throw(bytes, segment_bytes);
    block = new Block;
    block->size = segment_bytes;
    block->stream = stream;
    block->ptr = static_cast<char*>(ptr);
    block->small = small;
  }
  if (State::should_split(block, size)) s.split(block, size);
  s.hand_out(block);
  return block->ptr;
}

void BlockPool::deallocate(void* ptr) {
  State& s = *state_;
  std::lock_guard lock(s.mutex);
  const auto it = s.allocated_blocks.find(ptr);
  KILN_CHECK(it != s.allocated_blocks.end(),
             "device deallocation on {}: pointer {} was not handed out by this pool (or was "
             "freed twice)",
             s.device_name, ptr);
  Block* block = it->second;
  s.allocated_blocks.erase(it);
  s.stats.allocated -= block->size;
  if (!s.caching) {  // Note [Caching off]
    s.stats.reserved -= block->size;
    s.segments -= 1;
    const std::size_t size = block->size;
    delete block;
    s.source.free_segment(ptr, size);
    return;
  }
  block->allocated = false;
  s.merge(block, block->prev);
  s.merge(block, block->next);
  s.pool_of(block).insert(block);
  if (s.cached_bytes() > s.max_cached_bytes) s.release_free_segments(s.max_cached_bytes);
}

void BlockPool::empty_cache() {
  std::lock_guard lock(state_->mutex);
  state_->release_free_segments();
}

MemoryStats BlockPool::stats() const {
  std::lock_guard lock(state_->mutex);
  return state_->stats;
}

bool BlockPool::caching() const { return state_->caching; }

std::size_t BlockPool::cached_block_count() const {
  std::lock_guard lock(state_->mutex);
  return state_->small_free.size() + state_->large_free.size();
}

std::size_t BlockPool::segment_count() const {
  std::lock_guard lock(state_->mutex);
  return state_->segments;
}

std::size_t BlockPool::block_size(const void* ptr) const {
  std::lock_guard lock(state_->mutex);
  const auto it = state_->allocated_blocks.find(ptr);
  return it == state_->allocated_blocks.end() ? 0 : it->second->size;
}

bool caching_enabled_by_environment(const char* variable) {
  const char* value = std::getenv(variable);
  return value == nullptr || std::string_view(value).empty() || std::string_view(value) == "0";
}

}  // namespace kiln::backend
