// Elementwise kernels of the layers added for Keras files (see layer_elementwise.cuh for the
// formulas). Grid-stride loops over flat arrays, matching the CPU's loops in
// src/backend/cpu/cpu_layer_kernels.cpp.
#include <cmath>
#include <cstdint>

#include "../cuda_check.h"
#include "launch.cuh"
#include "layer_elementwise.cuh"

namespace kiln::cuda::kernels {

namespace {

__device__ __forceinline__ bool pick_first(float a, float b) { return isnan(a) || a >= b; }

constexpr float kSeluAlpha = 1.6732632423543772848170429916717f;
constexpr float kSeluScale = 1.0507009873554804934193349852946f;
constexpr float kSqrtHalf = 0.70710678118654752440f;      // 1 / sqrt(2)
constexpr float kInvSqrtTwoPi = 0.39894228040143267794f;  // 1 / sqrt(2 pi)

// max(x, 0) + log1p(exp(-|x|)): log(1 + exp(x)) without overflow.
__device__ __forceinline__ float softplus(float x) {
  return fmaxf(x, 0.0f) + log1pf(expf(-fabsf(x)));
}

__device__ __forceinline__ float sigmoid(float x) { return 1.0f / (1.0f + expf(-x)); }

__device__ float smooth_forward(Smooth f, float x) {
  switch (f) {
    case Smooth::elu: return x > 0.0f ? x : expm1f(x);
    case Smooth::selu: return kSeluScale * (x > 0.0f ? x : kSeluAlpha * expm1f(x));
    case Smooth::softplus: return softplus(x);
    case Smooth::softsign: return x / (1.0f + fabsf(x));
    case Smooth::gelu: return 0.5f * x * (1.0f + erff(x * kSqrtHalf));
    case Smooth::exponential: return expf(x);
    case Smooth::mish: return x * tanhf(softplus(x));
  }
  return x;
}

__device__ float smooth_derivative(Smooth f, float x) {
  switch (f) {
    case Smooth::elu: return x > 0.0f ? 1.0f : expf(x);
    case Smooth::selu: return kSeluScale * (x > 0.0f ? 1.0f : kSeluAlpha * expf(x));
    case Smooth::softplus: return sigmoid(x);
    case Smooth::softsign: {
      const float d = 1.0f + fabsf(x);
      return 1.0f / (d * d);
    }
    case Smooth::gelu:
      return 0.5f * (1.0f + erff(x * kSqrtHalf)) + x * expf(-0.5f * x * x) * kInvSqrtTwoPi;
    case Smooth::exponential: return expf(x);
    case Smooth::mish: {
      const float t = tanhf(softplus(x));
      return t + x * sigmoid(x) * (1.0f - t * t);
    }
  }
  return 0.0f;
}

__global__ void smooth_activation_forward_kernel(Smooth f, const float* x, float* y,
                                                 std::int64_t n) {
  KILN_GRID_STRIDE_LOOP(i, n) { y[i] = smooth_forward(f, x[i]); }
}

__global__ void smooth_activation_backward_kernel(Smooth f, const float* x, const float* dy,
                                                  float* dx, std::int64_t n) {
  KILN_GRID_STRIDE_LOOP(i, n) { dx[i] = dy[i] * smooth_derivative(f, x[i]); }
}

__global__ void general_relu_forward_kernel(GeneralReluParams p, const float* x, float* y,
                                            std::int64_t n) {
  KILN_GRID_STRIDE_LOOP(i, n) {
    const float v = x[i];
    if (isnan(v)) {
      y[i] = v;
    } else {
      y[i] = v > p.threshold ? fminf(v, p.max_value) : p.negative_slope * (v - p.threshold);
    }
  }
}

__global__ void general_relu_backward_kernel(GeneralReluParams p, const float* x, const float* dy,
                                             float* dx, std::int64_t n) {
  KILN_GRID_STRIDE_LOOP(i, n) {
    const float v = x[i];
    const float factor = v > p.threshold ? (v <= p.max_value ? 1.0f : 0.0f) : p.negative_slope;
    dx[i] = dy[i] * factor;
  }
}

__global__ void maximum_kernel(const float* a, const float* b, float* out, std::int64_t n) {
  KILN_GRID_STRIDE_LOOP(i, n) { out[i] = pick_first(a[i], b[i]) ? a[i] : b[i]; }
}

__global__ void maximum_backward_kernel(const float* a, const float* b, const float* dy, float* da,
                                        float* db, std::int64_t n) {
  KILN_GRID_STRIDE_LOOP(i, n) {
    const bool first = pick_first(a[i], b[i]);
    da[i] = first ? dy[i] : 0.0f;
    db[i] = first ? 0.0f : dy[i];
  }
}

__global__ void channel_affine_kernel(const float* x, const float* scale, const float* shift,
                                      float* y, std::int64_t rows, std::int64_t channels) {
  KILN_GRID_STRIDE_LOOP(i, rows * channels) {
    const std::int64_t c = i % channels;
    const float product = x[i] * scale[c];
    y[i] = shift != nullptr ? product + shift[c] : product;
  }
}

__global__ void inverse_sqrt_kernel(const float* x, float epsilon, float* y, std::int64_t n) {
  KILN_GRID_STRIDE_LOOP(i, n) { y[i] = 1.0f / sqrtf(x[i] + epsilon); }
}

}  // namespace

void general_relu_forward(const GeneralReluParams& p, const float* x, float* y, std::int64_t n,
                          cudaStream_t stream) {
  if (n == 0) return;
  general_relu_forward_kernel<<<blocks_for(n), kThreads, 0, stream>>>(p, x, y, n);
  KILN_CUDA_LAUNCH_CHECK();
}

void general_relu_backward(const GeneralReluParams& p, const float* x, const float* dy, float* dx,
                           std::int64_t n, cudaStream_t stream) {
  if (n == 0) return;
  general_relu_backward_kernel<<<blocks_for(n), kThreads, 0, stream>>>(p, x, dy, dx, n);
  KILN_CUDA_LAUNCH_CHECK();
}

void smooth_activation_forward(Smooth f, const float* x, float* y, std::int64_t n,
                               cudaStream_t stream) {
  if (n == 0) return;
  smooth_activation_forward_kernel<<<blocks_for(n), kThreads, 0, stream>>>(f, x, y, n);
  KILN_CUDA_LAUNCH_CHECK();
}

void smooth_activation_backward(Smooth f, const float* x, const float* dy, float* dx,
                                std::int64_t n, cudaStream_t stream) {
  if (n == 0) return;
  smooth_activation_backward_kernel<<<blocks_for(n), kThreads, 0, stream>>>(f, x, dy, dx, n);
  KILN_CUDA_LAUNCH_CHECK();
}

void maximum(const float* a, const float* b, float* out, std::int64_t n, cudaStream_t stream) {
  if (n == 0) return;
  maximum_kernel<<<blocks_for(n), kThreads, 0, stream>>>(a, b, out, n);
  KILN_CUDA_LAUNCH_CHECK();
}

void maximum_backward(const float* a, const float* b, const float* dy, float* da, float* db,
                      std::int64_t n, cudaStream_t stream) {
  if (n == 0) return;
  maximum_backward_kernel<<<blocks_for(n), kThreads, 0, stream>>>(a, b, dy, da, db, n);
  KILN_CUDA_LAUNCH_CHECK();
}

void channel_affine(const float* x, const float* scale, const float* shift, float* y,
                    std::int64_t rows, std::int64_t channels, cudaStream_t stream) {
  if (rows * channels == 0) return;
  channel_affine_kernel<<<blocks_for(rows * channels), kThreads, 0, stream>>>(x, scale, shift, y,
                                                                              rows, channels);
  KILN_CUDA_LAUNCH_CHECK();
}

void inverse_sqrt(const float* x, float epsilon, float* y, std::int64_t n, cudaStream_t stream) {
  if (n == 0) return;
  inverse_sqrt_kernel<<<blocks_for(n), kThreads, 0, stream>>>(x, epsilon, y, n);
  KILN_CUDA_LAUNCH_CHECK();
}

}  // namespace kiln::cuda::kernels
