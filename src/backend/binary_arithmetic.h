// TensorFlow's binary arithmetic for one pair of elements, shared by the CPU kernels
// (cpu_graph_kernels.cpp) and the CUDA ones (cuda/kernels/graph_ops.cu) so that both compute the
// same thing: floor division and modulo round toward minus infinity (Python's // and %), equal
// gives 1 or 0.
#pragma once

#include <cmath>
#include <type_traits>

#include "kiln/graph_ops.h"

#if !defined(KILN_HOST_DEVICE)
#if defined(__CUDACC__)
#define KILN_HOST_DEVICE __host__ __device__
#else
#define KILN_HOST_DEVICE
#endif
#endif

namespace kiln::backend {

template <class T>
KILN_HOST_DEVICE inline T floor_divide(T a, T b) {
  if constexpr (std::is_integral_v<T>) {
    T q = a / b;
    if (a % b != 0 && ((a < 0) != (b < 0))) --q;
    return q;
  } else {
    return std::floor(a / b);
  }
}

template <class T>
KILN_HOST_DEVICE inline T floor_mod(T a, T b) {
  T r;
  if constexpr (std::is_integral_v<T>) {
    r = a % b;
  } else {
    r = std::fmod(a, b);
  }
  if (r != 0 && ((r < 0) != (b < 0))) r += b;
  return r;
}

template <BinaryOp Op, class T, class R>
KILN_HOST_DEVICE inline R apply_binary(T a, T b) {
  if constexpr (Op == BinaryOp::add) return static_cast<R>(a + b);
  if constexpr (Op == BinaryOp::subtract) return static_cast<R>(a - b);
  if constexpr (Op == BinaryOp::multiply) return static_cast<R>(a * b);
  if constexpr (Op == BinaryOp::floor_divide) return static_cast<R>(floor_divide(a, b));
  if constexpr (Op == BinaryOp::floor_mod) return static_cast<R>(floor_mod(a, b));
  if constexpr (Op == BinaryOp::equal) return static_cast<R>(a == b ? 1 : 0);
}

}  // namespace kiln::backend
