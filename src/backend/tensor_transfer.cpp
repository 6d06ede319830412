// The Tensor methods that run a device's kernels: fill, copy between devices, convert. They are
// the backend layer's (core/tensor.cpp holds the data structure, which knows no backend).
#include "backend/backend.h"
#include "core/check.h"
#include "kiln/tensor.h"

namespace kiln {

Tensor Tensor::full(const Shape& shape, double value, DType dtype, Device device) {
  Tensor t = empty(shape, dtype, device);
  backend::backend_for(device).fill(t, value);
  return t;
}

template <class T>
Tensor Tensor::from_vector(const std::vector<T>& values, const Shape& shape, Device device) {
  const std::int64_t count = shape_numel(shape);
  KILN_CHECK(static_cast<std::int64_t>(values.size()) == count,
             "Tensor::from_vector: shape {} needs {} values, found {}", shape_str(shape), count,
             values.size());
  Tensor t = empty(shape, dtype_of<T>(), device);
  backend::backend_for(device).copy_from_host(t.raw_data(), values.data(), t.nbytes());
  return t;
}

template <class T>
std::vector<T> Tensor::to_vector() const {
  check_dtype(dtype_of<T>(), "to_vector");
  std::vector<T> out(static_cast<std::size_t>(numel()));
  backend::backend_for(device()).copy_to_host(out.data(), raw_data(), nbytes());
  return out;
}

Tensor Tensor::astype(DType target) const {
  if (dtype() == target) return *this;
  Tensor out = empty(shape(), target, device());
  backend::backend_for(device()).cast(*this, out, 1.0);
  return out;
}

void Tensor::copy_from(const Tensor& source) {
  KILN_CHECK(source.shape() == shape() && source.dtype() == dtype(),
             "copy_from: expected a {} tensor of shape {}, found {} of shape {}",
             dtype_name(dtype()), shape_str(shape()), dtype_name(source.dtype()),
             shape_str(source.shape()));
  const std::size_t bytes = nbytes();
  if (bytes == 0) return;
  if (device() == source.device()) {
    backend::backend_for(device()).copy(raw_data(), source.raw_data(), bytes);
  } else if (source.device().is_cpu()) {
    backend::backend_for(device()).copy_from_host(raw_data(), source.raw_data(), bytes);
  } else if (device().is_cpu()) {
    backend::backend_for(source.device()).copy_to_host(raw_data(), source.raw_data(), bytes);
  } else {
    copy_from(source.to(Device::cpu()));
  }
}

#define KILN_INSTANTIATE_TENSOR_TRANSFER(T)                                                     \
  template KILN_API Tensor Tensor::from_vector<T>(const std::vector<T>&, const Shape&, Device); \
  template KILN_API std::vector<T> Tensor::to_vector<T>() const;

KILN_INSTANTIATE_TENSOR_TRANSFER(float)
KILN_INSTANTIATE_TENSOR_TRANSFER(double)
KILN_INSTANTIATE_TENSOR_TRANSFER(std::uint8_t)
KILN_INSTANTIATE_TENSOR_TRANSFER(std::int32_t)

}  // namespace kiln
