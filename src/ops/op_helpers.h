// Shared argument checks for the ops: every failure names the op and the shapes involved.
#pragma once

#include <string>
#include <vector>

#include "backend/backend.h"
#include "core/check.h"
#include "kiln/ops.h"
#include "kiln/tensor.h"

namespace kiln::ops {

inline backend::Backend& backend_of(const Tensor& t) { return backend::backend_for(t.device()); }

inline void check_defined(const char* op, const Tensor& t, const char* what) {
  KILN_CHECK(t.defined(), "{}: {} is an undefined tensor", op, what);
}

inline void check_rank(const char* op, const Tensor& t, int rank, const char* what) {
  check_defined(op, t, what);
  KILN_CHECK(t.rank() == rank, "{}: expected {} of rank {}, found shape {}", op, what, rank,
             shape_str(t.shape()));
}

inline void check_floating(const char* op, const Tensor& t, const char* what) {
  check_defined(op, t, what);
  KILN_CHECK(is_floating(t.dtype()), "{}: expected {} of a floating dtype, found {}", op, what,
             dtype_name(t.dtype()));
}

// Same device and dtype as the reference tensor.
inline void check_compatible(const char* op, const Tensor& reference, const Tensor& t,
                             const char* what) {
  check_defined(op, t, what);
  KILN_CHECK(t.device() == reference.device(), "{}: {} is on {}, expected {}", op, what,
             t.device().str(), reference.device().str());
  KILN_CHECK(t.dtype() == reference.dtype(), "{}: {} has dtype {}, expected {}", op, what,
             dtype_name(t.dtype()), dtype_name(reference.dtype()));
}

inline void check_window(const char* op, Size2 window, Size2 strides, const Padding& padding) {
  KILN_CHECK(window.h >= 1 && window.w >= 1, "{}: window size must be >= 1, found {}x{}", op,
             window.h, window.w);
  KILN_CHECK(strides.h >= 1 && strides.w >= 1, "{}: strides must be >= 1, found {}x{}", op,
             strides.h, strides.w);
  KILN_CHECK(padding.top >= 0 && padding.bottom >= 0 && padding.left >= 0 && padding.right >= 0,
             "{}: padding amounts must be >= 0, found {}", op, padding.str());
}

// The geometry of a window `kernel` with `outputs` output channels over x (n, h, w, c), checked
// to fit in the padded input (Error naming `op`); conv_ops.cpp.
backend::Conv2dGeometry window_geometry(const char* op, const Tensor& x, Size2 kernel,
                                        std::int64_t outputs, Size2 strides,
                                        const Padding& padding);

inline Tensor empty_like(const Tensor& t) {
  return Tensor::empty(t.shape(), t.dtype(), t.device());
}

inline Tensor empty_as(const Tensor& t, const Shape& shape) {
  return Tensor::empty(shape, t.dtype(), t.device());
}

// Checks that every i32 value lies in [0, limit) (reads the values on the host).
void check_index_range(const char* op, const Tensor& indices, std::int64_t limit, const char* what);

}  // namespace kiln::ops
