// DeviceGuard: makes GPU `device` current for the calling thread for a scope and restores the
// previous one afterwards (CUDA's current device is per thread; handles, streams and memory
// belong to the device that was current when they were made).
#pragma once

#include <cuda_runtime_api.h>

#include "cuda_check.h"

namespace kiln::cuda {

class DeviceGuard {
 public:
  explicit DeviceGuard(int device) : device_(device) {
    CHECK_CUDA(cudaGetDevice(&previous_));
    if (previous_ != device_) CHECK_CUDA(cudaSetDevice(device_));
  }
  ~DeviceGuard() {
    if (previous_ != device_) cudaSetDevice(previous_);
  }
  DeviceGuard(const DeviceGuard&) = delete;
  DeviceGuard& operator=(const DeviceGuard&) = delete;

 private:
  int device_;
  int previous_ = 0;
};

}  // namespace kiln::cuda
