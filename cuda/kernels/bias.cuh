// Bias kernels over y viewed as (rows, k), f32:
//   add_bias       y[r, j] += bias[j]                                           (+=)
//   bias_backward  dbias[j] = sum_r dy[r, j]                                    (=)
// bias_backward is deterministic: each block sums a fixed chunk of rows in double into
// `partials` (bias_backward_workspace_bytes of device memory), then one pass adds the chunks in
// order.
#pragma once

#include <cuda_runtime_api.h>

#include <cstddef>
#include <cstdint>

namespace kiln::cuda::kernels {

void add_bias(float* y, const float* bias, std::int64_t rows, std::int64_t k, cudaStream_t stream);
std::size_t bias_backward_workspace_bytes(std::int64_t rows, std::int64_t k);
void bias_backward(const float* dy, float* dbias, std::int64_t rows, std::int64_t k, void* partials,
                   cudaStream_t stream);

}  // namespace kiln::cuda::kernels
