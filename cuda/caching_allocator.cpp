// CachingAllocator: BlockPool bookkeeping over cudaMalloc / cudaFree (see caching_allocator.h).
// cudaMalloc's out-of-memory answer is turned into nullptr (after clearing the error, which is
// not sticky) so the pool can free its cache and retry; every other CUDA error throws.
#include "caching_allocator.h"

#include <cuda_runtime_api.h>

#include <cstdio>

#include "cuda_check.h"
#include "device_guard.h"
#include "kiln/error.h"

namespace kiln::cuda {

namespace {

class CudaSegments final : public SegmentSource {
 public:
  explicit CudaSegments(int device) : device_(device) {}

  void* allocate_segment(std::size_t bytes) override {
    DeviceGuard guard(device_);
    void* ptr = nullptr;
    const cudaError_t status = cudaMalloc(&ptr, bytes);
    if (status == cudaErrorMemoryAllocation) {
      cudaGetLastError();
      return nullptr;
    }
    CHECK_CUDA(status);
    return ptr;
  }

  void free_segment(void* ptr, std::size_t /*bytes*/) override {
    DeviceGuard guard(device_);
    CHECK_CUDA(cudaFree(ptr));
  }

 private:
  int device_;
};

std::string device_name(int device) { return "cuda:" + std::to_string(device); }

}  // namespace

CachingAllocator::CachingAllocator(int device, StreamId stream)
    : source_(std::make_unique<CudaSegments>(device)),
      pool_(*source_, device_name(device), caching_enabled_by_environment()),
      stream_(stream) {}

CachingAllocator::~CachingAllocator() = default;

void* CachingAllocator::allocate(std::size_t bytes) { return pool_.allocate(bytes, stream_); }

void CachingAllocator::deallocate(void* ptr, std::size_t /*bytes*/) {
  try {
    pool_.deallocate(ptr);
  } catch (const Error& e) {
    std::fprintf(stderr, "kiln: could not free device memory: %s\n", e.what());
  }
}

MemoryStats CachingAllocator::stats() const { return pool_.stats(); }

void CachingAllocator::empty_cache() { pool_.empty_cache(); }

}  // namespace kiln::cuda
