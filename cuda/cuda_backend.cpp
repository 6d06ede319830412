// CudaBackend, part 1: construction, raw memory, elementwise kernels, activations, softmax,
// reductions, dropout masks and batch assembly. Part 2 (cuda_backend_nn.cpp) holds GEMM, bias,
// convolution, pooling, losses and optimizers. Shapes and dtypes were checked by the ops
// (backend.h); here only what the CUDA kernels add: f32 for floating work, f64 rejected.
#include "cuda_backend.h"

#include "core/check.h"
#include "device_buffer.h"
#include "device_guard.h"
#include "kernels/elementwise.cuh"
#include "kernels/gather.cuh"
#include "kernels/metrics.cuh"
#include "kernels/reduce.cuh"
#include "kernels/softmax.cuh"
#include "tensor_checks.h"

namespace kiln::cuda {

namespace {

kernels::Activation activation_of(backend::Pointwise f) {
  switch (f) {
    case backend::Pointwise::relu: return kernels::Activation::relu;
    case backend::Pointwise::sigmoid: return kernels::Activation::sigmoid;
    case backend::Pointwise::tanh: return kernels::Activation::tanh;
  }
  fail("unknown activation {}", static_cast<int>(f));
}

}  // namespace

Stream::Stream(int device) {
  DeviceGuard guard(device);
  CHECK_CUDA(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking));
}

Stream::~Stream() {
  if (stream_ != nullptr) cudaStreamDestroy(stream_);
}

CudaBackend::CudaBackend(int device_index)
    : device_index_(device_index),
      stream_(device_index),
      allocator_(device_index, stream_.get()),
      convolutions_(device_index, stream_.get(), allocator_, [this] { count_wait(); }) {}

CudaBackend::~CudaBackend() = default;

Device CudaBackend::device() const { return Device::cuda(device_index_); }

Allocator& CudaBackend::allocator() { return allocator_; }

// ---- memory
//
// Note [Host copies]
// ~~~~~~~~~~~~~~~~~~
// cudaMemcpyAsync from pageable host memory returns once the runtime has staged the bytes, so
// the caller may reuse its buffer at once without waiting: copy_from_host waits only when the
// source is pinned (page-locked), where the copy is truly asynchronous. copy_to_host always
// waits: the caller reads the bytes next.

namespace {

bool pinned(const void* host) {
  cudaPointerAttributes attributes{};
  if (cudaPointerGetAttributes(&attributes, host) != cudaSuccess) {
    cudaGetLastError();  // older runtimes answer an error for unregistered memory
    return false;
  }
  return attributes.type == cudaMemoryTypeHost;
}

}  // namespace

void CudaBackend::copy_from_host(void* dst, const void* src_host, std::size_t bytes) {
  if (bytes == 0) return;
  DeviceGuard guard(device_index_);
  CHECK_CUDA(cudaMemcpyAsync(dst, src_host, bytes, cudaMemcpyHostToDevice, stream()));
  if (pinned(src_host)) {  // Note [Host copies]
    count_wait();
    CHECK_CUDA(cudaStreamSynchronize(stream()));
  }
}

void CudaBackend::copy_to_host(void* dst_host, const void* src, std::size_t bytes) {
  if (bytes == 0) return;
  count_wait();
  DeviceGuard guard(device_index_);
  CHECK_CUDA(cudaMemcpyAsync(dst_host, src, bytes, cudaMemcpyDeviceToHost, stream()));
  CHECK_CUDA(cudaStreamSynchronize(stream()));
}

void CudaBackend::copy(void* dst, const void* src, std::size_t bytes) {
  if (bytes == 0 || dst == src) return;
  DeviceGuard guard(device_index_);
  CHECK_CUDA(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice, stream()));
}

void CudaBackend::synchronize() {
  count_wait();
  DeviceGuard guard(device_index_);
  CHECK_CUDA(cudaStreamSynchronize(stream()));
}

// ---- elementwise

void CudaBackend::fill(Tensor& x, double value) {
  reject_f64(x, "fill");
  DeviceGuard guard(device_index_);
  kernels::fill(x.raw_data(), x.dtype(), x.numel(), value, stream());
}

void CudaBackend::axpy(double alpha, const Tensor& x, Tensor& y) {
  require_f32(x, "axpy");
  require_f32(y, "axpy");
  DeviceGuard guard(device_index_);
  kernels::axpy(static_cast<float>(alpha), x.data<float>(), y.data<float>(), y.numel(), stream());
}

void CudaBackend::multiply(const Tensor& a, const Tensor& b, Tensor& out) {
  require_f32(a, "multiply");
  require_f32(b, "multiply");
  require_f32(out, "multiply");
  DeviceGuard guard(device_index_);
  kernels::multiply(a.data<float>(), b.data<float>(), out.data<float>(), out.numel(), stream());
}

void CudaBackend::cast(const Tensor& src, Tensor& out, double scale) {
  reject_f64(src, "cast");
  reject_f64(out, "cast");
  if (src.dtype() == out.dtype() && scale == 1.0) {
    copy(out.raw_data(), src.raw_data(), src.nbytes());
    return;
  }
  DeviceGuard guard(device_index_);
  kernels::cast(src.raw_data(), src.dtype(), out.raw_data(), out.dtype(), src.numel(), scale,
                stream());
}

void CudaBackend::copy_columns(const Tensor& src, std::int64_t src_cols, std::int64_t src_col0,
                               Tensor& dst, std::int64_t dst_cols, std::int64_t dst_col0,
                               std::int64_t rows, std::int64_t cols, bool accumulate) {
  reject_f64(dst, "copy_columns");
  DeviceGuard guard(device_index_);
  kernels::copy_columns(src.raw_data(), src_cols, src_col0, dst.raw_data(), dst_cols, dst_col0,
                        rows, cols, accumulate, dst.dtype(), stream());
}

// ---- activations and softmax

void CudaBackend::pointwise_forward(backend::Pointwise f, const Tensor& x, Tensor& y) {
  require_f32(x, "pointwise_forward");
  require_f32(y, "pointwise_forward");
  DeviceGuard guard(device_index_);
  kernels::activation_forward(activation_of(f), x.data<float>(), y.data<float>(), y.numel(),
                              stream());
}

void CudaBackend::pointwise_backward(backend::Pointwise f, const Tensor& y, const Tensor& dy,
                                     Tensor& dx) {
  require_f32(y, "pointwise_backward");
  require_f32(dy, "pointwise_backward");
  require_f32(dx, "pointwise_backward");
  DeviceGuard guard(device_index_);
  kernels::activation_backward(activation_of(f), y.data<float>(), dy.data<float>(),
                               dx.data<float>(), dx.numel(), stream());
}

void CudaBackend::softmax_forward(const Tensor& x, Tensor& y) {
  require_f32(x, "softmax_forward");
  require_f32(y, "softmax_forward");
  DeviceGuard guard(device_index_);
  kernels::softmax_forward(x.data<float>(), y.data<float>(), rows_of(x), last_extent(x), stream());
}

void CudaBackend::softmax_backward(const Tensor& y, const Tensor& dy, Tensor& dx) {
  require_f32(y, "softmax_backward");
  require_f32(dy, "softmax_backward");
  require_f32(dx, "softmax_backward");
  DeviceGuard guard(device_index_);
  kernels::softmax_backward(y.data<float>(), dy.data<float>(), dx.data<float>(), rows_of(y),
                            last_extent(y), stream());
}

// ---- reductions

void CudaBackend::sum(const Tensor& x, Tensor& out) {
  reject_f64(x, "sum");
  reject_f64(out, "sum");
  DeviceGuard guard(device_index_);
  DeviceBuffer partials(allocator_, kernels::sum_workspace_bytes());
  kernels::sum(x.raw_data(), x.dtype(), x.numel(), out.raw_data(), out.dtype(), partials.get(),
               stream());
}

void CudaBackend::argmax(const Tensor& x, Tensor& out) {
  reject_f64(x, "argmax");
  require_i32(out, "argmax");
  DeviceGuard guard(device_index_);
  kernels::argmax(x.raw_data(), x.dtype(), rows_of(x), last_extent(x), out.data<std::int32_t>(),
                  stream());
}

// ---- metrics

void CudaBackend::accuracy_count(backend::AccuracyKind kind, const Tensor& y_pred,
                                 const Tensor& y_true, Tensor& correct) {
  require_f32(y_pred, "accuracy_count");
  require_f32(correct, "accuracy_count");
  DeviceGuard guard(device_index_);
  if (kind == backend::AccuracyKind::binary) {
    require_f32(y_true, "accuracy_count");
    kernels::accuracy_binary(y_pred.data<float>(), y_true.data<float>(), y_pred.numel(),
                             correct.data<float>(), stream());
    return;
  }
  const bool labels = kind == backend::AccuracyKind::sparse_categorical;
  if (labels) {
    require_i32(y_true, "accuracy_count");
  } else {
    require_f32(y_true, "accuracy_count");
  }
  kernels::accuracy_rows(y_pred.data<float>(), labels ? nullptr : y_true.data<float>(),
                         labels ? y_true.data<std::int32_t>() : nullptr, rows_of(y_pred),
                         last_extent(y_pred), correct.data<float>(), stream());
}

// ---- randomness

void CudaBackend::dropout_mask(Tensor& mask, double rate, std::uint64_t seed) {
  require_f32(mask, "dropout_mask");
  DeviceGuard guard(device_index_);
  kernels::dropout_mask(mask.data<float>(), mask.numel(), rate, seed, stream());
}

// ---- data

void CudaBackend::gather_rows(const Tensor& src, const Tensor& indices, Tensor& dst) {
  require_i32(indices, "gather_rows");
  const std::int64_t count = indices.numel();
  if (count == 0 || src.numel() == 0) return;
  const std::size_t row_bytes = src.nbytes() / static_cast<std::size_t>(src.dim(0));
  DeviceGuard guard(device_index_);
  kernels::gather_rows(src.raw_data(), indices.data<std::int32_t>(), dst.raw_data(), count,
                       row_bytes, stream());
}

void CudaBackend::one_hot(const Tensor& labels, Tensor& out) {
  require_i32(labels, "one_hot");
  require_f32(out, "one_hot");
  const std::int64_t rows = labels.numel();
  const std::int64_t classes = rows == 0 ? 0 : out.numel() / rows;
  DeviceGuard guard(device_index_);
  kernels::one_hot(labels.data<std::int32_t>(), out.data<float>(), rows, classes, stream());
}

}  // namespace kiln::cuda
