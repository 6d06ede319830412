// BlockPool: the bookkeeping half of kiln's caching allocators — which cached block serves a
// request, when a block is split, when neighbours merge, what the statistics say. It is plain C++
// and never calls CUDA: memory comes from a SegmentSource (cudaMalloc / cudaFree on a GPU,
// cuda/caching_allocator.{h,cpp}; aligned host memory on the CPU, cpu/cpu_allocator.{h,cpp}; a
// fake in tests/unit/test_caching_allocator.cpp), so every rule here is tested without a GPU. The
// design is PyTorch's CUDACachingAllocator at small scale; block_pool.cpp explains it in named
// notes. It locks itself: every public function may be called from any thread.
#pragma once

#include <cstddef>
#include <limits>
#include <memory>
#include <string>

#include "kiln/allocator.h"

namespace kiln::backend {

// Where the pool gets its memory from: whole "segments" that it carves into blocks.
class SegmentSource {
 public:
  virtual ~SegmentSource() = default;
  // A new segment of `bytes`, or nullptr when the system is out of memory (the pool then frees
  // its cache and asks once more). Other failures throw kiln::Error.
  virtual void* allocate_segment(std::size_t bytes) = 0;
  // Gives back a segment obtained from allocate_segment with the same size.
  virtual void free_segment(void* ptr, std::size_t bytes) = 0;
};

// An opaque stream identity (a cudaStream_t on a GPU). Blocks freed on one stream are reused only
// by requests on the same stream (Note [Stream-ordered reuse] in block_pool.cpp).
using StreamId = const void*;

class BlockPool {
 public:
  static constexpr std::size_t kMinBlockSize = 512;         // every size is a multiple
  static constexpr std::size_t kSmallSize = 1u << 20;       // <= this: the small pool
  static constexpr std::size_t kSmallBuffer = 2u << 20;     // segment size of the small pool
  static constexpr std::size_t kMinLargeAlloc = 10u << 20;  // below: share a kLargeBuffer
  static constexpr std::size_t kLargeBuffer = 20u << 20;    // shared large segment
  static constexpr std::size_t kRoundLarge = 2u << 20;      // large segments round to this
  static constexpr std::size_t kNoCacheLimit = std::numeric_limits<std::size_t>::max();

  // `bytes` rounded up to a multiple of kMinBlockSize (0 becomes kMinBlockSize).
  static std::size_t round_size(std::size_t bytes);
  // Size of the segment requested from the source for a block of `rounded` bytes.
  static std::size_t segment_size(std::size_t rounded);

  // `device_name` appears in error messages ("cuda:0"). With `caching` false every allocate()
  // takes a fresh segment of exactly the requested size and deallocate() returns it at once
  // (Note [Caching off]). When more than `max_cached_bytes` of reserved memory is free, wholly
  // free segments go back to the source, largest first (Note [Cache limit]).
  BlockPool(SegmentSource& source, std::string device_name, bool caching = true,
            std::size_t max_cached_bytes = kNoCacheLimit);
  // Returns the cached segments to the source; blocks still allocated are not touched.
  ~BlockPool();
  BlockPool(const BlockPool&) = delete;
  BlockPool& operator=(const BlockPool&) = delete;

  // A block of at least `bytes` for use on `stream`; never nullptr. When the source is out of
  // memory even after the cache was freed, throws kiln::OutOfMemoryError naming the requested,
  // allocated and reserved bytes; blocks already handed out are untouched.
  void* allocate(std::size_t bytes, StreamId stream = nullptr);
  // Returns a block from allocate(); throws kiln::Error for a pointer the pool did not hand out.
  void deallocate(void* ptr);
  // Frees every segment that holds no allocated block.
  void empty_cache();

  // allocated / peak_allocated count whole blocks (rounded sizes); reserved counts segments.
  MemoryStats stats() const;
  bool caching() const;

  // Inspection, for tests and diagnostics.
  std::size_t cached_block_count() const;         // free blocks in both pools
  std::size_t segment_count() const;              // segments held from the source
  std::size_t block_size(const void* ptr) const;  // size of the allocated block at ptr, 0 if none

 private:
  struct State;
  std::unique_ptr<State> state_;
};

// False when the environment asks for a pool's caching off: `variable` (KILN_CUDA_NO_CACHE for the
// GPU pools, KILN_CPU_NO_CACHE for the CPU's) set to anything but "" or "0" (Note [Caching off] in
// block_pool.cpp; use it under compute-sanitizer, ASan or valgrind).
bool caching_enabled_by_environment(const char* variable = "KILN_CUDA_NO_CACHE");

}  // namespace kiln::backend
