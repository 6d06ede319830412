// cuBLAS GEMM for row-major matrices (see cublas_gemm.h), with the per-(device, thread) handle.
//
// Note [cuBLAS workspace and stream]
// ~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~
// cublasSetStream resets the handle's workspace to cuBLAS's default pool, so it is called only
// when the stream changes, and each handle gets an explicit workspace from the device's caching
// pool with cublasSetWorkspace right after (32 MiB on compute capability 9.x, 4 MiB before, as
// the cuBLAS documentation recommends). The workspace stays the handle's for its lifetime, so a
// captured CUDA graph always sees the same address, and cuBLAS never allocates on its own.
#include "cublas_gemm.h"

#include <cublas_v2.h>

#include <algorithm>
#include <map>
#include <memory>
#include <utility>

#include "cuda_check.h"
#include "cudnn_resources.h"
#include "device_buffer.h"

namespace kiln::cuda {

std::size_t cublas_workspace_bytes(int device) {
  int major = 0;
  CHECK_CUDA(cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, device));
  return major >= 9 ? std::size_t{32} << 20 : std::size_t{4} << 20;
}

namespace {

class CublasHandle {
 public:
  CublasHandle(int device, Allocator& allocator)
      : workspace_(allocator, cublas_workspace_bytes(device)) {
    CHECK_CUBLAS(cublasCreate(&handle_));
  }
  ~CublasHandle() {
    if (handle_ != nullptr) cublasDestroy(handle_);
  }
  CublasHandle(const CublasHandle&) = delete;
  CublasHandle& operator=(const CublasHandle&) = delete;

  // Note [cuBLAS workspace and stream]
  cublasHandle_t on(cudaStream_t stream) {
    if (!stream_set_ || stream != stream_) {
      CHECK_CUBLAS(cublasSetStream(handle_, stream));
      CHECK_CUBLAS(cublasSetWorkspace(handle_, workspace_.get(), workspace_.bytes()));
      stream_ = stream;
      stream_set_ = true;
    }
    return handle_;
  }

 private:
  DeviceBuffer workspace_;
  cublasHandle_t handle_ = nullptr;
  cudaStream_t stream_ = nullptr;
  bool stream_set_ = false;
};

cublasHandle_t cublas_handle(int device, Allocator& allocator, cudaStream_t stream) {
  thread_local std::map<int, std::unique_ptr<CublasHandle>> handles;
  auto& slot = handles[device];
  if (slot == nullptr) slot = std::make_unique<CublasHandle>(device, allocator);
  return slot->on(stream);
}

}  // namespace

void gemm_f32(int device, Allocator& allocator, cudaStream_t stream, bool transpose_a,
              bool transpose_b, std::int64_t m, std::int64_t n, std::int64_t k, float alpha,
              const float* a, const float* b, float beta, float* c, bool tf32) {
  if (m == 0 || n == 0) return;
  const int rows = to_int(m, "gemm m");
  const int cols = to_int(n, "gemm n");
  const int inner = to_int(k, "gemm k");
  // Leading dimensions of the stored row-major matrices (= their column counts), at least 1.
  const int lda = std::max(1, transpose_a ? rows : inner);
  const int ldb = std::max(1, transpose_b ? inner : cols);
  cublasHandle_t handle = cublas_handle(device, allocator, stream);
  CHECK_CUBLAS(cublasGemmEx(
      handle, transpose_b ? CUBLAS_OP_T : CUBLAS_OP_N, transpose_a ? CUBLAS_OP_T : CUBLAS_OP_N,
      cols, rows, inner, &alpha, b, CUDA_R_32F, ldb, a, CUDA_R_32F, lda, &beta, c, CUDA_R_32F, cols,
      tf32 ? CUBLAS_COMPUTE_32F_FAST_TF32 : CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
}

}  // namespace kiln::cuda
