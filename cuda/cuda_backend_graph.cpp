// CudaBackend's kernels of imported graphs (kiln/graph_ops.h): broadcasting arithmetic and
// spatial mean on kernels/graph_ops.cu, the resize modes on kernels/spatial.cu. top_k and
// strided_slice copy their input to the host, run the CPU kernel and copy the result back (a
// host wait each; they meet small tensors in the detectors' decode, and a 1.3 M-element top-k
// costs a 5 MB copy).
#include "core/check.h"
#include "cuda_backend.h"
#include "device_guard.h"
#include "kernels/graph_ops.cuh"
#include "kernels/spatial.cuh"
#include "tensor_checks.h"

namespace kiln::cuda {

namespace {

// a's or b's element strides in out's index space, aligned at the end (0 where it broadcasts).
void fill_strides(const Shape& shape, int rank, std::int64_t* strides) {
  std::int64_t stride = 1;
  const int offset = rank - static_cast<int>(shape.size());
  for (int axis = rank - 1; axis >= 0; --axis) {
    const int own = axis - offset;
    const std::int64_t extent = own >= 0 ? shape[static_cast<std::size_t>(own)] : 1;
    strides[axis] = extent == 1 ? 0 : stride;
    stride *= extent;
  }
}

kernels::BroadcastShape broadcast_shape(const Tensor& a, const Tensor& b, const Tensor& out) {
  kernels::BroadcastShape s;
  s.rank = out.rank();
  KILN_CHECK(s.rank <= kernels::kMaxBroadcastRank,
             "broadcast_binary on {}: at most {} axes, found shape {}", out.device().str(),
             kernels::kMaxBroadcastRank, shape_str(out.shape()));
  for (int axis = 0; axis < s.rank; ++axis) s.out[axis] = out.dim(axis);
  fill_strides(a.shape(), s.rank, s.a_stride);
  fill_strides(b.shape(), s.rank, s.b_stride);
  s.count = out.numel();
  return s;
}

}  // namespace

void CudaBackend::broadcast_binary(BinaryOp op, const Tensor& a, const Tensor& b, Tensor& out) {
  reject_f64(a, "broadcast_binary");
  KILN_CHECK(a.dtype() == DType::f32 || a.dtype() == DType::i32,
             "broadcast_binary on {}: expected float32 or int32 operands, found {}",
             a.device().str(), dtype_name(a.dtype()));
  DeviceGuard guard(device_index_);
  kernels::broadcast_binary(op, a.dtype(), broadcast_shape(a, b, out), a.raw_data(), b.raw_data(),
                            out.raw_data(), stream());
}

void CudaBackend::spatial_mean(const Tensor& x, Tensor& y) {
  require_f32(x, "spatial_mean");
  DeviceGuard guard(device_index_);
  kernels::spatial_mean(x.data<float>(), y.data<float>(), x.dim(0), x.dim(1) * x.dim(2), x.dim(3),
                        stream());
}

void CudaBackend::resize_bilinear_mode(const Tensor& x, ResizeMode mode, Tensor& y) {
  require_f32(x, "resize_bilinear_mode");
  DeviceGuard guard(device_index_);
  kernels::ResizeShape s{x.dim(0), x.dim(1), x.dim(2), x.dim(3), y.dim(1), y.dim(2)};
  s.align_corners = mode.align_corners;
  s.half_pixel_centers = mode.half_pixel_centers;
  kernels::resize_bilinear_forward(s, x.data<float>(), y.data<float>(), stream());
}

void CudaBackend::top_k(const Tensor& x, Tensor& values, Tensor& indices) {
  const Tensor host_x = x.to(Device::cpu());
  Tensor host_values = Tensor::empty(values.shape(), values.dtype());
  Tensor host_indices = Tensor::empty(indices.shape(), DType::i32);
  backend::backend_for(Device::cpu()).top_k(host_x, host_values, host_indices);
  values.copy_from(host_values);
  indices.copy_from(host_indices);
}

void CudaBackend::strided_slice(const Tensor& x, const std::vector<std::int64_t>& begin,
                                const std::vector<std::int64_t>& strides, Tensor& y) {
  Tensor host_y = Tensor::empty(y.shape(), y.dtype());
  backend::backend_for(Device::cpu()).strided_slice(x.to(Device::cpu()), begin, strides, host_y);
  y.copy_from(host_y);
}

}  // namespace kiln::cuda
