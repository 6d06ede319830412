// DeviceBuffer: scratch device memory (workspaces, transposed weights, padded images) borrowed
// from a device's caching allocator for one scope. Returning it right after the kernels that use
// it were queued is safe because the pool reuses a block only for work queued later on the same
// stream (Note [Stream-ordered reuse] in block_pool.cpp).
#pragma once

#include <cstddef>
#include <utility>

#include "kiln/allocator.h"

namespace kiln::cuda {

class DeviceBuffer {
 public:
  DeviceBuffer() = default;
  DeviceBuffer(Allocator& allocator, std::size_t bytes)
      : allocator_(&allocator),
        bytes_(bytes),
        data_(bytes > 0 ? allocator.allocate(bytes) : nullptr) {}
  ~DeviceBuffer() { release(); }
  DeviceBuffer(DeviceBuffer&& other) noexcept
      : allocator_(other.allocator_),
        bytes_(std::exchange(other.bytes_, 0)),
        data_(std::exchange(other.data_, nullptr)) {}
  DeviceBuffer& operator=(DeviceBuffer&& other) noexcept {
    if (this != &other) {
      release();
      allocator_ = other.allocator_;
      bytes_ = std::exchange(other.bytes_, 0);
      data_ = std::exchange(other.data_, nullptr);
    }
    return *this;
  }
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;

  void* get() const { return data_; }
  template <class T>
  T* as() const {
    return static_cast<T*>(data_);
  }
  std::size_t bytes() const { return bytes_; }

 private:
  void release() noexcept {
    if (data_ != nullptr) allocator_->deallocate(data_, bytes_);
    data_ = nullptr;
  }

  Allocator* allocator_ = nullptr;
  std::size_t bytes_ = 0;
  void* data_ = nullptr;
};

}  // namespace kiln::cuda
