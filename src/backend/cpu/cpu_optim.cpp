// CPU optimizer steps over every parameter tensor, updated in place:
//   Adam (Keras):  m = b1 m + (1-b1) g;  v = b2 v + (1-b2) g^2;
//                  p -= lr * sqrt(1-b2^t) / (1-b1^t) * m / (sqrt(v) + eps)
//   SGD (Keras):   velocity = momentum velocity - lr g;  p += velocity
//                  (nesterov: p += momentum velocity - lr g); without momentum (no velocity
//                  tensors, or momentum 0 and an undefined velocity) p -= lr g.
// Step-dependent factors are computed once in double, from the step counter and learning rate
// held in tensors (AdamStep); the per-element math runs in the parameter's dtype.
#include <cmath>

#include "backend/cpu/cpu_backend.h"
#include "backend/cpu/cpu_kernels.h"

namespace kiln::backend {

namespace cpu {

namespace {

template <class T>
void adam_tensor(T* p, const T* g, T* m, T* v, std::int64_t n, const AdamStep& step, double t,
                 double learning_rate) {
  const T step_size = static_cast<T>(learning_rate * std::sqrt(1.0 - std::pow(step.beta2, t)) /
                                     (1.0 - std::pow(step.beta1, t)));
  const T b1 = static_cast<T>(step.beta1), b2 = static_cast<T>(step.beta2);
  const T one_minus_b1 = static_cast<T>(1.0 - step.beta1);
  const T one_minus_b2 = static_cast<T>(1.0 - step.beta2);
  const T eps = static_cast<T>(step.epsilon);
#pragma omp parallel for simd if (n > kParallelThreshold)
  for (std::int64_t i = 0; i < n; ++i) {
    const T grad = g[i];
    const T first = b1 * m[i] + one_minus_b1 * grad;
    const T second = b2 * v[i] + one_minus_b2 * grad * grad;
    m[i] = first;
    v[i] = second;
    p[i] -= step_size * first / (std::sqrt(second) + eps);
  }
}

template <class T>
void sgd_tensor(T* p, const T* g, T* velocity, std::int64_t n, const SgdStep& step) {
  const T lr = static_cast<T>(step.learning_rate);
  const T momentum = static_cast<T>(step.momentum);
  if (velocity == nullptr) {
#pragma omp parallel for simd if (n > kParallelThreshold)
    for (std::int64_t i = 0; i < n; ++i) p[i] -= lr * g[i];
    return;
  }
#pragma omp parallel for simd if (n > kParallelThreshold)
  for (std::int64_t i = 0; i < n; ++i) {
    const T updated = momentum * velocity[i] - lr * g[i];
    velocity[i] = updated;
    p[i] += step.nesterov ? momentum * updated - lr * g[i] : updated;
  }
}

}  // namespace

}  // namespace cpu

void CpuBackend::adam_update(std::span<Tensor> params, std::span<const Tensor> grads,
                             std::span<Tensor> m, std::span<Tensor> v, const AdamStep& step) {
  KILN_CHECK(
      grads.size() == params.size() && m.size() == params.size() && v.size() == params.size(),
      "cpu adam_update: expected as many gradients and moments as parameters ({}), found "
      "{}, {}, {}",
      params.size(), grads.size(), m.size(), v.size());
  check_adam_step(step, device(), "cpu adam_update");
  Tensor counter = step.step;
  const double t = static_cast<double>(++counter.data<std::int32_t>()[0]);
  const double learning_rate = step.learning_rate.data<double>()[0];
  for (std::size_t i = 0; i < params.size(); ++i) {
    cpu::dispatch_floating(params[i].dtype(), "adam_update", [&]<class T>(T) {
      cpu::adam_tensor(params[i].data<T>(), grads[i].data<T>(), m[i].data<T>(), v[i].data<T>(),
                       params[i].numel(), step, t, learning_rate);
    });
  }
}

void CpuBackend::sgd_update(std::span<Tensor> params, std::span<const Tensor> grads,
                            std::span<Tensor> velocity, const SgdStep& step) {
  KILN_CHECK(
      grads.size() == params.size() && (velocity.empty() || velocity.size() == params.size()),
      "cpu sgd_update: expected {} gradients and 0 or {} velocities, found {} and {}",
      params.size(), params.size(), grads.size(), velocity.size());
  for (std::size_t i = 0; i < params.size(); ++i) {
    const bool has_velocity = !velocity.empty() && velocity[i].defined();
    KILN_CHECK(has_velocity || step.momentum == 0.0,
               "cpu sgd_update: momentum {} needs a velocity tensor for parameter {}",
               step.momentum, i);
    cpu::dispatch_floating(params[i].dtype(), "sgd_update", [&]<class T>(T) {
      cpu::sgd_tensor(params[i].data<T>(), grads[i].data<T>(),
                      has_velocity ? velocity[i].data<T>() : nullptr, params[i].numel(), step);
    });
  }
}

}  // namespace kiln::backend
