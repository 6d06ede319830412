// Elementwise kernels over flat arrays of n elements, all assigning (=) unless marked "+=":
//   fill        x[i] = value                                  (f32, u8, i32)
//   axpy        y[i] += alpha * x[i]                          (f32)
//   multiply    out[i] = a[i] * b[i]                          (f32)
//   cast        out[i] = Out(double(src[i]) * scale)          (every pair of f32, u8, i32;
//                                                              float -> int truncates toward 0)
//   copy_columns dst[r, dst_col0 + j] (= or +=) src[r, src_col0 + j], r < rows, j < cols
//   activation_forward   y = relu(x) | sigmoid(x) | tanh(x)   (f32; relu = x < 0 ? 0 : x, so
//                                                              NaN passes, as on the CPU)
//   activation_backward  dx = dy * f'(x) written with y: relu y>0, sigmoid y(1-y), tanh 1-y^2
//   dropout_mask mask[i] = uniform01(seed, i) >= rate ? 1/(1-rate) : 0   (f32; the counter RNG
//                of core/counter_rng.h, so the CPU draws the same mask)
// Every launcher queues its work on `stream` and returns at once.
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>

#include "kiln/dtype.h"

namespace kiln::cuda::kernels {

enum class Activation : unsigned char { relu, sigmoid, tanh };

void fill(void* x, DType dtype, std::int64_t n, double value, cudaStream_t stream);
void axpy(float alpha, const float* x, float* y, std::int64_t n, cudaStream_t stream);
void multiply(const float* a, const float* b, float* out, std::int64_t n, cudaStream_t stream);
void cast(const void* src, DType src_dtype, void* out, DType out_dtype, std::int64_t n,
          double scale, cudaStream_t stream);
void copy_columns(const void* src, std::int64_t src_cols, std::int64_t src_col0, void* dst,
                  std::int64_t dst_cols, std::int64_t dst_col0, std::int64_t rows,
                  std::int64_t cols, bool accumulate, DType dtype, cudaStream_t stream);
void activation_forward(Activation f, const float* x, float* y, std::int64_t n,
                        cudaStream_t stream);
void activation_backward(Activation f, const float* y, const float* dy, float* dx, std::int64_t n,
                         cudaStream_t stream);
void dropout_mask(float* mask, std::int64_t n, double rate, std::uint64_t seed,
                  cudaStream_t stream);

}  // namespace kiln::cuda::kernels
