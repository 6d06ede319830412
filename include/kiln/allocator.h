// Allocator: every byte of tensor memory comes from one. The CPU and every GPU each have one, and
// all are the same caching pool (src/backend/block_pool.h) over their own memory: 64-byte aligned
// host memory on the CPU, cudaMalloc on a GPU.
#pragma once

#include <cstddef>
#include <cstdint>

#include "kiln/device.h"
#include "kiln/export.h"

namespace kiln {

struct MemoryStats {
  std::size_t allocated = 0;             // bytes handed out and not yet returned
  std::size_t reserved = 0;              // bytes held from the system (allocated + cached)
  std::size_t peak_allocated = 0;        // high-water mark of `allocated`
  std::size_t peak_reserved = 0;         // high-water mark of `reserved`
  std::uint64_t allocations = 0;         // calls to allocate()
  std::uint64_t cache_hits = 0;          // allocations served from cached blocks
  std::uint64_t system_allocations = 0;  // calls to the system allocator (malloc / cudaMalloc)
  std::uint64_t oom_retries = 0;         // out-of-memory answers retried after freeing the cache
};

class KILN_API Allocator {
 public:
  virtual ~Allocator() = default;
  // Returns `bytes` of memory (bytes may be 0: a valid, unique, non-null pointer comes back).
  virtual void* allocate(std::size_t bytes) = 0;
  // Returns a block obtained from allocate() with the same size.
  virtual void deallocate(void* ptr, std::size_t bytes) = 0;
  virtual MemoryStats stats() const = 0;
  // Gives cached, unused blocks back to the system (no-op for allocators that cache nothing).
  virtual void empty_cache() {}
};

// Statistics of the allocator behind `device`.
KILN_API MemoryStats memory_stats(Device device);
// The allocator behind `device` (the CPU one, or the pool of CUDA GPU N).
KILN_API Allocator& allocator_for(Device device);

}  // namespace kiln
