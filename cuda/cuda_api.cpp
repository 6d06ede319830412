// The exported extras of cuda_api.h: the TF32 and cuDNN graph switches (read from KILN_TF32 /
// KILN_CUDNN_GRAPH once, then owned by their setters) and direct access to a GPU's backend.
#include "cuda_api.h"

#include <atomic>
#include <cstdlib>
#include <string_view>

#include "backend/cuda_bridge.h"
#include "caching_allocator.h"
#include "cuda_backend.h"

namespace kiln::cuda {

namespace {

// An on / off switch read from the environment: on unless set to 0, false or off.
bool switch_from_environment(const char* name) {
  const char* value = std::getenv(name);
  if (value == nullptr) return true;
  const std::string_view text(value);
  return !(text == "0" || text == "false" || text == "off");
}

std::atomic<bool>& tf32_flag() {
  static std::atomic<bool> flag(switch_from_environment("KILN_TF32"));
  return flag;
}

std::atomic<bool>& cudnn_graph_flag() {
  static std::atomic<bool> flag(switch_from_environment("KILN_CUDNN_GRAPH"));
  return flag;
}

}  // namespace

bool tf32_enabled() { return tf32_flag().load(std::memory_order_relaxed); }

void set_tf32_enabled(bool enabled) { tf32_flag().store(enabled, std::memory_order_relaxed); }

bool cudnn_graph_enabled() { return cudnn_graph_flag().load(std::memory_order_relaxed); }

void set_cudnn_graph_enabled(bool enabled) {
  cudnn_graph_flag().store(enabled, std::memory_order_relaxed);
}

backend::Backend& gpu_backend(int index) { return cuda_bridge::backend(index); }

std::unique_ptr<Allocator> make_device_allocator(int index) {
  auto& backend = static_cast<CudaBackend&>(gpu_backend(index));
  return std::make_unique<CachingAllocator>(index, backend.stream());
}

}  // namespace kiln::cuda
