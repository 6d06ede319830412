// Internal helpers shared by the CPU kernel files: dtype dispatch, a bounded per-thread scratch
// buffer, raw-pointer GEMM (cpu_gemm.cpp) and the row-major geometry of a 2-D view.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include <omp.h>

#include "backend/backend.h"
#include "core/check.h"
#include "kiln/dtype.h"
#include "kiln/tensor.h"

namespace kiln::backend::cpu {

// Loops shorter than this run on one thread: starting a parallel region costs more.
inline constexpr std::int64_t kParallelThreshold = 1 << 15;

// Calls fn(T{}) with T = float or double after the dtype; other dtypes are an Error naming `op`.
template <class Fn>
void dispatch_floating(DType dtype, const char* op, Fn&& fn) {
  switch (dtype) {
    case DType::f32: fn(float{}); return;
    case DType::f64: fn(double{}); return;
    default: break;
  }
  fail("cpu {}: expected a float32 or float64 tensor, found {}", op, dtype_name(dtype));
}

// Calls fn(T{}) with T = the C++ element type of any dtype.
template <class Fn>
void dispatch_any(DType dtype, const char* op, Fn&& fn) {
  switch (dtype) {
    case DType::f32: fn(float{}); return;
    case DType::f64: fn(double{}); return;
    case DType::u8: fn(std::uint8_t{}); return;
    case DType::i32: fn(std::int32_t{}); return;
  }
  fail("cpu {}: unknown dtype {}", op, static_cast<int>(dtype));
}

// A buffer of at least `bytes` bytes owned by the calling thread and reused by later calls on
// it (it only grows). `slot` separates buffers that are live at the same time.
void* thread_scratch(std::size_t bytes, int slot);

template <class T>
T* thread_scratch_of(std::int64_t count, int slot) {
  return static_cast<T*>(thread_scratch(static_cast<std::size_t>(count) * sizeof(T), slot));
}

// C = alpha * op(A) * op(B) + beta * C on row-major matrices; op(A) is (m, k), op(B) is (k, n),
// lda / ldb / ldc are the row strides of the stored matrices.
void gemm(bool transpose_a, bool transpose_b, std::int64_t m, std::int64_t n, std::int64_t k,
          float alpha, const float* a, std::int64_t lda, const float* b, std::int64_t ldb,
          float beta, float* c, std::int64_t ldc);
void gemm(bool transpose_a, bool transpose_b, std::int64_t m, std::int64_t n, std::int64_t k,
          double alpha, const double* a, std::int64_t lda, const double* b, std::int64_t ldb,
          double beta, double* c, std::int64_t ldc);

// The BLAS actually loaded, e.g. "OpenBLAS 0.3.21 ... (OpenMP threads)": which OpenBLAS build
// the loader picked decides whether its threads share OpenMP's pool (see KilnDependencies.cmake).
std::string blas_description();

// 1 / (1 + exp(-x)), without overflow for large |x|.
template <class T>
T sigmoid(T x) {
  if (x >= T(0)) return T(1) / (T(1) + std::exp(-x));
  const T e = std::exp(x);
  return e / (T(1) + e);
}

// y[i] = f(x[i]) for i < n, one thread; x may equal y. relu passes NaN through (NaN < 0 is
// false), as PyTorch and TensorFlow do.
template <class T>
void activation_forward(Pointwise f, const T* x, T* y, std::int64_t n) {
  switch (f) {
    case Pointwise::relu:
#pragma omp simd
      for (std::int64_t i = 0; i < n; ++i) y[i] = x[i] < T(0) ? T(0) : x[i];
      return;
    case Pointwise::sigmoid:
      for (std::int64_t i = 0; i < n; ++i) y[i] = sigmoid(x[i]);
      return;
    case Pointwise::tanh:
      for (std::int64_t i = 0; i < n; ++i) y[i] = std::tanh(x[i]);
      return;
  }
}

// dx[i] = dy[i] * f'(.) expressed through the output y[i] (relu y>0, sigmoid y(1-y), tanh 1-y^2),
// one thread; dx may equal dy.
template <class T>
void activation_backward(Pointwise f, const T* y, const T* dy, T* dx, std::int64_t n) {
  switch (f) {
    case Pointwise::relu:
#pragma omp simd
      for (std::int64_t i = 0; i < n; ++i) {
        const T grad = dy[i];  // loaded unconditionally, so the select vectorises
        dx[i] = y[i] > T(0) ? grad : T(0);
      }
      return;
    case Pointwise::sigmoid:
#pragma omp simd
      for (std::int64_t i = 0; i < n; ++i) dx[i] = dy[i] * y[i] * (T(1) - y[i]);
      return;
    case Pointwise::tanh:
#pragma omp simd
      for (std::int64_t i = 0; i < n; ++i) dx[i] = dy[i] * (T(1) - y[i] * y[i]);
      return;
  }
}

// Calls fn(first, count) over [0, n) in blocks of kBlock elements, in parallel when n is large.
template <class Fn>
void for_blocks(std::int64_t n, Fn fn) {
  constexpr std::int64_t kBlock = 16384;
  const std::int64_t blocks = (n + kBlock - 1) / kBlock;
#pragma omp parallel for if (n > kParallelThreshold)
  for (std::int64_t b = 0; b < blocks; ++b) {
    const std::int64_t first = b * kBlock;
    fn(first, std::min(kBlock, n - first));
  }
}

// Adds the column sums of a (rows, cols) matrix to sums[cols], in double. visit(r, slot) adds
// row r into `slot`: each thread fills its own slot over a static block of rows, and the slots
// are added in thread order, so the result does not depend on timing.
template <class Visit>
void add_column_sums(std::int64_t rows, std::int64_t cols, double* sums, Visit visit) {
  const bool parallel = rows * cols > kParallelThreshold;
  const int threads = parallel ? omp_get_max_threads() : 1;
  std::vector<double> partial(static_cast<std::size_t>(threads * cols), 0.0);
#pragma omp parallel num_threads(threads) if (parallel)
  {
    double* slot = partial.data() + omp_get_thread_num() * cols;
#pragma omp for schedule(static)
    for (std::int64_t r = 0; r < rows; ++r) visit(r, slot);
  }
  for (int t = 0; t < threads; ++t) {
    for (std::int64_t j = 0; j < cols; ++j)
      sums[j] += partial[static_cast<std::size_t>(t * cols + j)];
  }
}

template <class T>
void add_row(const T* row, std::int64_t cols, double* sums) {
  for (std::int64_t j = 0; j < cols; ++j) sums[j] += row[j];
}

// A tensor viewed as (rows, cols) with cols its last extent (1 for a scalar).
struct RowView {
  std::int64_t rows = 0, cols = 0;
};

inline RowView row_view(const Tensor& t) {
  const std::int64_t cols = t.rank() == 0 ? 1 : t.dim(-1);
  return {cols == 0 ? 0 : t.numel() / cols, cols};
}

}  // namespace kiln::backend::cpu
