// Elementwise kernels (see elementwise.cuh for the list and formulas). Grid-stride loops over
// flat arrays; integer conversions truncate toward zero and saturate, NaN becoming 0, exactly as
// the CPU backend's convert() does.
#include <cmath>
#include <cstdint>
#include <type_traits>

#include "../cuda_check.h"
#include "core/counter_rng.h"
#include "elementwise.cuh"
#include "launch.cuh"

namespace kiln::cuda::kernels {

namespace {

// The range of the integer element types, usable on host and device.
template <class T>
struct IntRange;
template <>
struct IntRange<std::uint8_t> {
  static constexpr double low = 0.0, high = 255.0;
};
template <>
struct IntRange<std::int32_t> {
  static constexpr double low = -2147483648.0, high = 2147483647.0;
};

template <class T>
__host__ __device__ __forceinline__ T convert_from_double(double value) {
  if constexpr (std::is_floating_point_v<T>) {
    return static_cast<T>(value);
  } else {
    if (isnan(value)) return T(0);
    return static_cast<T>(fmin(fmax(trunc(value), IntRange<T>::low), IntRange<T>::high));
  }
}

template <class T>
__global__ void fill_kernel(T* x, std::int64_t n, T value) {
  KILN_GRID_STRIDE_LOOP(i, n) { x[i] = value; }
}

__global__ void axpy_kernel(float alpha, const float* x, float* y, std::int64_t n) {
  KILN_GRID_STRIDE_LOOP(i, n) { y[i] += alpha * x[i]; }
}

__global__ void multiply_kernel(const float* a, const float* b, float* out, std::int64_t n) {
  KILN_GRID_STRIDE_LOOP(i, n) { out[i] = a[i] * b[i]; }
}

template <class In, class Out>
__global__ void cast_kernel(const In* src, Out* out, std::int64_t n, double scale) {
  KILN_GRID_STRIDE_LOOP(i, n) {
    out[i] = convert_from_double<Out>(static_cast<double>(src[i]) * scale);
  }
}

template <class T>
__global__ void copy_columns_kernel(const T* src, std::int64_t src_cols, T* dst,
                                    std::int64_t dst_cols, std::int64_t rows, std::int64_t cols,
                                    bool accumulate) {
  KILN_GRID_STRIDE_LOOP(i, rows * cols) {
    const std::int64_t r = i / cols;
    const std::int64_t j = i - r * cols;
    const T value = src[r * src_cols + j];
    T& target = dst[r * dst_cols + j];
    target = accumulate ? static_cast<T>(target + value) : value;
  }
}

__device__ __forceinline__ float sigmoid(float x) {
  if (x >= 0.0f) return 1.0f / (1.0f + expf(-x));
  const float e = expf(x);
  return e / (1.0f + e);
}

__global__ void activation_forward_kernel(Activation f, const float* x, float* y, std::int64_t n) {
  KILN_GRID_STRIDE_LOOP(i, n) {
    const float v = x[i];
    switch (f) {
      // The CPU's relu exactly: NaN and -0 pass through (backend.h).
      case Activation::relu: y[i] = v < 0.0f ? 0.0f : v; break;
      case Activation::sigmoid: y[i] = sigmoid(v); break;
      case Activation::tanh: y[i] = tanhf(v); break;
    }
  }
}

__global__ void activation_backward_kernel(Activation f, const float* y, const float* dy, float* dx,
                                           std::int64_t n) {
  KILN_GRID_STRIDE_LOOP(i, n) {
    const float out = y[i];
    switch (f) {
      case Activation::relu: dx[i] = out > 0.0f ? dy[i] : 0.0f; break;
      case Activation::sigmoid: dx[i] = dy[i] * out * (1.0f - out); break;
      case Activation::tanh: dx[i] = dy[i] * (1.0f - out * out); break;
    }
  }
}

__global__ void dropout_mask_kernel(float* mask, std::int64_t n, double rate, float kept,
                                    std::uint64_t seed) {
  KILN_GRID_STRIDE_LOOP(i, n) {
    mask[i] = rng::uniform01(seed, static_cast<std::uint64_t>(i)) >= rate ? kept : 0.0f;
  }
}

// Calls fn(T{}) with T the C++ type of dtype (f32, u8 or i32; the backend rejects f64 earlier).
template <class Fn>
void dispatch(DType dtype, Fn&& fn) {
  switch (dtype) {
    case DType::f32: fn(float{}); return;
    case DType::u8: fn(std::uint8_t{}); return;
    case DType::i32: fn(std::int32_t{}); return;
    case DType::f64: fn(double{}); return;
  }
}

}  // namespace

void fill(void* x, DType dtype, std::int64_t n, double value, cudaStream_t stream) {
  if (n == 0) return;
  dispatch(dtype, [&](auto tag) {
    using T = decltype(tag);
    const T converted = convert_from_double<T>(value);
    fill_kernel<<<blocks_for(n), kThreads, 0, stream>>>(static_cast<T*>(x), n, converted);
    KILN_CUDA_LAUNCH_CHECK();
  });
}

void axpy(float alpha, const float* x, float* y, std::int64_t n, cudaStream_t stream) {
  if (n == 0) return;
  axpy_kernel<<<blocks_for(n), kThreads, 0, stream>>>(alpha, x, y, n);
  KILN_CUDA_LAUNCH_CHECK();
}

void multiply(const float* a, const float* b, float* out, std::int64_t n, cudaStream_t stream) {
  if (n == 0) return;
  multiply_kernel<<<blocks_for(n), kThreads, 0, stream>>>(a, b, out, n);
  KILN_CUDA_LAUNCH_CHECK();
}

void cast(const void* src, DType src_dtype, void* out, DType out_dtype, std::int64_t n,
          double scale, cudaStream_t stream) {
  if (n == 0) return;
  dispatch(src_dtype, [&](auto in_tag) {
    using In = decltype(in_tag);
    dispatch(out_dtype, [&](auto out_tag) {
      using Out = decltype(out_tag);
      cast_kernel<In, Out><<<blocks_for(n), kThreads, 0, stream>>>(
          static_cast<const In*>(src), static_cast<Out*>(out), n, scale);
      KILN_CUDA_LAUNCH_CHECK();
    });
  });
}

void copy_columns(const void* src, std::int64_t src_cols, std::int64_t src_col0, void* dst,
                  std::int64_t dst_cols, std::int64_t dst_col0, std::int64_t rows,
                  std::int64_t cols, bool accumulate, DType dtype, cudaStream_t stream) {
  if (rows == 0 || cols == 0) return;
  dispatch(dtype, [&](auto tag) {
    using T = decltype(tag);
    copy_columns_kernel<T><<<blocks_for(rows * cols), kThreads, 0, stream>>>(
        static_cast<const T*>(src) + src_col0, src_cols, static_cast<T*>(dst) + dst_col0, dst_cols,
        rows, cols, accumulate);
    KILN_CUDA_LAUNCH_CHECK();
  });
}

void activation_forward(Activation f, const float* x, float* y, std::int64_t n,
                        cudaStream_t stream) {
  if (n == 0) return;
  activation_forward_kernel<<<blocks_for(n), kThreads, 0, stream>>>(f, x, y, n);
  KILN_CUDA_LAUNCH_CHECK();
}

void activation_backward(Activation f, const float* y, const float* dy, float* dx, std::int64_t n,
                         cudaStream_t stream) {
  if (n == 0) return;
  activation_backward_kernel<<<blocks_for(n), kThreads, 0, stream>>>(f, y, dy, dx, n);
  KILN_CUDA_LAUNCH_CHECK();
}

void dropout_mask(float* mask, std::int64_t n, double rate, std::uint64_t seed,
                  cudaStream_t stream) {
  if (n == 0) return;
  const float kept = static_cast<float>(rate < 1.0 ? 1.0 / (1.0 - rate) : 0.0);
  dropout_mask_kernel<<<blocks_for(n), kThreads, 0, stream>>>(mask, n, rate, kept, seed);
  KILN_CUDA_LAUNCH_CHECK();
}

}  // namespace kiln::cuda::kernels
