// CpuAllocator: the Allocator behind every CPU tensor — a BlockPool (src/backend/block_pool.h: size
// classes, best fit, split / merge, release-and-retry on out-of-memory, statistics) fed with
// 64-byte aligned host memory. The same pool, with cudaMalloc segments, serves each GPU
// (cuda/caching_allocator.h).
//
// Note [Why the CPU allocator caches]: a training step allocates the same large activations every
// step. glibc serves blocks above its mmap threshold with fresh mmaps and unmaps them on free, so
// every step paid a page fault per 4 KiB on first touch (about 100 ms per step for the seed
// model's first ReLU output alone). The pool keeps freed blocks and hands them out again, already
// mapped, splitting and merging them as the GPU pool does. Small tensors go through the pool too
// (sharing 2 MiB segments) rather than straight to malloc: one path, one set of statistics, and
// measured no slower — the seed model's step at batch 1024 took the same time as with the old
// large-blocks-only cache (medians 2538 vs 2550 ms on a loaded 2-core VM, 4 interleaved runs of
// kiln_bench_seed_step each) with a smaller peak RSS (691 vs 733 MB).
// Unlike cudaMalloc, the system rarely says no (Linux overcommits: the out-of-memory killer
// strikes instead), so the pool's free-cache-and-retry cannot be what bounds the cache: the CPU
// pool keeps at most kMaxCachedBytes of free memory and returns wholly free segments beyond that
// (Note [Cache limit] in block_pool.cpp). KILN_CPU_NO_CACHE=1 turns caching off: every tensor is
// then its own exact-size allocation, freed at once, so sanitizers and valgrind see its bounds.
//
// Note [Out of memory]: when the system refuses a segment, the pool gives its wholly free segments
// back and asks once more (oom_retries counts these); if that fails too, allocate() throws
// kiln::OutOfMemoryError naming the requested, allocated and reserved bytes. Nothing handed out
// before is touched, so the program can carry on (with a smaller batch, say).
#pragma once

#include <cstddef>

#include "backend/block_pool.h"
#include "kiln/allocator.h"

namespace kiln::backend {

// 64-byte aligned host memory from the C library; nullptr when the system refuses.
class HostSegments final : public SegmentSource {
 public:
  static constexpr std::size_t kAlignment = 64;
  void* allocate_segment(std::size_t bytes) override;
  void free_segment(void* ptr, std::size_t bytes) override;
};

class CpuAllocator final : public Allocator {
 public:
  // Free memory the pool keeps at most (Note [Why the CPU allocator caches]).
  static constexpr std::size_t kMaxCachedBytes = std::size_t{4} << 30;

  // Caching follows KILN_CPU_NO_CACHE unless `caching` says otherwise.
  explicit CpuAllocator(bool caching = caching_enabled_by_environment("KILN_CPU_NO_CACHE"));

  void* allocate(std::size_t bytes) override;
  // Never throws (it runs in destructors): a pointer the pool did not hand out is reported on
  // stderr.
  void deallocate(void* ptr, std::size_t bytes) override;
  MemoryStats stats() const override;
  void empty_cache() override;

  // The pool itself, for tests and diagnostics.
  const BlockPool& pool() const { return pool_; }

 private:
  HostSegments source_;  // declared first: the pool returns its segments to it
  BlockPool pool_;
};

}  // namespace kiln::backend
