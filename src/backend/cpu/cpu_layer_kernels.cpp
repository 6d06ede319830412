// CPU kernels of the layers added for Keras files (backend.h, "the layer kernels"): the general
// ReLU, elementwise maximum, the per-channel affine map and 1/sqrt(x + eps). f32 and f64.
#include <cmath>

#include "backend/cpu/cpu_backend.h"
#include "backend/cpu/cpu_kernels.h"

namespace kiln::backend {

namespace {

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
