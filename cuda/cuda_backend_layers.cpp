// CudaBackend, part 3: the kernels of the layers added for Keras files (general ReLU, maximum,
// per-channel affine map, 1/sqrt(x + eps), bilinear resize, depthwise convolution); see
// backend.h for their contracts.
#include "core/check.h"
#include "cuda_backend.h"
#include "device_guard.h"
#include "kernels/layer_elementwise.cuh"
#include "kernels/spatial.cuh"
#include "tensor_checks.h"

namespace kiln::cuda {

namespace {

kernels::Smooth smooth_of(backend::SmoothActivation f) {
  switch (f) {
    case backend::SmoothActivation::elu: return kernels::Smooth::elu;
    case backend::SmoothActivation::selu: return kernels::Smooth::selu;
    case backend::SmoothActivation::softplus: return kernels::Smooth::softplus;
    case backend::SmoothActivation::softsign: return kernels::Smooth::softsign;
    case backend::SmoothActivation::gelu: return kernels::Smooth::gelu;
    case backend::SmoothActivation::exponential: return kernels::Smooth::exponential;
    case backend::SmoothActivation::mish: return kernels::Smooth::mish;
  }
  fail("smooth_of: unknown activation");
}

kernels::GeneralReluParams params_of(const backend::GeneralRelu& f) {
  return {static_cast<float>(f.negative_slope), static_cast<float>(f.threshold),
          static_cast<float>(f.max_value)};
}

kernels::ResizeShape resize_shape(const Tensor& small, const Tensor& large) {
  return {small.dim(0), small.dim(1), small.dim(2), small.dim(3), large.dim(1), large.dim(2)};
}

kernels::DepthwiseShape depthwise_shape(const backend::Conv2dGeometry& g) {
  kernels::DepthwiseShape s;
  s.n = g.n;
  s.h = g.h;
  s.w = g.w;
  s.c = g.c;
  s.m = g.c == 0 ? 0 : g.o / g.c;
  s.kh = g.kh;
  s.kw = g.kw;
  s.oh = g.oh;
  s.ow = g.ow;
  s.stride_h = g.stride_h;
  s.stride_w = g.stride_w;
  s.pad_top = g.pad_top;
  s.pad_left = g.pad_left;
  return s;
}

}  // namespace

void CudaBackend::general_relu_forward(const backend::GeneralRelu& f, const Tensor& x, Tensor& y) {
  require_f32(x, "general_relu_forward");
  require_f32(y, "general_relu_forward");
  DeviceGuard guard(device_index_);
  kernels::general_relu_forward(params_of(f), x.data<float>(), y.data<float>(), y.numel(),
                                stream());
}

void CudaBackend::smooth_activation_forward(backend::SmoothActivation f, const Tensor& x,
                                            Tensor& y) {
  require_f32(x, "smooth_activation_forward");
  require_f32(y, "smooth_activation_forward");
  DeviceGuard guard(device_index_);
  kernels::smooth_activation_forward(smooth_of(f), x.data<float>(), y.data<float>(), y.numel(),
                                     stream());
}

void CudaBackend::smooth_activation_backward(backend::SmoothActivation f, const Tensor& x,
                                             const Tensor& dy, Tensor& dx) {
  require_f32(x, "smooth_activation_backward");
  require_f32(dy, "smooth_activation_backward");
  require_f32(dx, "smooth_activation_backward");
  DeviceGuard guard(device_index_);
  kernels::smooth_activation_backward(smooth_of(f), x.data<float>(), dy.data<float>(),
                                      dx.data<float>(), dx.numel(), stream());
}

void CudaBackend::general_relu_backward(const backend::GeneralRelu& f, const Tensor& x,
                                        const Tensor& dy, Tensor& dx) {
  require_f32(x, "general_relu_backward");
  require_f32(dy, "general_relu_backward");
  require_f32(dx, "general_relu_backward");
  DeviceGuard guard(device_index_);
  kernels::general_relu_backward(params_of(f), x.data<float>(), dy.data<float>(), dx.data<float>(),
                                 dx.numel(), stream());
}

void CudaBackend::maximum(const Tensor& a, const Tensor& b, Tensor& out) {
  require_f32(a, "maximum");
  require_f32(b, "maximum");
  require_f32(out, "maximum");
  DeviceGuard guard(device_index_);
  kernels::maximum(a.data<float>(), b.data<float>(), out.data<float>(), out.numel(), stream());
}

void CudaBackend::maximum_backward(const Tensor& a, const Tensor& b, const Tensor& dy, Tensor& da,
                                   Tensor& db) {
  require_f32(a, "maximum_backward");
  require_f32(b, "maximum_backward");
  require_f32(dy, "maximum_backward");
  require_f32(da, "maximum_backward");
  require_f32(db, "maximum_backward");
  DeviceGuard guard(device_index_);
  kernels::maximum_backward(a.data<float>(), b.data<float>(), dy.data<float>(), da.data<float>(),
                            db.data<float>(), dy.numel(), stream());
}

void CudaBackend::channel_affine(const Tensor& x, const Tensor& scale, const Tensor& shift,
                                 Tensor& y) {
  require_f32(x, "channel_affine");
  require_f32(scale, "channel_affine");
  if (shift.defined()) require_f32(shift, "channel_affine");
  require_f32(y, "channel_affine");
  const std::int64_t channels = scale.numel();
  const std::int64_t rows = channels == 0 ? 0 : y.numel() / channels;
  DeviceGuard guard(device_index_);
  kernels::channel_affine(x.data<float>(), scale.data<float>(),
                          shift.defined() ? shift.data<float>() : nullptr, y.data<float>(), rows,
                          channels, stream());
}

void CudaBackend::inverse_sqrt(const Tensor& x, double epsilon, Tensor& y) {
  require_f32(x, "inverse_sqrt");
  require_f32(y, "inverse_sqrt");
  DeviceGuard guard(device_index_);
  kernels::inverse_sqrt(x.data<float>(), static_cast<float>(epsilon), y.data<float>(), y.numel(),
                        stream());
}

void CudaBackend::resize_bilinear_forward(const Tensor& x, Tensor& y) {
  require_f32(x, "resize_bilinear_forward");
  require_f32(y, "resize_bilinear_forward");
  DeviceGuard guard(device_index_);
  kernels::resize_bilinear_forward(resize_shape(x, y), x.data<float>(), y.data<float>(), stream());
}

void CudaBackend::resize_bilinear_backward(const Tensor& dy, Tensor& dx) {
  require_f32(dy, "resize_bilinear_backward");
  require_f32(dx, "resize_bilinear_backward");
  DeviceGuard guard(device_index_);
  kernels::resize_bilinear_backward(resize_shape(dx, dy), dy.data<float>(), dx.data<float>(),
                                    stream());
}

void CudaBackend::depthwise_conv2d_forward(const backend::Conv2dGeometry& g, const Tensor& x,
                                           const Tensor& w, Tensor& y) {
  require_f32(x, "depthwise_conv2d_forward");
  require_f32(w, "depthwise_conv2d_forward");
  require_f32(y, "depthwise_conv2d_forward");
  DeviceGuard guard(device_index_);
  kernels::depthwise_conv2d_forward(depthwise_shape(g), x.data<float>(), w.data<float>(),
                                    y.data<float>(), stream());
}

void CudaBackend::depthwise_conv2d_backward_data(const backend::Conv2dGeometry& g, const Tensor& dy,
                                                 const Tensor& w, Tensor& dx) {
  require_f32(dy, "depthwise_conv2d_backward_data");
  require_f32(w, "depthwise_conv2d_backward_data");
  require_f32(dx, "depthwise_conv2d_backward_data");
  DeviceGuard guard(device_index_);
  kernels::depthwise_conv2d_backward_data(depthwise_shape(g), dy.data<float>(), w.data<float>(),
                                          dx.data<float>(), stream());
}

void CudaBackend::depthwise_conv2d_backward_filter(const backend::Conv2dGeometry& g,
                                                   const Tensor& x, const Tensor& dy, Tensor& dw) {
  require_f32(x, "depthwise_conv2d_backward_filter");
  require_f32(dy, "depthwise_conv2d_backward_filter");
  require_f32(dw, "depthwise_conv2d_backward_filter");
  DeviceGuard guard(device_index_);
  kernels::depthwise_conv2d_backward_filter(depthwise_shape(g), x.data<float>(), dy.data<float>(),
                                            dw.data<float>(), stream());
}

}  // namespace kiln::cuda
