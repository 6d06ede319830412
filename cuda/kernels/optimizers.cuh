// Multi-tensor optimizer steps, f32, updating every parameter in place with one kernel launch per
// kMaxTensorsPerLaunch tensors (their pointers travel in the kernel's arguments, so a step needs
// no host-to-device copy and can be captured in a CUDA graph):
//   adam_update  t += 1 (one thread, before the update); m = b1 m + (1-b1) g;
//                v = b2 v + (1-b2) g^2;  p -= step_size m / (sqrt(v) + eps) with
//                step_size = lr sqrt(1-b2^t) / (1-b1^t) (Keras form), computed in double by each
//                block from t and lr in device memory, so a replayed CUDA graph advances t
//   sgd_update   velocity = momentum velocity - lr g;  p += velocity  (nesterov:
//                p += momentum velocity - lr g); a null velocity means p -= lr g
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>

namespace kiln::cuda::kernels {

constexpr int kMaxTensorsPerLaunch = 32;

struct AdamScalars {
  double beta1 = 0, beta2 = 0;  // for the bias correction
  float b1 = 0, b2 = 0, one_minus_beta1 = 0, one_minus_beta2 = 0, epsilon = 0;
  std::int32_t* step = nullptr;           // t, device memory
  const double* learning_rate = nullptr;  // lr, device memory
};

struct SgdScalars {
  float learning_rate = 0, momentum = 0;
  bool nesterov = false;
};

// Arrays of `count` entries each.
void adam_update(int count, float* const* params, const float* const* grads, float* const* m,
                 float* const* v, const std::int64_t* sizes, const AdamScalars& scalars,
                 cudaStream_t stream);
void sgd_update(int count, float* const* params, const float* const* grads, float* const* velocity,
                const std::int64_t* sizes, const SgdScalars& scalars, cudaStream_t stream);

}  // namespace kiln::cuda::kernels
