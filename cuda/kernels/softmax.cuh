// Softmax over the last axis of a (rows, classes) matrix, one warp per row (f32):
//   softmax_forward   y[r, k] = exp(x[r, k] - max_r) / sum_j exp(x[r, j] - max_r)      (=)
//   softmax_backward  dx[r, k] = y[r, k] * (dy[r, k] - sum_j dy[r, j] y[r, j])        (=)
// Row sums accumulate in double, as on the CPU.
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>

namespace kiln::cuda::kernels {

void softmax_forward(const float* x, float* y, std::int64_t rows, std::int64_t classes,
                     cudaStream_t stream);
void softmax_backward(const float* y, const float* dy, float* dx, std::int64_t rows,
                      std::int64_t classes, cudaStream_t stream);

}  // namespace kiln::cuda::kernels
