// The throwing halves of CHECK_CUDA / CHECK_CUDNN / CHECK_CUBLAS (cuda_check.h): format one
// message that names the failed call, where it was made and what the library said.
#include "cuda_check.h"

#include <array>
#include <cstdlib>
#include <string_view>

#include "core/check.h"

namespace kiln::cuda {

bool sync_checks_enabled() {
  static const bool enabled = [] {
    const char* value = std::getenv("KILN_CUDA_SYNC");
    return value != nullptr && std::string_view(value) != "" && std::string_view(value) != "0";
  }();
  return enabled;
}

namespace {
thread_local int paused = 0;
}  // namespace

SyncChecksPaused::SyncChecksPaused() { ++paused; }
SyncChecksPaused::~SyncChecksPaused() { --paused; }

void sync_check(const char* call, const char* file, int line) {
  if (paused > 0) return;
  const cudaError_t status = cudaDeviceSynchronize();
  if (status != cudaSuccess) {
    fail("CUDA error {} ({}: {}) in the device work of {} at {}:{} (KILN_CUDA_SYNC=1)",
         static_cast<int>(status), cudaGetErrorName(status), cudaGetErrorString(status), call, file,
         line);
  }
}

void throw_cuda_error(cudaError_t status, const char* call, const char* file, int line) {
  fail("CUDA error {} ({}: {}) in {} at {}:{}", static_cast<int>(status), cudaGetErrorName(status),
       cudaGetErrorString(status), call, file, line);
}

void throw_cudnn_error(cudnnStatus_t status, const char* call, const char* file, int line) {
  std::array<char, 512> detail{};
  cudnnGetLastErrorString(detail.data(), detail.size());
  fail("cuDNN error {} ({}) in {} at {}:{}{}{}", static_cast<int>(status),
       cudnnGetErrorString(status), call, file, line, detail[0] != '\0' ? ": " : "", detail.data());
}

void throw_cublas_error(cublasStatus_t status, const char* call, const char* file, int line) {
  fail("cuBLAS error {} ({}: {}) in {} at {}:{}", static_cast<int>(status),
       cublasGetStatusName(status), cublasGetStatusString(status), call, file, line);
}

}  // namespace kiln::cuda
