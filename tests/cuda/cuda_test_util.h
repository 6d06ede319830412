// Helpers for the CUDA suites: skip without a GPU, the two backends, random tensors, and the
// error measure of DESIGN.md — every CUDA kernel is compared with the CPU backend on the same
// inputs.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "backend/backend.h"
#include "backend/cpu/cpu_backend.h"
#include "cuda/cuda_api.h"
#include "kiln/device.h"
#include "kiln/error.h"
#include "kiln/tensor.h"

namespace kiln::cuda_test {

// Tolerances (normwise relative error, see relative_error): elementwise kernels, everything
// else with TF32 off, and TF32 tensor-core math (convolution, GEMM).
constexpr double kElementwise = 1e-6;
constexpr double kStrict = 1e-5;
constexpr double kTf32 = 2e-3;

inline std::string gpu_unavailable_reason() {
  try {
    parse_device("cuda");
    return "";
  } catch (const Error& e) {
    return e.what();
  }
}

// Every test starts with this: a skip with the reason on machines without a usable GPU.
#define KILN_SKIP_WITHOUT_GPU()                                                         \
  do {                                                                                  \
    if (!::kiln::cuda_available()) {                                                    \
      GTEST_SKIP() << "no usable GPU: " << ::kiln::cuda_test::gpu_unavailable_reason(); \
    }                                                                                   \
  } while (false)

inline backend::Backend& cpu() { return backend::cpu_backend(); }
inline backend::Backend& gpu() { return cuda::gpu_backend(0); }
inline Device cuda0() { return Device::cuda(0); }

// Sets the TF32 switch for a scope.
class Tf32Scope {
 public:
  explicit Tf32Scope(bool enabled) : previous_(cuda::tf32_enabled()) {
    cuda::set_tf32_enabled(enabled);
  }
  ~Tf32Scope() { cuda::set_tf32_enabled(previous_); }
  Tf32Scope(const Tf32Scope&) = delete;
  Tf32Scope& operator=(const Tf32Scope&) = delete;

 private:
  bool previous_;
};

// Uniform f32 in [low, high) on the CPU; the same seed gives the same values everywhere.
inline Tensor random(const Shape& shape, std::uint64_t seed, double low = -1.0, double high = 1.0) {
  return Tensor::uniform(shape, low, high, seed, DType::f32, Device::cpu());
}

// Values on a coarse grid (multiples of 0.5 in [-2, 2]), so pooling windows hold many ties.
inline Tensor random_with_ties(const Shape& shape, std::uint64_t seed) {
  std::vector<float> values = random(shape, seed, -2.0, 2.5).to_vector<float>();
  for (float& v : values) v = std::floor(v * 2.0f) / 2.0f;
  return Tensor::from_vector(values, shape);
}

inline Tensor on_gpu(const Tensor& t) { return t.to(cuda0()); }

inline std::vector<double> as_doubles(const Tensor& t) {
  const Tensor host = t.to(Device::cpu()).astype(DType::f64);
  return host.to_vector<double>();
}

// max_i |actual_i - expected_i| / max_i |expected_i| (the max-norm relative error), or the
// absolute error when the expected values are all zero.
inline double relative_error(const Tensor& actual, const Tensor& expected) {
  const std::vector<double> a = as_doubles(actual);
  const std::vector<double> e = as_doubles(expected);
  EXPECT_EQ(a.size(), e.size());
  double diff = 0.0;
  double scale = 0.0;
  for (std::size_t i = 0; i < std::min(a.size(), e.size()); ++i) {
    diff = std::max(diff, std::abs(a[i] - e[i]));
    if (std::isnan(a[i]) != std::isnan(e[i])) diff = INFINITY;
    scale = std::max(scale, std::abs(e[i]));
  }
  return scale > 0.0 ? diff / scale : diff;
}

// Streams like any EXPECT_*: EXPECT_CLOSE(a, b, kStrict) << "context";
#define EXPECT_CLOSE(actual, expected, tolerance)                           \
  EXPECT_LE(::kiln::cuda_test::relative_error(actual, expected), tolerance) \
      << #actual " vs " #expected " "

template <class T>
void expect_equal(const Tensor& actual, const Tensor& expected) {
  EXPECT_EQ(actual.to(Device::cpu()).to_vector<T>(), expected.to(Device::cpu()).to_vector<T>());
}

}  // namespace kiln::cuda_test
