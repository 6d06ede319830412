// backend_for / allocator_for: pick the kernels and memory of a device.
#include "backend/backend.h"
#include "backend/cpu/cpu_backend.h"
#include "backend/cuda_bridge.h"
#include "core/check.h"

namespace kiln {

namespace {

void check_cuda_index(int index) {
  std::string why;
  const int count = cuda_bridge::device_count(&why);
  KILN_CHECK(count > 0, "device cuda:{} requested, but no GPU is usable: {}", index, why);
  KILN_CHECK(index >= 0 && index < count, "device cuda:{} requested, but only {} GPU(s) are usable",
             index, count);
}

}  // namespace

Allocator& allocator_for(Device device) {
  if (device.is_cpu()) return backend::cpu_backend().allocator();
  check_cuda_index(device.index);
  return cuda_bridge::allocator(device.index);
}

MemoryStats memory_stats(Device device) { return allocator_for(device).stats(); }

SyncStats sync_stats(Device device) {
  const backend::Backend& be = backend::backend_for(device);
  return {be.waits(), be.graph_replays()};
}

namespace backend {

Backend& backend_for(Device device) {
  if (device.is_cpu()) return cpu_backend();
  check_cuda_index(device.index);
  return cuda_bridge::backend(device.index);
}

}  // namespace backend
}  // namespace kiln
