// The device registry: which devices exist, the default device, parsing "cuda:N", and the
// kernels (backend_for) and memory (allocator_for) of each. It is the one place that checks a GPU
// index: cuda_bridge (the door into cuda/) takes indices already checked here. The GPU count is
// probed once (cuda_bridge), so the check on every backend_for / allocator_for is two compares.
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <string_view>

#include "backend/backend.h"
#include "backend/cpu/cpu_backend.h"
#include "backend/cuda_bridge.h"
#include "core/check.h"
#include "core/env_switch.h"
#include "kiln/device.h"

namespace kiln {

namespace {

// Throws unless GPU `index` is usable; `asked` names it in the message ("cuda:1", "'cuda'").
void check_gpu(int index, std::string_view asked) {
  const int count = cuda_bridge::device_count(nullptr);
  if (count > 0 && index >= 0 && index < count) return;
  std::string why_not;
  cuda_bridge::device_count(&why_not);
  KILN_CHECK(count > 0, "device {} requested, but no GPU is usable: {}", asked, why_not);
  fail("device {} requested, but only {} GPU(s) are usable", asked, count);
}

void check_device(Device device) {
  if (device.is_cuda()) check_gpu(device.index, device.str());
}

Device pick_default_device(std::string* reason) {
  if (const char* env = std::getenv("KILN_DEVICE");
      env != nullptr && *env != '\0' && std::string(env) != "auto") {
    *reason = std::string("KILN_DEVICE=") + env;
    return parse_device(env);
  }
  std::string why_not;
  if (cuda_bridge::device_count(&why_not) > 0) {
    *reason = "a GPU is usable";
    return Device::cuda(0);
  }
  *reason = why_not;
  return Device::cpu();
}

const DeviceChoice& chosen_default_device() {
  static const DeviceChoice choice = [] {
    DeviceChoice c;
    c.device = pick_default_device(&c.reason);
    return c;
  }();
  return choice;
}

std::atomic<bool> default_device_reported{false};

// The one TF32 switch (kiln/device.h): KILN_TF32 at start, set_allow_tf32 at any time; the CUDA
// backend reads tf32_allowed() when it picks a math mode.
std::atomic<bool>& tf32_flag() {
  static std::atomic<bool> flag(switch_from_environment("KILN_TF32"));
  return flag;
}

}  // namespace

bool cuda_available() { return cuda_bridge::device_count(nullptr) > 0; }

bool cuda_emulated() { return cuda_bridge::emulated(); }

Device default_device() {
  const DeviceChoice& choice = chosen_default_device();
  if (!default_device_reported.exchange(true)) {
    std::fprintf(stderr, "kiln: using %s (%s)\n", choice.device.str().c_str(),
                 choice.reason.c_str());
  }
  return choice.device;
}

DeviceChoice default_device_choice() {
  default_device_reported = true;
  return chosen_default_device();
}

void set_allow_tf32(bool allowed) { tf32_flag().store(allowed, std::memory_order_relaxed); }
bool tf32_allowed() { return tf32_flag().load(std::memory_order_relaxed); }

Device parse_device(const std::string& text) {
  if (text == "cpu") return Device::cpu();
  if (text == "auto") return default_device();
  int index = 0;
  if (text == "cuda") {
    index = 0;
  } else if (text.rfind("cuda:", 0) == 0 && text.size() > 5 &&
             text.find_first_not_of("0123456789", 5) == std::string::npos) {
    index = std::stoi(text.substr(5));
  } else {
    fail("device: expected 'cpu', 'cuda', 'cuda:N' or 'auto', found '{}'", text);
  }
  check_gpu(index, "'" + text + "'");
  return Device::cuda(index);
}

Allocator& allocator_for(Device device) {
  if (device.is_cpu()) return backend::cpu_backend().allocator();
  check_device(device);
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
  check_device(device);
  return cuda_bridge::backend(device.index);
}

}  // namespace backend
}  // namespace kiln
