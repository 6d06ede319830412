#include "backend/cpu/cpu_allocator.h"

#include <algorithm>
#include <cstdlib>

#include "core/check.h"

namespace kiln::backend {

namespace {
constexpr std::size_t kAlignment = 64;
}

void* CpuAllocator::allocate(std::size_t bytes) {
  const std::size_t rounded = std::max<std::size_t>(kAlignment, (bytes + kAlignment - 1) / kAlignment * kAlignment);
  void* ptr = std::aligned_alloc(kAlignment, rounded);
  KILN_CHECK(ptr != nullptr, "out of host memory: requested {} bytes, {} bytes in use", bytes,
             stats().allocated);
  std::lock_guard lock(mutex_);
  stats_.allocations += 1;
  stats_.system_allocations += 1;
  stats_.allocated += bytes;
  stats_.reserved += bytes;
  stats_.peak_allocated = std::max(stats_.peak_allocated, stats_.allocated);
  stats_.peak_reserved = std::max(stats_.peak_reserved, stats_.reserved);
  return ptr;
}

void CpuAllocator::deallocate(void* ptr, std::size_t bytes) {
  std::free(ptr);
  std::lock_guard lock(mutex_);
  stats_.allocated -= bytes;
  stats_.reserved -= bytes;
}

MemoryStats CpuAllocator::stats() const {
  std::lock_guard lock(mutex_);
  return stats_;
}

}  // namespace kiln::backend
