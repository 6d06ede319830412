// cuda_api.h: the cuDNN graph switch (read from KILN_CUDNN_GRAPH once, then owned by its
// setter) and a pool of its own for tests.
#include "cuda_api.h"

#include <atomic>

#include "caching_allocator.h"
#include "core/env_switch.h"
#include "cuda_backend.h"

namespace kiln::cuda {

namespace {

std::atomic<bool>& cudnn_graph_flag() {
  static std::atomic<bool> flag(switch_from_environment("KILN_CUDNN_GRAPH"));
  return flag;
}

}  // namespace

bool cudnn_graph_enabled() { return cudnn_graph_flag().load(std::memory_order_relaxed); }

void set_cudnn_graph_enabled(bool enabled) {
  cudnn_graph_flag().store(enabled, std::memory_order_relaxed);
}

std::unique_ptr<Allocator> make_device_allocator(int index) {
  auto& backend = static_cast<CudaBackend&>(backend::backend_for(Device::cuda(index)));
  return std::make_unique<CachingAllocator>(index, backend.stream());
}

}  // namespace kiln::cuda
