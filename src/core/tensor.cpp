// Tensor: the data structure (shape, dtype, storage, views). What fills, copies or converts a
// tensor's bytes runs a device's kernels, so it is the backend layer's: backend/tensor_transfer.cpp.
#include "kiln/tensor.h"

#include <cstring>

#include "core/check.h"
#include "core/counter_rng.h"
#include "core/tensor_impl.h"

namespace kiln {

namespace detail {

Storage::Storage(std::size_t size, Device where)
    : bytes(size), device(where), allocator(&allocator_for(where)) {
  data = allocator->allocate(size);
}

Storage::~Storage() { allocator->deallocate(data, bytes); }

}  // namespace detail

namespace {

std::shared_ptr<detail::TensorImpl> make_impl(const Shape& shape, DType dtype, Device device) {
  const std::int64_t count = shape_numel(shape);
  const std::size_t element = dtype_size(dtype);
  KILN_CHECK(static_cast<std::uint64_t>(count) <= (std::uint64_t{1} << 62) / element,
             "tensor of shape {} and dtype {} is too large", shape_str(shape), dtype_name(dtype));
  auto impl = std::make_shared<detail::TensorImpl>();
  impl->storage =
      std::make_shared<detail::Storage>(static_cast<std::size_t>(count) * element, device);
  impl->shape = shape;
  impl->dtype = dtype;
  return impl;
}

}  // namespace

Tensor Tensor::empty(const Shape& shape, DType dtype, Device device) {
  return Tensor(make_impl(shape, dtype, device));
}

Tensor Tensor::zeros(const Shape& shape, DType dtype, Device device) {
  return full(shape, 0.0, dtype, device);
}

Tensor Tensor::uniform(const Shape& shape, double low, double high, std::uint64_t seed, DType dtype,
                       Device device) {
  KILN_CHECK(is_floating(dtype), "Tensor::uniform: expected a floating dtype, found {}",
             dtype_name(dtype));
  KILN_CHECK(low <= high, "Tensor::uniform: expected low <= high, found {} > {}", low, high);
  Tensor host = empty(shape, DType::f64, Device::cpu());
  double* out = host.data<double>();
  for (std::int64_t i = 0; i < host.numel(); ++i) {
    out[i] = low + (high - low) * rng::uniform01(seed, static_cast<std::uint64_t>(i));
  }
  return host.astype(dtype).to(device);
}

const Shape& Tensor::shape() const {
  check_defined("shape");
  return impl_->shape;
}

std::int64_t Tensor::dim(int axis) const {
  const int r = rank();
  const int resolved = axis < 0 ? axis + r : axis;
  KILN_CHECK(resolved >= 0 && resolved < r, "Tensor::dim: axis {} is out of range for shape {}",
             axis, shape_str(shape()));
  return impl_->shape[static_cast<std::size_t>(resolved)];
}

std::int64_t Tensor::numel() const { return shape_numel(shape()); }

std::size_t Tensor::nbytes() const {
  return static_cast<std::size_t>(numel()) * dtype_size(dtype());
}

DType Tensor::dtype() const {
  check_defined("dtype");
  return impl_->dtype;
}

Device Tensor::device() const {
  check_defined("device");
  return impl_->storage->device;
}

void* Tensor::raw_data() {
  check_defined("data");
  return static_cast<char*>(impl_->storage->data) + impl_->offset;
}

const void* Tensor::raw_data() const {
  check_defined("data");
  return static_cast<const char*>(impl_->storage->data) + impl_->offset;
}

template <class T>
T* Tensor::data() {
  check_dtype(dtype_of<T>(), "data");
  return static_cast<T*>(raw_data());
}

template <class T>
const T* Tensor::data() const {
  check_dtype(dtype_of<T>(), "data");
  return static_cast<const T*>(raw_data());
}

double Tensor::item() const {
  KILN_CHECK(numel() == 1, "Tensor::item: expected one element, found shape {}",
             shape_str(shape()));
  // To the host first, then convert: a device backend need not have float64 kernels (CUDA does
  // not), and one element is all that crosses.
  return to(Device::cpu()).astype(DType::f64).to_vector<double>()[0];
}

Tensor Tensor::to(Device target) const {
  check_defined("to");
  if (device() == target) return *this;
  Tensor out = empty(shape(), dtype(), target);
  out.copy_from(*this);
  return out;
}

Tensor Tensor::clone() const {
  Tensor out = empty(shape(), dtype(), device());
  out.copy_from(*this);
  return out;
}

Tensor Tensor::view(const Shape& new_shape) const {
  check_defined("view");
  Shape resolved = new_shape;
  std::int64_t known = 1;
  int unknown_axis = -1;
  for (std::size_t i = 0; i < resolved.size(); ++i) {
    if (resolved[i] == -1) {
      KILN_CHECK(unknown_axis < 0, "view: at most one extent may be -1, found shape {}",
                 shape_str(new_shape));
      unknown_axis = static_cast<int>(i);
    } else {
      KILN_CHECK(resolved[i] >= 0, "view: extents must be >= 0 or -1, found shape {}",
                 shape_str(new_shape));
      known *= resolved[i];
    }
  }
  if (unknown_axis >= 0) {
    KILN_CHECK(known > 0 && numel() % known == 0, "view: cannot view {} as {}", shape_str(shape()),
               shape_str(new_shape));
    resolved[static_cast<std::size_t>(unknown_axis)] = numel() / known;
  }
  KILN_CHECK(shape_numel(resolved) == numel(), "view: cannot view {} ({} elements) as {}",
             shape_str(shape()), numel(), shape_str(new_shape));
  auto impl = std::make_shared<detail::TensorImpl>(*impl_);
  impl->shape = resolved;
  impl->squash = detail::Squash::none;
  impl->logits.reset();
  return Tensor(impl);
}

Tensor Tensor::narrow(std::int64_t begin, std::int64_t end) const {
  check_defined("narrow");
  KILN_CHECK(rank() >= 1 && 0 <= begin && begin <= end && end <= dim(0),
             "narrow: rows [{}, {}) are not within the first dimension of {}", begin, end,
             shape_str(shape()));
  const std::size_t row_bytes =
      rank() == 0 || dim(0) == 0 ? 0 : nbytes() / static_cast<std::size_t>(dim(0));
  auto impl = std::make_shared<detail::TensorImpl>(*impl_);
  impl->offset += static_cast<std::size_t>(begin) * row_bytes;
  impl->shape[0] = end - begin;
  impl->squash = detail::Squash::none;
  impl->logits.reset();
  return Tensor(impl);
}

std::string Tensor::str() const {
  if (!defined()) return "Tensor(undefined)";
  return std::string("Tensor(") + dtype_name(dtype()) + ", " + device().str() + ", " +
         shape_str(shape()) + ")";
}

void Tensor::check_defined(const char* what) const {
  KILN_CHECK(impl_ != nullptr, "Tensor::{}: the tensor is undefined", what);
}

void Tensor::check_dtype(DType expected, const char* what) const {
  check_defined(what);
  KILN_CHECK(impl_->dtype == expected, "Tensor::{}: expected dtype {}, found {}", what,
             dtype_name(expected), dtype_name(impl_->dtype));
}

#define KILN_INSTANTIATE_TENSOR(T)        \
  template KILN_API T* Tensor::data<T>(); \
  template KILN_API const T* Tensor::data<T>() const;

KILN_INSTANTIATE_TENSOR(float)
KILN_INSTANTIATE_TENSOR(double)
KILN_INSTANTIATE_TENSOR(std::uint8_t)
KILN_INSTANTIATE_TENSOR(std::int32_t)

}  // namespace kiln
