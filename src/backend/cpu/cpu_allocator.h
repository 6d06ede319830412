// CpuAllocator: 64-byte aligned host memory with statistics. Caches nothing.
#pragma once

#include <atomic>
#include <mutex>

#include "kiln/allocator.h"

namespace kiln::backend {

class CpuAllocator final : public Allocator {
 public:
  void* allocate(std::size_t bytes) override;
  void deallocate(void* ptr, std::size_t bytes) override;
  MemoryStats stats() const override;

 private:
  mutable std::mutex mutex_;
  MemoryStats stats_;
};

}  // namespace kiln::backend
