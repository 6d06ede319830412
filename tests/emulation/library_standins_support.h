// Helpers for the tests of the cuBLAS and cuDNN stand-ins (test_library_standins*.cpp): float
// device buffers, RAII for cuDNN objects, random data, comparisons.
#pragma once

#include <cuda_runtime_api.h>
#include <cudnn.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstddef>
#include <random>
#include <string>
#include <vector>

#include "emulation_test_support.h"

namespace kiln::emu_test {

// `count` floats of emulated device memory (emulation_test_support.h).
class DeviceFloats : public DeviceBuffer<float> {
 public:
  using DeviceBuffer<float>::DeviceBuffer;
  void poison() { EXPECT_EQ(cudaMemset(get(), 0xFF, bytes()), cudaSuccess); }
};

template <class T, cudnnStatus_t (*Create)(T*), cudnnStatus_t (*Destroy)(T)>
class CudnnObject {
 public:
  CudnnObject() { EXPECT_EQ(Create(&object_), CUDNN_STATUS_SUCCESS); }
  ~CudnnObject() {
    if (object_ != nullptr) Destroy(object_);
  }
  CudnnObject(const CudnnObject&) = delete;
  CudnnObject& operator=(const CudnnObject&) = delete;
  T get() const { return object_; }

 private:
  T object_ = nullptr;
};

using Handle = CudnnObject<cudnnHandle_t, cudnnCreate, cudnnDestroy>;
using TensorDesc =
    CudnnObject<cudnnTensorDescriptor_t, cudnnCreateTensorDescriptor, cudnnDestroyTensorDescriptor>;
using FilterDesc =
    CudnnObject<cudnnFilterDescriptor_t, cudnnCreateFilterDescriptor, cudnnDestroyFilterDescriptor>;
using ConvDesc = CudnnObject<cudnnConvolutionDescriptor_t, cudnnCreateConvolutionDescriptor,
                             cudnnDestroyConvolutionDescriptor>;
using PoolDesc = CudnnObject<cudnnPoolingDescriptor_t, cudnnCreatePoolingDescriptor,
                             cudnnDestroyPoolingDescriptor>;

inline std::vector<float> random_floats(std::size_t count, unsigned seed) {
  std::mt19937 generator(seed);
  std::uniform_real_distribution<float> uniform(-1.0f, 1.0f);
  std::vector<float> values(count);
  for (float& v : values) v = uniform(generator);
  return values;
}

// The error a fault left for cudaGetLastError (and clears it).
inline cudaError_t take_cuda_error() { return cudaGetLastError(); }

inline std::string last_cudnn_error() {
  std::array<char, 1024> text{};
  cudnnGetLastErrorString(text.data(), text.size());
  return text.data();
}

// Every element within atol + rtol * |expected|, and NaN exactly where expected is NaN.
inline ::testing::AssertionResult all_close(const std::vector<float>& actual,
                                            const std::vector<double>& expected, double rtol = 1e-6,
                                            double atol = 1e-6) {
  if (actual.size() != expected.size()) {
    return ::testing::AssertionFailure() << "sizes " << actual.size() << " vs " << expected.size();
  }
  for (std::size_t i = 0; i < actual.size(); ++i) {
    const bool nan_expected = std::isnan(expected[i]);
    const bool nan_actual = std::isnan(actual[i]);
    const bool ok = nan_expected ? nan_actual
                                 : !nan_actual && std::abs(actual[i] - expected[i]) <=
                                                      atol + rtol * std::abs(expected[i]);
    if (!ok) {
      return ::testing::AssertionFailure()
             << "element " << i << ": " << actual[i] << " vs expected " << expected[i];
    }
  }
  return ::testing::AssertionSuccess();
}

inline double max_difference(const std::vector<float>& actual,
                             const std::vector<double>& expected) {
  double worst = 0.0;
  for (std::size_t i = 0; i < actual.size(); ++i) {
    worst = std::max(worst, std::abs(actual[i] - expected[i]));
  }
  return worst;
}

// out = alpha * result + beta * old, element by element.
inline std::vector<double> blend(const std::vector<double>& result, double alpha,
                                 const std::vector<float>& old, double beta) {
  std::vector<double> out(result.size());
  for (std::size_t i = 0; i < result.size(); ++i) out[i] = alpha * result[i] + beta * old[i];
  return out;
}

inline bool all_bytes_ff(const std::vector<float>& values) {
  const auto* bytes = reinterpret_cast<const unsigned char*>(values.data());
  for (std::size_t i = 0; i < values.size() * sizeof(float); ++i) {
    if (bytes[i] != 0xFF) return false;
  }
  return true;
}

}  // namespace kiln::emu_test
