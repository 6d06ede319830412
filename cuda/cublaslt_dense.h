// A Dense layer's GEMMs through cuBLASLt, with the bias, the ReLU and the bias gradient computed
// in the GEMM's epilogue instead of by separate kernels. Row-major f32 as kiln stores them:
//   x (n, in), kernel (in, out), bias (out), y and dz (n, out).
//   dense_forward_lt:         y = f(x kernel + bias)   f ReLU or none, bias optional (=)
//   dense_kernel_gradient_lt: dkernel = x^T dz (=), and dbias[k] = sum over rows of dz[., k] (=)
//                             in the same call when dbias is non-null
// cuBLASLt is column-major, so kiln computes y^T (out x n) = kernel^T (out x in) x^T (in x n),
// the same memory (Note [Dense through cuBLASLt] in the .cpp). TF32 tensor-core math when `tf32`.
// Each returns false, having queued nothing, when cuBLASLt offers no algorithm for the problem
// (or a size is 0): the caller then composes the plain GEMM and the epilogue kernels.
// Queues work on `stream` only: no host wait, no allocation after the first call of a thread on
// a device (which takes the handle's workspace from `allocator`), so it can be captured.
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>

#include "kiln/allocator.h"

namespace kiln::cuda {

// Where and how the GEMM runs.
struct LtTarget {
  int device = 0;
  Allocator* allocator = nullptr;  // the workspace's pool (used once per thread and device)
  cudaStream_t stream = nullptr;
  bool tf32 = false;
};

bool dense_forward_lt(const LtTarget& target, std::int64_t n, std::int64_t in, std::int64_t out,
                      const float* x, const float* kernel, const float* bias, bool relu, float* y);

bool dense_kernel_gradient_lt(const LtTarget& target, std::int64_t n, std::int64_t in,
                              std::int64_t out, const float* x, const float* dz, float* dkernel,
                              float* dbias);

}  // namespace kiln::cuda
