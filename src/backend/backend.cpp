// The Backend methods with a default: compositions of other kernels that a backend may replace
// with fused ones (the CPU does for conv2d, CUDA for dense; each uses the others' defaults).
#include "backend/backend.h"

#include "core/check.h"

namespace kiln::backend {

void check_adam_step(const AdamStep& step, Device device, const char* who) {
  const auto scalar_on_device = [&](const Tensor& t, DType dtype) {
    return t.defined() && t.dtype() == dtype && t.numel() == 1 && t.device() == device;
  };
  KILN_CHECK(
      scalar_on_device(step.step, DType::i32) && scalar_on_device(step.learning_rate, DType::f64),
      "{}: expected the step counter (int32) and the learning rate (float64), one element "
      "each, on {}; found {} and {}",
      who, device.str(), step.step.str(), step.learning_rate.str());
}

Backend::Capture Backend::capture(const std::function<void()>& /*work*/) {
  return {nullptr, "the " + device().str() + " backend does not capture graphs"};
}

void Backend::bias_activation_forward(Tensor& y, const Tensor& bias, Pointwise f) {
  if (bias.defined()) add_bias(y, bias);
  pointwise_forward(f, y, y);  // elementwise, so in place is safe on every backend
}

void Backend::bias_activation_backward(Pointwise f, const Tensor& y, const Tensor& dy, Tensor& dz,
                                       Tensor& dbias) {
  pointwise_backward(f, y, dy, dz);
  if (dbias.defined()) bias_backward(dz, dbias);
}

void Backend::epilogue_forward(Tensor& y, const Tensor& bias, std::optional<Pointwise> f) {
  if (f) {
    bias_activation_forward(y, bias, *f);
  } else if (bias.defined()) {
    add_bias(y, bias);
  }
}

Tensor Backend::epilogue_backward(std::optional<Pointwise> f, const Tensor& y, const Tensor& dy,
                                  Tensor& dbias) {
  if (!f) {
    if (dbias.defined()) bias_backward(dy, dbias);
    return dy;
  }
  Tensor dz = Tensor::empty(dy.shape(), dy.dtype(), dy.device());
  bias_activation_backward(*f, y, dy, dz, dbias);
  return dz;
}

void Backend::conv2d_forward_fused(const Conv2dGeometry& g, const Tensor& x, const Tensor& w,
                                   const Tensor& bias, std::optional<Pointwise> f, Tensor& y) {
  conv2d_forward(g, x, w, y);
  epilogue_forward(y, bias, f);
}

void Backend::conv2d_backward_fused(const Conv2dGeometry& g, const Tensor& x, const Tensor& w,
                                    const Tensor& y, const Tensor& dy, std::optional<Pointwise> f,
                                    Tensor& dx, Tensor& dw, Tensor& dbias) {
  const Tensor dz = epilogue_backward(f, y, dy, dbias);
  if (dx.defined()) conv2d_backward_data(g, dz, w, dx);
  if (dw.defined()) conv2d_backward_filter(g, x, dz, dw);
}

void Backend::dense_forward_fused(const Tensor& x, const Tensor& kernel, const Tensor& bias,
                                  std::optional<Pointwise> f, Tensor& y) {
  gemm(false, false, 1.0, x, kernel, 0.0, y);
  epilogue_forward(y, bias, f);
}

void Backend::dense_backward_fused(const Tensor& x, const Tensor& kernel, const Tensor& y,
                                   const Tensor& dy, std::optional<Pointwise> f, Tensor& dx,
                                   Tensor& dkernel, Tensor& dbias) {
  const Tensor dz = epilogue_backward(f, y, dy, dbias);
  if (dx.defined()) gemm(false, true, 1.0, dz, kernel, 0.0, dx);
  if (dkernel.defined()) gemm(true, false, 1.0, x, dz, 0.0, dkernel);
}

// The kernels of imported graphs, on a backend that has none of its own.
namespace {
[[noreturn]] void no_graph_kernel(const Backend& backend, const char* kernel) {
  fail("{}: not implemented on {} (imported graphs run on the CPU and CUDA backends)", kernel,
       backend.device().str());
}
}  // namespace

void Backend::broadcast_binary(BinaryOp, const Tensor&, const Tensor&, Tensor&) {
  no_graph_kernel(*this, "broadcast_binary");
}
void Backend::spatial_mean(const Tensor&, Tensor&) { no_graph_kernel(*this, "spatial_mean"); }
void Backend::resize_bilinear_mode(const Tensor&, ResizeMode, Tensor&) {
  no_graph_kernel(*this, "resize_bilinear_mode");
}
void Backend::top_k(const Tensor&, Tensor&, Tensor&) { no_graph_kernel(*this, "top_k"); }
void Backend::strided_slice(const Tensor&, const std::vector<std::int64_t>&,
                            const std::vector<std::int64_t>&, Tensor&) {
  no_graph_kernel(*this, "strided_slice");
}

void Backend::hard_swish(const Tensor& x, double scale, double shift, Tensor& y) {
  const auto scalar = [&](double value) { return Tensor::full({}, value, x.dtype(), x.device()); };
  Tensor scaled = Tensor::empty(x.shape(), x.dtype(), x.device());
  Tensor shifted = Tensor::empty(x.shape(), x.dtype(), x.device());
  Tensor clipped = Tensor::empty(x.shape(), x.dtype(), x.device());
  broadcast_binary(BinaryOp::multiply, x, scalar(scale), scaled);
  broadcast_binary(BinaryOp::add, x, scalar(shift), shifted);
  general_relu_forward(GeneralRelu{0.0, 0.0, 6.0}, shifted, clipped);
  broadcast_binary(BinaryOp::multiply, scaled, clipped, y);
}

}  // namespace kiln::backend
