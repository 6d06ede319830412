// CPU kernels of the layers added for Keras files (backend.h, "the layer kernels"): the general
// ReLU, the smooth activations, elementwise maximum, the per-channel affine map and
// 1/sqrt(x + eps). f32 and f64.
#include <algorithm>
#include <cmath>

#include "backend/cpu/cpu_backend.h"
#include "backend/cpu/cpu_kernels.h"

namespace kiln::backend {

namespace {

constexpr double kSeluAlpha = 1.6732632423543772848170429916717;
constexpr double kSeluScale = 1.0507009873554804934193349852946;

// softplus(x) = log(1 + exp(x)), as max(x, 0) + log1p(exp(-|x|)) so exp never overflows.
template <class T>
T softplus(T x) {
  return std::max(x, T(0)) + std::log1p(std::exp(-std::abs(x)));
}

template <class T>
T sigmoid(T x) {
  return T(1) / (T(1) + std::exp(-x));
}

template <class T>
T smooth_forward(SmoothActivation f, T x) {
  switch (f) {
    case SmoothActivation::elu: return x > T(0) ? x : std::expm1(x);
    case SmoothActivation::selu:
      return T(kSeluScale) * (x > T(0) ? x : T(kSeluAlpha) * std::expm1(x));
    case SmoothActivation::softplus: return softplus(x);
    case SmoothActivation::softsign: return x / (T(1) + std::abs(x));
    case SmoothActivation::gelu: return T(0.5) * x * (T(1) + std::erf(x * T(M_SQRT1_2)));
    case SmoothActivation::exponential: return std::exp(x);
    case SmoothActivation::mish: return x * std::tanh(softplus(x));
  }
  return x;
}

// f'(x).
template <class T>
T smooth_derivative(SmoothActivation f, T x) {
  switch (f) {
    case SmoothActivation::elu: return x > T(0) ? T(1) : std::exp(x);
    case SmoothActivation::selu:
      return T(kSeluScale) * (x > T(0) ? T(1) : T(kSeluAlpha) * std::exp(x));
    case SmoothActivation::softplus: return sigmoid(x);
    case SmoothActivation::softsign: {
      const T d = T(1) + std::abs(x);
      return T(1) / (d * d);
    }
    case SmoothActivation::gelu:
      return T(0.5) * (T(1) + std::erf(x * T(M_SQRT1_2))) +
             x * std::exp(T(-0.5) * x * x) * T(0.5 * M_2_SQRTPI * M_SQRT1_2);
    case SmoothActivation::exponential: return std::exp(x);
    case SmoothActivation::mish: {
      const T t = std::tanh(softplus(x));
      return t + x * sigmoid(x) * (T(1) - t * t);
    }
  }
  return T(0);
}

template <class T>
bool pick_first(T a, T b) {
  return std::isnan(a) || a >= b;
}

}  // namespace

void CpuBackend::general_relu_forward(const GeneralRelu& f, const Tensor& x, Tensor& y) {
  const std::int64_t n = y.numel();
  cpu::dispatch_floating(y.dtype(), "general_relu_forward", [&]<class T>(T) {
    const T slope = static_cast<T>(f.negative_slope);
    const T threshold = static_cast<T>(f.threshold);
    const T max_value = static_cast<T>(f.max_value);
    const T* in = x.data<T>();
    T* out = y.data<T>();
#pragma omp parallel for if (n > cpu::kParallelThreshold)
    for (std::int64_t i = 0; i < n; ++i) {
      const T v = in[i];
      if (std::isnan(v)) {
        out[i] = v;
      } else {
        out[i] = v > threshold ? std::min(v, max_value) : slope * (v - threshold);
      }
    }
  });
}

void CpuBackend::general_relu_backward(const GeneralRelu& f, const Tensor& x, const Tensor& dy,
                                       Tensor& dx) {
  const std::int64_t n = dx.numel();
  cpu::dispatch_floating(dx.dtype(), "general_relu_backward", [&]<class T>(T) {
    const T slope = static_cast<T>(f.negative_slope);
    const T threshold = static_cast<T>(f.threshold);
    const T max_value = static_cast<T>(f.max_value);
    const T* in = x.data<T>();
    const T* grad = dy.data<T>();
    T* out = dx.data<T>();
#pragma omp parallel for if (n > cpu::kParallelThreshold)
    for (std::int64_t i = 0; i < n; ++i) {
      const T v = in[i];
      const T factor = v > threshold ? (v <= max_value ? T(1) : T(0)) : slope;
      out[i] = grad[i] * factor;
    }
  });
}

void CpuBackend::smooth_activation_forward(SmoothActivation f, const Tensor& x, Tensor& y) {
  const std::int64_t n = y.numel();
  cpu::dispatch_floating(y.dtype(), "smooth_activation_forward", [&]<class T>(T) {
    const T* in = x.data<T>();
    T* out = y.data<T>();
#pragma omp parallel for if (n > cpu::kParallelThreshold)
    for (std::int64_t i = 0; i < n; ++i) out[i] = smooth_forward(f, in[i]);
  });
}

void CpuBackend::smooth_activation_backward(SmoothActivation f, const Tensor& x, const Tensor& dy,
                                            Tensor& dx) {
  const std::int64_t n = dx.numel();
  cpu::dispatch_floating(dx.dtype(), "smooth_activation_backward", [&]<class T>(T) {
    const T* in = x.data<T>();
    const T* grad = dy.data<T>();
    T* out = dx.data<T>();
#pragma omp parallel for if (n > cpu::kParallelThreshold)
    for (std::int64_t i = 0; i < n; ++i) out[i] = grad[i] * smooth_derivative(f, in[i]);
  });
}

void CpuBackend::maximum(const Tensor& a, const Tensor& b, Tensor& out) {
  const std::int64_t n = out.numel();
  cpu::dispatch_floating(out.dtype(), "maximum", [&]<class T>(T) {
    const T* left = a.data<T>();
    const T* right = b.data<T>();
    T* result = out.data<T>();
#pragma omp parallel for if (n > cpu::kParallelThreshold)
    for (std::int64_t i = 0; i < n; ++i) {
      result[i] = pick_first(left[i], right[i]) ? left[i] : right[i];
    }
  });
}

void CpuBackend::maximum_backward(const Tensor& a, const Tensor& b, const Tensor& dy, Tensor& da,
                                  Tensor& db) {
  const std::int64_t n = dy.numel();
  cpu::dispatch_floating(dy.dtype(), "maximum_backward", [&]<class T>(T) {
    const T* left = a.data<T>();
    const T* right = b.data<T>();
    const T* grad = dy.data<T>();
    T* grad_a = da.data<T>();
    T* grad_b = db.data<T>();
#pragma omp parallel for if (n > cpu::kParallelThreshold)
    for (std::int64_t i = 0; i < n; ++i) {
      const bool first = pick_first(left[i], right[i]);
      grad_a[i] = first ? grad[i] : T(0);
      grad_b[i] = first ? T(0) : grad[i];
    }
  });
}

void CpuBackend::channel_affine(const Tensor& x, const Tensor& scale, const Tensor& shift,
                                Tensor& y) {
  const std::int64_t channels = scale.numel();
  const std::int64_t rows = channels == 0 ? 0 : y.numel() / channels;
  cpu::dispatch_floating(y.dtype(), "channel_affine", [&]<class T>(T) {
    const T* in = x.data<T>();
    const T* s = scale.data<T>();
    const T* b = shift.defined() ? shift.data<T>() : nullptr;
    T* out = y.data<T>();
#pragma omp parallel for if (rows * channels > cpu::kParallelThreshold)
    for (std::int64_t r = 0; r < rows; ++r) {
      const T* row_in = in + r * channels;
      T* row_out = out + r * channels;
      for (std::int64_t c = 0; c < channels; ++c) {
        const T product = row_in[c] * s[c];
        row_out[c] = b != nullptr ? product + b[c] : product;
      }
    }
  });
}

void CpuBackend::inverse_sqrt(const Tensor& x, double epsilon, Tensor& y) {
  const std::int64_t n = y.numel();
  cpu::dispatch_floating(y.dtype(), "inverse_sqrt", [&]<class T>(T) {
    const T eps = static_cast<T>(epsilon);
    const T* in = x.data<T>();
    T* out = y.data<T>();
    for (std::int64_t i = 0; i < n; ++i) out[i] = T(1) / std::sqrt(in[i] + eps);
  });
}

}  // namespace kiln::backend
