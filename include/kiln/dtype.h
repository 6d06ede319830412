// Element types. f32 everywhere, f64 on the CPU (gradient checks), u8/i32 for images and labels.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "kiln/export.h"

namespace kiln {

enum class DType : std::uint8_t { f32, f64, u8, i32 };

KILN_API std::size_t dtype_size(DType dtype);
KILN_API const char* dtype_name(DType dtype);

// dtype_of<T>() maps a C++ element type to its DType.
template <class T>
constexpr DType dtype_of();
template <>
constexpr DType dtype_of<float>() {
  return DType::f32;
}
template <>
constexpr DType dtype_of<double>() {
  return DType::f64;
}
template <>
constexpr DType dtype_of<std::uint8_t>() {
  return DType::u8;
}
template <>
constexpr DType dtype_of<std::int32_t>() {
  return DType::i32;
}

inline bool is_floating(DType dtype) { return dtype == DType::f32 || dtype == DType::f64; }

}  // namespace kiln
