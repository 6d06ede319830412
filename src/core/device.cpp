// Device: the value type only. Which devices exist, the default device and parsing "cuda:N" need
// the backends, so they live in the backend layer's registry (backend/registry.cpp).
#include "kiln/device.h"

namespace kiln {

std::string Device::str() const {
  return is_cpu() ? std::string("cpu") : "cuda:" + std::to_string(index);
}

}  // namespace kiln
