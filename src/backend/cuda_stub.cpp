// cuda_bridge for a build without CUDA: no GPU is ever usable.
#include "backend/cuda_bridge.h"
#include "core/check.h"

namespace kiln::cuda_bridge {

bool compiled_in() { return false; }
bool emulated() { return false; }

int device_count(std::string* why_not) {
  if (why_not) *why_not = "kiln was built without CUDA";
  return 0;
}

backend::Backend& backend(int device_index) {
  fail("cuda:{} requested, but kiln was built without CUDA", device_index);
}

Allocator& allocator(int device_index) {
  fail("cuda:{} requested, but kiln was built without CUDA", device_index);
}

std::string version_info() { return ""; }

}  // namespace kiln::cuda_bridge
