// CpuAllocator: 64-byte aligned host memory with statistics, and a cache of large blocks.
//
// Note [Why the CPU allocator caches]: a training step allocates the same large activations every
// step. glibc serves blocks above its mmap threshold with fresh mmaps and unmaps them on free, so
// every step paid a page fault per 4 KiB on first touch (about 100 ms per step for the seed
// model's first ReLU output alone). Blocks of 1 MiB and more are therefore kept after free and
// handed out again for a request they fit (best fit, wasting at most a quarter of the block), so
// training and inference batches of nearby sizes share blocks. The cache holds at most
// kMaxCachedBytes; KILN_CPU_NO_CACHE=1 turns it off (for valgrind / sanitizers).
//
// Note [Out of memory]: when the system refuses a block, the cache is given back to it and the
// request is tried once more (oom_retries counts these); if that fails too, allocate() throws
// kiln::OutOfMemoryError naming the requested, allocated and cached bytes. Nothing handed out
// before is touched, so the program can carry on (with a smaller batch, say).
#pragma once

#include <cstddef>
#include <map>
#include <mutex>

#include "kiln/allocator.h"

namespace kiln::backend {

class CpuAllocator final : public Allocator {
 public:
  CpuAllocator();
  ~CpuAllocator() override;
  void* allocate(std::size_t bytes) override;
  void deallocate(void* ptr, std::size_t bytes) override;
  MemoryStats stats() const override;
  void empty_cache() override;

  static constexpr std::size_t kCachedMinimum = std::size_t{1} << 20;
  static constexpr std::size_t kMaxCachedBytes = std::size_t{4} << 30;

 private:
  static std::size_t rounded(std::size_t bytes);
  void* allocate_from_system(std::size_t requested, std::size_t size);
  void free_cache();  // with mutex_ held
  mutable std::mutex mutex_;
  MemoryStats stats_;
  bool caching_;
  std::size_t cached_bytes_ = 0;
  std::multimap<std::size_t, void*> cache_;    // block size -> free block
  std::map<void*, std::size_t> large_blocks_;  // every large block handed out -> its size
};

}  // namespace kiln::backend
