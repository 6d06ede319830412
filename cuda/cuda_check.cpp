// The throwing halves of CHECK_CUDA / CHECK_CUDNN / CHECK_CUBLAS (cuda_check.h): format one
// message that names the failed call, where it was made and what the library said.
#include "cuda_check.h"

#include <array>

#include "core/check.h"

namespace kiln::cuda {

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
