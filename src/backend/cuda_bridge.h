// The only door between src/ and cuda/: what the device-independent code needs to know about
// CUDA. Implemented in cuda/ when kiln is built with CUDA, else by cuda_stub.cpp.
#pragma once

#include <string>

#include "backend/backend.h"

namespace kiln::cuda_bridge {

bool compiled_in();
// True when the CUDA backend runs on the CPU emulation of CUDA (KILN_CUDA_EMULATION, tests only).
bool emulated();
// Number of usable GPUs (0 without a driver or device); `why_not` explains a 0.
int device_count(std::string* why_not);
// The Backend and Allocator of GPU `device_index`, which the caller has checked is usable (the
// device registry, backend/registry.cpp, is the one place that checks).
backend::Backend& backend(int device_index);
Allocator& allocator(int device_index);
// "CUDA 13.0, cuDNN 9.19.0, cuBLAS 13.x" or "" when not compiled in.
std::string version_info();

}  // namespace kiln::cuda_bridge
