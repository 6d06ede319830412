// Elementwise kernels of the layers added for Keras files, f32, all assigning (=):
//   general_relu_forward   y = isnan(x) ? x : x > t ? min(x, max) : slope * (x - t)
//   general_relu_backward  dx = dy * (x > t ? (x <= max ? 1 : 0) : slope)        (from the input x)
//   smooth_activation_forward   y = f(x): elu (alpha 1), selu, softplus, softsign, gelu (erf),
//                               exponential, mish (backend::SmoothActivation)
//   smooth_activation_backward  dx = dy * f'(x)                             (from the input x)
//   maximum                out = pick_a ? a : b, pick_a = isnan(a) || a >= b
//   maximum_backward       da = pick_a ? dy : 0; db = pick_a ? 0 : dy
//   channel_affine         y[r, c] = x[r, c] * scale[c] (+ shift[c] when shift is not null),
//                          x (rows, channels) row-major; y may be x
//   inverse_sqrt           y = 1 / sqrt(x + epsilon)
// Every launcher queues its work on `stream` and returns at once.
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>

namespace kiln::cuda::kernels {

struct GeneralReluParams {
  float negative_slope = 0.0f, threshold = 0.0f, max_value = 0.0f;
};

void general_relu_forward(const GeneralReluParams& p, const float* x, float* y, std::int64_t n,
                          cudaStream_t stream);
void general_relu_backward(const GeneralReluParams& p, const float* x, const float* dy, float* dx,
                           std::int64_t n, cudaStream_t stream);
enum class Smooth : unsigned char { elu, selu, softplus, softsign, gelu, exponential, mish };

void smooth_activation_forward(Smooth f, const float* x, float* y, std::int64_t n,
                               cudaStream_t stream);
void smooth_activation_backward(Smooth f, const float* x, const float* dy, float* dx,
                                std::int64_t n, cudaStream_t stream);
void maximum(const float* a, const float* b, float* out, std::int64_t n, cudaStream_t stream);
void maximum_backward(const float* a, const float* b, const float* dy, float* da, float* db,
                      std::int64_t n, cudaStream_t stream);
void channel_affine(const float* x, const float* scale, const float* shift, float* y,
                    std::int64_t rows, std::int64_t channels, cudaStream_t stream);
void inverse_sqrt(const float* x, float epsilon, float* y, std::int64_t n, cudaStream_t stream);

}  // namespace kiln::cuda::kernels
