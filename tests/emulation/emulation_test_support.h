// What the emulation's tests share (test_scheduler.cpp, the stand-in tests through
// library_standins_support.h, the capture tests through graph_test_support.h): device buffers of
// any type from the emulated cudaMalloc, and an expectation on message texts.
#pragma once

#include <cuda_runtime_api.h>
#include <gtest/gtest.h>

#include <cstddef>
#include <string>
#include <vector>

namespace kiln::emu_test {

// `count` T's of emulated device memory from cudaMalloc (poisoned: every byte 0xFF), freed at
// scope exit unless free_now() freed them earlier.
template <class T>
class DeviceBuffer {
 public:
  explicit DeviceBuffer(std::size_t count) : count_(count) {
    EXPECT_EQ(cudaMalloc(reinterpret_cast<void**>(&data_), count * sizeof(T)), cudaSuccess);
  }
  explicit DeviceBuffer(const std::vector<T>& values) : DeviceBuffer(values.size()) {
    upload(values);
  }
  ~DeviceBuffer() { free_now(); }
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;

  T* get() const { return data_; }
  std::size_t count() const { return count_; }
  std::size_t bytes() const { return count_ * sizeof(T); }
  void upload(const std::vector<T>& values) {
    ASSERT_EQ(values.size(), count_);
    ASSERT_EQ(cudaMemcpy(data_, values.data(), bytes(), cudaMemcpyHostToDevice), cudaSuccess);
  }
  std::vector<T> download() const {
    std::vector<T> values(count_);
    EXPECT_EQ(cudaMemcpy(values.data(), data_, bytes(), cudaMemcpyDeviceToHost), cudaSuccess);
    return values;
  }
  void free_now() {
    if (data_ != nullptr) {
      EXPECT_EQ(cudaFree(data_), cudaSuccess);
    }
    data_ = nullptr;
  }

 private:
  std::size_t count_ = 0;
  T* data_ = nullptr;
};

#define EXPECT_CONTAINS(text, part) \
  EXPECT_NE(std::string(text).find(part), std::string::npos) << "in: " << (text)

}  // namespace kiln::emu_test
