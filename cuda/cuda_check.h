// Checks for every CUDA runtime, cuDNN and cuBLAS call and every kernel launch. A failure throws
// kiln::Error whose message names the call, the file and line, and the library's own words:
//   CHECK_CUDA(cudaMalloc(&p, n));           CHECK_CUDNN(cudnnCreate(&h));
//   CHECK_CUBLAS(cublasCreate(&h));          kernel<<<g, b, 0, s>>>(...); KILN_CUDA_LAUNCH_CHECK();
// Library code never exits or aborts (STYLE.md). Includable from .cu and .cpp files alike.
//
// KILN_CUDA_SYNC=1 (read once) makes every kernel launch and every cuDNN / cuBLAS call wait for
// the device and check, so an illegal address is reported at the launch or call that caused it,
// not at a later copy. Slow; for debugging and the GPU check only.
#pragma once

#include <cublas_v2.h>
#include <cuda_runtime_api.h>
#include <cudnn.h>

namespace kiln::cuda {

[[noreturn]] void throw_cuda_error(cudaError_t status, const char* call, const char* file,
                                   int line);
[[noreturn]] void throw_cudnn_error(cudnnStatus_t status, const char* call, const char* file,
                                    int line);
[[noreturn]] void throw_cublas_error(cublasStatus_t status, const char* call, const char* file,
                                     int line);

// Whether KILN_CUDA_SYNC asks for a synchronising check after every launch and library call.
bool sync_checks_enabled();
// With KILN_CUDA_SYNC: waits for the device and throws, naming `call`, if its work failed.
void sync_check(const char* call, const char* file, int line);
// While this thread captures a graph (cuda_graphs.cpp) the sync checks pause: a capture refuses
// synchronisation. The captured work is checked at each replay instead (the launch is a call).
class SyncChecksPaused {
 public:
  SyncChecksPaused();
  ~SyncChecksPaused();
  SyncChecksPaused(const SyncChecksPaused&) = delete;
  SyncChecksPaused& operator=(const SyncChecksPaused&) = delete;
};

// After a launch: a bad configuration shows up in cudaGetLastError (errors inside the kernel
// surface at the next synchronising call, which is checked too).
inline void check_launch(const char* file, int line) {
  const cudaError_t status = cudaGetLastError();
  if (status != cudaSuccess) throw_cuda_error(status, "kernel launch", file, line);
  if (sync_checks_enabled()) sync_check("kernel launch", file, line);
}

}  // namespace kiln::cuda

#define CHECK_CUDA(call)                                                            \
  do {                                                                              \
    const cudaError_t kiln_cuda_status_ = (call);                                   \
    if (kiln_cuda_status_ != cudaSuccess) {                                         \
      ::kiln::cuda::throw_cuda_error(kiln_cuda_status_, #call, __FILE__, __LINE__); \
    }                                                                               \
  } while (false)

#define CHECK_CUDNN(call)                                                             \
  do {                                                                                \
    const cudnnStatus_t kiln_cudnn_status_ = (call);                                  \
    if (kiln_cudnn_status_ != CUDNN_STATUS_SUCCESS) {                                 \
      ::kiln::cuda::throw_cudnn_error(kiln_cudnn_status_, #call, __FILE__, __LINE__); \
    }                                                                                 \
    if (::kiln::cuda::sync_checks_enabled()) {                                        \
      ::kiln::cuda::sync_check(#call, __FILE__, __LINE__);                            \
    }                                                                                 \
  } while (false)

#define CHECK_CUBLAS(call)                                                              \
  do {                                                                                  \
    const cublasStatus_t kiln_cublas_status_ = (call);                                  \
    if (kiln_cublas_status_ != CUBLAS_STATUS_SUCCESS) {                                 \
      ::kiln::cuda::throw_cublas_error(kiln_cublas_status_, #call, __FILE__, __LINE__); \
    }                                                                                   \
    if (::kiln::cuda::sync_checks_enabled()) {                                          \
      ::kiln::cuda::sync_check(#call, __FILE__, __LINE__);                              \
    }                                                                                   \
  } while (false)

#define KILN_CUDA_LAUNCH_CHECK() ::kiln::cuda::check_launch(__FILE__, __LINE__)
