// Internal helpers shared by the CPU kernel files: dtype dispatch, a bounded per-thread scratch
// buffer, raw-pointer GEMM (cpu_gemm.cpp) and the row-major geometry of a 2-D view.
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>

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
    case DType::f32:
      fn(float{});
      return;
    case DType::f64:
      fn(double{});
      return;
    default:
      break;
  }
  fail("cpu {}: expected a float32 or float64 tensor, found {}", op, dtype_name(dtype));
}

// Calls fn(T{}) with T = the C++ element type of any dtype.
template <class Fn>
void dispatch_any(DType dtype, const char* op, Fn&& fn) {
  switch (dtype) {
    case DType::f32:
      fn(float{});
      return;
    case DType::f64:
      fn(double{});
      return;
    case DType::u8:
      fn(std::uint8_t{});
      return;
    case DType::i32:
      fn(std::int32_t{});
      return;
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

// 1 / (1 + exp(-x)), without overflow for large |x|.
template <class T>
T sigmoid(T x) {
  if (x >= T(0)) return T(1) / (T(1) + std::exp(-x));
  const T e = std::exp(x);
  return e / (T(1) + e);
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
