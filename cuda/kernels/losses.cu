// Softmax and sigmoid cross-entropy, forward and backward (see losses.cuh). The softmax kind
// follows the CPU backend step for step (max, double sums, log) so both agree to rounding.
#include <cmath>

#include "../cuda_check.h"
#include "launch.cuh"
#include "losses.cuh"
#include "warp.cuh"

namespace kiln::cuda::kernels {

namespace {

__global__ void softmax_cross_entropy_forward_kernel(const float* logits, const float* weights,
                                                     const std::int32_t* labels, float* probs,
                                                     float* loss, std::int64_t rows,
                                                     std::int64_t cols) {
  const int lane = lane_id();
  KILN_WARP_ROW_LOOP(row, rows) {
    const float* z = logits + row * cols;
    float top_f = -INFINITY;
    for (std::int64_t k = lane; k < cols; k += kWarpSize) top_f = fmaxf(top_f, z[k]);
    const double top = warp_max(top_f);
    double total = 0.0;
    for (std::int64_t k = lane; k < cols; k += kWarpSize)
      total += exp(static_cast<double>(z[k]) - top);
    const double log_total = log(warp_sum(total));
    double weighted = 0.0;
    for (std::int64_t k = lane; k < cols; k += kWarpSize) {
      const double shifted = static_cast<double>(z[k]) - top - log_total;
      probs[row * cols + k] = static_cast<float>(exp(shifted));
      if (weights != nullptr) weighted -= static_cast<double>(weights[row * cols + k]) * shifted;
    }
    weighted = warp_sum(weighted);
    if (lane == 0) {
      if (labels != nullptr) {
        const std::int32_t label = labels[row];
        const bool valid = label >= 0 && label < cols;
        loss[row] =
            valid ? static_cast<float>(top + log_total - static_cast<double>(z[label])) : 0.0f;
      } else {
        loss[row] = static_cast<float>(weighted);
      }
    }
  }
}

__global__ void softmax_cross_entropy_backward_kernel(const float* probs, const float* weights,
                                                      const std::int32_t* labels,
                                                      const float* dloss, float* dlogits,
                                                      std::int64_t rows, std::int64_t cols) {
  const int lane = lane_id();
  KILN_WARP_ROW_LOOP(row, rows) {
    const float scale = dloss[row];
    const float* p = probs + row * cols;
    float* out = dlogits + row * cols;
    if (labels != nullptr) {
      const std::int32_t label = labels[row];
      for (std::int64_t k = lane; k < cols; k += kWarpSize) {
        const float value = scale * p[k];
        out[k] = k == label ? value - scale : value;
      }
      continue;
    }
    const float* w = weights + row * cols;
    double weight_sum = 0.0;
    for (std::int64_t k = lane; k < cols; k += kWarpSize) weight_sum += w[k];
    const float mass = static_cast<float>(warp_sum(weight_sum));
    for (std::int64_t k = lane; k < cols; k += kWarpSize) out[k] = scale * (p[k] * mass - w[k]);
  }
}

__device__ __forceinline__ float sigmoid(float z) {
  if (z >= 0.0f) return 1.0f / (1.0f + expf(-z));
  const float e = expf(z);
  return e / (1.0f + e);
}

__global__ void sigmoid_cross_entropy_forward_kernel(const float* logits, const float* target,
                                                     float* loss, std::int64_t n) {
  KILN_GRID_STRIDE_LOOP(i, n) {
    const float z = logits[i];
    loss[i] = fmaxf(z, 0.0f) - z * target[i] + log1pf(expf(-fabsf(z)));
  }
}

__global__ void sigmoid_cross_entropy_backward_kernel(const float* logits, const float* target,
                                                      const float* dloss, float* dlogits,
                                                      std::int64_t n) {
  KILN_GRID_STRIDE_LOOP(i, n) { dlogits[i] = dloss[i] * (sigmoid(logits[i]) - target[i]); }
}

}  // namespace

void softmax_cross_entropy_forward(const float* logits, const float* weights,
                                   const std::int32_t* labels, float* probs, float* loss,
                                   std::int64_t rows, std::int64_t classes, cudaStream_t stream) {
  if (rows == 0 || classes == 0) return;
  softmax_cross_entropy_forward_kernel<<<blocks_for(rows, kWarpsPerBlock), kThreads, 0, stream>>>(
      logits, weights, labels, probs, loss, rows, classes);
  KILN_CUDA_LAUNCH_CHECK();
}

void softmax_cross_entropy_backward(const float* probs, const float* weights,
                                    const std::int32_t* labels, const float* dloss, float* dlogits,
                                    std::int64_t rows, std::int64_t classes, cudaStream_t stream) {
  if (rows == 0 || classes == 0) return;
  softmax_cross_entropy_backward_kernel<<<blocks_for(rows, kWarpsPerBlock), kThreads, 0, stream>>>(
      probs, weights, labels, dloss, dlogits, rows, classes);
  KILN_CUDA_LAUNCH_CHECK();
}

void sigmoid_cross_entropy_forward(const float* logits, const float* target, float* loss,
                                   std::int64_t n, cudaStream_t stream) {
  if (n == 0) return;
  sigmoid_cross_entropy_forward_kernel<<<blocks_for(n), kThreads, 0, stream>>>(logits, target, loss,
                                                                               n);
  KILN_CUDA_LAUNCH_CHECK();
}

void sigmoid_cross_entropy_backward(const float* logits, const float* target, const float* dloss,
                                    float* dlogits, std::int64_t n, cudaStream_t stream) {
  if (n == 0) return;
  sigmoid_cross_entropy_backward_kernel<<<blocks_for(n), kThreads, 0, stream>>>(logits, target,
                                                                                dloss, dlogits, n);
  KILN_CUDA_LAUNCH_CHECK();
}

}  // namespace kiln::cuda::kernels
