#include "kiln/device.h"

#include <atomic>
#include <cstdio>
#include <cstdlib>

#include "backend/cuda_bridge.h"
#include "core/check.h"

namespace kiln {

std::string Device::str() const {
  return is_cpu() ? std::string("cpu") : "cuda:" + std::to_string(index);
}

bool cuda_available() { return cuda_bridge::device_count(nullptr) > 0; }

bool cuda_emulated() { return cuda_bridge::emulated(); }

namespace {

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

}  // namespace

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

void set_allow_tf32(bool allowed) { cuda_bridge::set_tf32(allowed); }
bool tf32_allowed() { return cuda_bridge::tf32(); }

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
  std::string why_not;
  const int count = cuda_bridge::device_count(&why_not);
  KILN_CHECK(count > 0, "device '{}' requested, but no GPU is usable: {}", text, why_not);
  KILN_CHECK(index < count, "device '{}' requested, but only {} GPU(s) are usable", text, count);
  return Device::cuda(index);
}

}  // namespace kiln
