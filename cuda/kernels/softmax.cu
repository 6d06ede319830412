// Softmax forward and backward, one warp per row (see softmax.cuh).
#include <cmath>

#include "../cuda_check.h"
#include "launch.cuh"
#include "softmax.cuh"
#include "warp.cuh"

namespace kiln::cuda::kernels {

namespace {

__global__ void softmax_forward_kernel(const float* x, float* y, std::int64_t rows,
                                       std::int64_t cols) {
  const int lane = lane_id();
  KILN_WARP_ROW_LOOP(row, rows) {
    const float* in = x + row * cols;
    float* out = y + row * cols;
    float top = -INFINITY;
    for (std::int64_t j = lane; j < cols; j += kWarpSize) top = fmaxf(top, in[j]);
    top = warp_max(top);
    double total = 0.0;
    for (std::int64_t j = lane; j < cols; j += kWarpSize) {
      const float e = expf(in[j] - top);
      out[j] = e;
      total += e;
    }
    const double inverse = 1.0 / warp_sum(total);
    for (std::int64_t j = lane; j < cols; j += kWarpSize) {
      out[j] = static_cast<float>(out[j] * inverse);
    }
  }
}

__global__ void softmax_backward_kernel(const float* y, const float* dy, float* dx,
                                        std::int64_t rows, std::int64_t cols) {
  const int lane = lane_id();
  KILN_WARP_ROW_LOOP(row, rows) {
    const float* prob = y + row * cols;
    const float* grad = dy + row * cols;
    double dot = 0.0;
    for (std::int64_t j = lane; j < cols; j += kWarpSize) {
      dot += static_cast<double>(grad[j]) * prob[j];
    }
    const float shift = static_cast<float>(warp_sum(dot));
    for (std::int64_t j = lane; j < cols; j += kWarpSize) {
      dx[row * cols + j] = prob[j] * (grad[j] - shift);
    }
  }
}

}  // namespace

void softmax_forward(const float* x, float* y, std::int64_t rows, std::int64_t classes,
                     cudaStream_t stream) {
  if (rows == 0 || classes == 0) return;
  softmax_forward_kernel<<<blocks_for(rows, kWarpsPerBlock), kThreads, 0, stream>>>(x, y, rows,
                                                                                    classes);
  KILN_CUDA_LAUNCH_CHECK();
}

void softmax_backward(const float* y, const float* dy, float* dx, std::int64_t rows,
                      std::int64_t classes, cudaStream_t stream) {
  if (rows == 0 || classes == 0) return;
  softmax_backward_kernel<<<blocks_for(rows, kWarpsPerBlock), kThreads, 0, stream>>>(y, dy, dx,
                                                                                     rows, classes);
  KILN_CUDA_LAUNCH_CHECK();
}

}  // namespace kiln::cuda::kernels
