#include "backend/cpu/cpu_allocator.h"

#include <cstdio>
#include <cstdlib>

#include "kiln/error.h"

namespace kiln::backend {

void* HostSegments::allocate_segment(std::size_t bytes) {
  void* ptr = nullptr;
  return posix_memalign(&ptr, kAlignment, bytes) == 0 ? ptr : nullptr;
}

void HostSegments::free_segment(void* ptr, std::size_t /*bytes*/) { std::free(ptr); }

CpuAllocator::CpuAllocator(bool caching) : pool_(source_, "cpu", caching, kMaxCachedBytes) {}

void* CpuAllocator::allocate(std::size_t bytes) { return pool_.allocate(bytes); }

void CpuAllocator::deallocate(void* ptr, std::size_t /*bytes*/) {
  try {
    pool_.deallocate(ptr);
  } catch (const Error& e) {
    std::fprintf(stderr, "kiln: could not free host memory: %s\n", e.what());
  }
}

MemoryStats CpuAllocator::stats() const { return pool_.stats(); }

void CpuAllocator::empty_cache() { pool_.empty_cache(); }

}  // namespace kiln::backend
