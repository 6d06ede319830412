// Row-major f32 GEMM through cuBLAS: c (m, n) = alpha op(a) op(b) + beta c, where op transposes
// when asked; a is stored (m, k) or, transposed, (k, m); b (k, n) or (n, k). cuBLAS is
// column-major, so kiln computes c^T = op(b)^T op(a)^T, which is the same memory. TF32 tensor-core
// math when `tf32` (CUBLAS_COMPUTE_32F_FAST_TF32), strict f32 otherwise (CUBLAS_COMPUTE_32F).
// One cuBLAS handle per (device, thread), bound to `stream`, with a workspace taken once from
// `allocator` (Note [cuBLAS workspace and stream] in the .cpp).
#pragma once

#include <cuda_runtime_api.h>

#include <cstddef>
#include <cstdint>

#include "kiln/allocator.h"

namespace kiln::cuda {

// The workspace a cuBLAS / cuBLASLt handle on GPU `device` gets: 32 MiB on compute capability
// 9.x, 4 MiB before, as the cuBLAS documentation recommends.
std::size_t cublas_workspace_bytes(int device);

void gemm_f32(int device, Allocator& allocator, cudaStream_t stream, bool transpose_a,
              bool transpose_b, std::int64_t m, std::int64_t n, std::int64_t k, float alpha,
              const float* a, const float* b, float beta, float* c, bool tf32);

}  // namespace kiln::cuda
