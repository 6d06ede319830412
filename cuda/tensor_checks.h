// Dtype guards of the CUDA backend: its floating kernels are f32 only, and a float64 tensor gets
// a message that says so instead of a wrong answer.
#pragma once

#include "core/check.h"
#include "kiln/tensor.h"

namespace kiln::cuda {

inline void reject_f64(const Tensor& t, const char* op) {
  KILN_CHECK(t.dtype() != DType::f64,
             "{} on {}: the CUDA backend has no float64 kernels; found a float64 tensor of shape "
             "{} (run float64 work on the CPU)",
             op, t.device().str(), shape_str(t.shape()));
}

inline void require_f32(const Tensor& t, const char* op) {
  reject_f64(t, op);
  KILN_CHECK(t.dtype() == DType::f32, "{} on {}: expected a float32 tensor, found {} of shape {}",
             op, t.device().str(), dtype_name(t.dtype()), shape_str(t.shape()));
}

inline void require_i32(const Tensor& t, const char* op) {
  KILN_CHECK(t.dtype() == DType::i32, "{} on {}: expected an int32 tensor, found {} of shape {}",
             op, t.device().str(), dtype_name(t.dtype()), shape_str(t.shape()));
}

// The last extent of t (1 for a scalar): the "classes" / "columns" of a (rows, cols) view.
inline std::int64_t last_extent(const Tensor& t) { return t.rank() == 0 ? 1 : t.dim(-1); }

inline std::int64_t rows_of(const Tensor& t) {
  const std::int64_t cols = last_extent(t);
  return cols == 0 ? 0 : t.numel() / cols;
}

}  // namespace kiln::cuda
