// The exported extras of cuda_api.h: the TF32 switch (read from KILN_TF32 once, then owned by
// set_tf32_enabled) and direct access to a GPU's backend.
#include "cuda_api.h"

#include <atomic>
#include <cstdlib>
#include <string_view>

#include "backend/cuda_bridge.h"
#include "caching_allocator.h"
#include "cuda_backend.h"

namespace kiln::cuda {

namespace {

bool tf32_from_environment() {
  const char* value = std::getenv("KILN_TF32");
  if (value == nullptr) return true;
  const std::string_view text(value);
  return !(text == "0" || text == "false" || text == "off");
}

std::atomic<bool>& tf32_flag() {
  static std::atomic<bool> flag(tf32_from_environment());
  return flag;
}

}  // namespace

bool tf32_enabled() { return tf32_flag().load(std::memory_order_relaxed); }

void set_tf32_enabled(bool enabled) { tf32_flag().store(enabled, std::memory_order_relaxed); }

backend::Backend& gpu_backend(int index) { return cuda_bridge::backend(index); }

std::unique_ptr<Allocator> make_device_allocator(int index) {
  auto& backend = static_cast<CudaBackend&>(gpu_backend(index));
  return std::make_unique<CachingAllocator>(index, backend.stream());
}

}  // namespace kiln::cuda
