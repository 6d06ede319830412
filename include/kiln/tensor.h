// Tensor: a cheap handle (shared storage + shape + dtype + device + offset). Copies share the
// bytes; clone() copies them. Tensors are contiguous, row-major, outermost dimension first.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "kiln/allocator.h"
#include "kiln/device.h"
#include "kiln/dtype.h"
#include "kiln/export.h"
#include "kiln/shape.h"

namespace kiln {

namespace detail {

// A block of memory from an allocator; returned to it when the last tensor lets go.
struct KILN_API Storage {
  void* data = nullptr;
  std::size_t bytes = 0;
  Device device;
  Allocator* allocator = nullptr;
  Storage(std::size_t size, Device where);
  ~Storage();
  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;
};

// The state behind a handle; defined in the library (src/core/tensor_impl.h).
struct TensorImpl;

}  // namespace detail

class KILN_API Tensor {
 public:
  Tensor() = default;  // undefined: defined() is false

  static Tensor empty(const Shape& shape, DType dtype = DType::f32, Device device = Device::cpu());
  static Tensor zeros(const Shape& shape, DType dtype = DType::f32, Device device = Device::cpu());
  static Tensor full(const Shape& shape, double value, DType dtype = DType::f32,
                     Device device = Device::cpu());
  // Uniform in [low, high) from a counter-based generator: the same seed gives the same values
  // on every device and every platform.
  static Tensor uniform(const Shape& shape, double low, double high, std::uint64_t seed,
                        DType dtype = DType::f32, Device device = Device::cpu());
  // Copies `values` (its length must equal the shape's element count).
  template <class T>
  static Tensor from_vector(const std::vector<T>& values, const Shape& shape,
                            Device device = Device::cpu());

  bool defined() const { return impl_ != nullptr; }
  const Shape& shape() const;
  int rank() const { return static_cast<int>(shape().size()); }
  // Extent of dimension `axis`; negative axes count from the end.
  std::int64_t dim(int axis) const;
  std::int64_t numel() const;
  std::size_t nbytes() const;
  DType dtype() const;
  Device device() const;

  // Pointer to the first element (host or device memory, by device()); T must match dtype().
  template <class T>
  T* data();
  template <class T>
  const T* data() const;
  void* raw_data();
  const void* raw_data() const;

  // Copies to the host and returns the elements; T must match dtype().
  template <class T>
  std::vector<T> to_vector() const;
  // The single element of a one-element tensor, converted to double.
  double item() const;

  Tensor to(Device device) const;    // a copy on `device` (this tensor if already there)
  Tensor astype(DType dtype) const;  // a converted copy (this tensor if already that dtype)
  Tensor clone() const;              // a copy with its own storage
  // Same bytes, another shape with the same element count; one extent may be -1.
  // Not recorded on the tape: differentiable code uses kiln::reshape.
  Tensor view(const Shape& shape) const;
  // Rows [begin, end) of the first dimension: a view that shares this tensor's storage (it stays
  // contiguous). Not recorded on the tape.
  Tensor narrow(std::int64_t begin, std::int64_t end) const;
  // Copies all elements of `source` (same shape and dtype, any device) into this tensor.
  void copy_from(const Tensor& source);

  // Identity of this handle's tensor (copies of the handle share it), for the tape.
  const void* id() const { return impl_.get(); }
  std::string str() const;  // "Tensor(f32, cpu, (2, 3))"

  // Internal: the shared state. Public for the library's own modules.
  const std::shared_ptr<detail::TensorImpl>& impl() const { return impl_; }
  explicit Tensor(std::shared_ptr<detail::TensorImpl> impl) : impl_(std::move(impl)) {}

 private:
  void check_defined(const char* what) const;
  void check_dtype(DType expected, const char* what) const;
  std::shared_ptr<detail::TensorImpl> impl_;
};

}  // namespace kiln
