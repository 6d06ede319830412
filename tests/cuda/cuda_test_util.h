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
inline backend::Backend& gpu() { return backend::backend_for(Device::cuda(0)); }
inline Device cuda0() { return Device::cuda(0); }

// Sizes for tests that would take minutes on the CUDA emulation: the full size on a GPU, the
// smaller one where cuda:0 is emulated on the CPU (kiln::cuda_emulated()).
inline std::int64_t gpu_or_emulated(std::int64_t on_gpu, std::int64_t emulated) {
  return cuda_emulated() ? emulated : on_gpu;
}

// Sets one of kiln's switches (TF32, kiln/device.h; cuda_api.h's) for a scope.
template <bool (*Get)(), void (*Set)(bool)>
class SwitchScope {
 public:
  explicit SwitchScope(bool enabled) : previous_(Get()) { Set(enabled); }
  ~SwitchScope() { Set(previous_); }
  SwitchScope(const SwitchScope&) = delete;
  SwitchScope& operator=(const SwitchScope&) = delete;

 private:
  bool previous_;
};

// TF32 for cuDNN and cuBLAS.
using Tf32Scope = SwitchScope<tf32_allowed, set_allow_tf32>;
// The cuDNN graph API path of Conv2D: false forces the legacy cudnnConvolutionForward path, as
// KILN_CUDNN_GRAPH=0 does.
using CudnnGraphScope = SwitchScope<cuda::cudnn_graph_enabled, cuda::set_cudnn_graph_enabled>;

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

// Compares element by element: NaN must sit at the same positions in both (a NaN expected at
// all is accepted only when `nan_expected`, so a kernel that reads poisoned memory and a
// reference that does too cannot agree by accident), and elsewhere the max-norm relative error
// max_i |actual_i - expected_i| / max_i |expected_i| (the absolute error when every expected value
// is 0; infinities must match exactly) must be at most `tolerance`.
inline ::testing::AssertionResult close(const Tensor& actual, const Tensor& expected,
                                        double tolerance, bool nan_expected = false) {
  const std::vector<double> a = as_doubles(actual);
  const std::vector<double> e = as_doubles(expected);
  if (a.size() != e.size()) {
    return ::testing::AssertionFailure() << a.size() << " elements vs " << e.size() << " expected";
  }
  double diff = 0.0;
  double scale = 0.0;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (std::isnan(e[i]) && !nan_expected) {
      return ::testing::AssertionFailure() << "the expected values hold NaN at " << i;
    }
    if (std::isnan(a[i]) != std::isnan(e[i])) {
      return ::testing::AssertionFailure()
             << "NaN mismatch at " << i << ": " << a[i] << " vs " << e[i] << " expected";
    }
    if (std::isnan(e[i])) continue;
    if (std::isinf(e[i]) || std::isinf(a[i])) {
      if (a[i] != e[i]) {
        return ::testing::AssertionFailure() << "at " << i << ": " << a[i] << " vs " << e[i];
      }
      continue;
    }
    diff = std::max(diff, std::abs(a[i] - e[i]));
    scale = std::max(scale, std::abs(e[i]));
  }
  const double error = scale > 0.0 ? diff / scale : diff;
  if (error <= tolerance) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure()
         << "relative error " << error << " > " << tolerance << " (max abs diff " << diff
         << ", max |expected| " << scale << ")";
}

// Streams like any EXPECT_*: EXPECT_CLOSE(a, b, kStrict) << "context";
#define EXPECT_CLOSE(actual, expected, tolerance) \
  EXPECT_TRUE(::kiln::cuda_test::close(actual, expected, tolerance)) << #actual " vs " #expected " "

template <class T>
void expect_equal(const Tensor& actual, const Tensor& expected) {
  EXPECT_EQ(actual.to(Device::cpu()).to_vector<T>(), expected.to(Device::cpu()).to_vector<T>());
}

}  // namespace kiln::cuda_test
