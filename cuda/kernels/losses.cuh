// Fused loss kernels, per sample (the ops take the mean), f32, all outputs assigned (=).
//   softmax_cross_entropy_forward   logits z (rows, classes); target either one-hot weights t
//       (rows, classes) or i32 labels (rows) — exactly one of `weights` / `labels` is non-null.
//       probs = softmax(z); loss[r] = logsumexp(z_r) - sum_k t[r,k] z[r,k] (times sum_k t for
//       weights), computed from the logits in double. One warp per row.
//   softmax_cross_entropy_backward  dlogits[r, k] = dloss[r] * (probs[r, k] * sum_k t - t[r, k])
//       (sum_k t = 1 for labels). A label outside [0, classes) counts as no target.
//   sigmoid_cross_entropy_forward   loss = max(z, 0) - z t + log(1 + exp(-|z|))   (elementwise)
//   sigmoid_cross_entropy_backward  dlogits = dloss * (sigmoid(z) - t)            (elementwise)
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>

namespace kiln::cuda::kernels {

void softmax_cross_entropy_forward(const float* logits, const float* weights,
                                   const std::int32_t* labels, float* probs, float* loss,
                                   std::int64_t rows, std::int64_t classes, cudaStream_t stream);
void softmax_cross_entropy_backward(const float* probs, const float* weights,
                                    const std::int32_t* labels, const float* dloss, float* dlogits,
                                    std::int64_t rows, std::int64_t classes, cudaStream_t stream);
void sigmoid_cross_entropy_forward(const float* logits, const float* target, float* loss,
                                   std::int64_t n, cudaStream_t stream);
void sigmoid_cross_entropy_backward(const float* logits, const float* target, const float* dloss,
                                    float* dlogits, std::int64_t n, cudaStream_t stream);

}  // namespace kiln::cuda::kernels
