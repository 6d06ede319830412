// cuBLAS GEMM for row-major matrices (see cublas_gemm.h), with the per-thread handle cache.
#include "cublas_gemm.h"

#include <cublas_v2.h>

#include <algorithm>
#include <map>
#include <utility>

#include "cuda_check.h"
#include "cudnn_resources.h"

namespace kiln::cuda {

namespace {

class CublasHandle {
 public:
  CublasHandle() { CHECK_CUBLAS(cublasCreate(&handle_)); }
  ~CublasHandle() {
    if (handle_ != nullptr) cublasDestroy(handle_);
  }
  CublasHandle(CublasHandle&& other) noexcept : handle_(std::exchange(other.handle_, nullptr)) {}
  CublasHandle& operator=(CublasHandle&&) = delete;
  CublasHandle(const CublasHandle&) = delete;
  CublasHandle& operator=(const CublasHandle&) = delete;
  cublasHandle_t get() const { return handle_; }

 private:
  cublasHandle_t handle_ = nullptr;
};

cublasHandle_t cublas_handle(int device, cudaStream_t stream) {
  thread_local std::map<int, CublasHandle> handles;
  auto it = handles.find(device);
  if (it == handles.end()) it = handles.emplace(device, CublasHandle()).first;
  CHECK_CUBLAS(cublasSetStream(it->second.get(), stream));
  return it->second.get();
}

}  // namespace

void gemm_f32(int device, cudaStream_t stream, bool transpose_a, bool transpose_b, std::int64_t m,
              std::int64_t n, std::int64_t k, float alpha, const float* a, const float* b,
              float beta, float* c, bool tf32) {
  if (m == 0 || n == 0) return;
  const int rows = to_int(m, "gemm m");
  const int cols = to_int(n, "gemm n");
  const int inner = to_int(k, "gemm k");
  // Leading dimensions of the stored row-major matrices (= their column counts), at least 1.
  const int lda = std::max(1, transpose_a ? rows : inner);
  const int ldb = std::max(1, transpose_b ? inner : cols);
  cublasHandle_t handle = cublas_handle(device, stream);
  CHECK_CUBLAS(cublasGemmEx(
      handle, transpose_b ? CUBLAS_OP_T : CUBLAS_OP_N, transpose_a ? CUBLAS_OP_T : CUBLAS_OP_N,
      cols, rows, inner, &alpha, b, CUDA_R_32F, ldb, a, CUDA_R_32F, lda, &beta, c, CUDA_R_32F, cols,
      tf32 ? CUBLAS_COMPUTE_32F_FAST_TF32 : CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
}

}  // namespace kiln::cuda
