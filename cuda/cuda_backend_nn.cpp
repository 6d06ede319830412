// CudaBackend, part 2: GEMM (cuBLAS), bias, Dense with fused epilogues (cuBLASLt), convolution
// (cuDNN; Conv2D's bias and ReLU fused through its graph API), pooling (forward through cuDNN or
// kiln's kernels, backward on kiln's), fused losses and the multi-tensor optimizers.
// Gradients are assigned (=) except where backend.h says "+=" (add_bias).
#include <cmath>
#include <cstdint>
#include <optional>
#include <vector>

#include "core/check.h"
#include "cublas_gemm.h"
#include "cuda_api.h"
#include "kiln/device.h"
#include "cuda_backend.h"
#include "cudnn_pool.h"
#include "device_buffer.h"
#include "device_guard.h"
#include "kernels/bias.cuh"
#include "kernels/losses.cuh"
#include "kernels/optimizers.cuh"
#include "kernels/pool.cuh"
#include "tensor_checks.h"

namespace kiln::cuda {

namespace {

kernels::PoolKind pool_kind(backend::PoolMode mode) {
  switch (mode) {
    case backend::PoolMode::max: return kernels::PoolKind::max;
    case backend::PoolMode::min: return kernels::PoolKind::min;
    case backend::PoolMode::avg: return kernels::PoolKind::avg;
  }
  fail("unknown pooling mode {}", static_cast<int>(mode));
}

kernels::PoolShape pool_shape(const backend::Pool2dGeometry& g) {
  kernels::PoolShape s;
  s.n = g.n;
  s.h = g.h;
  s.w = g.w;
  s.c = g.c;
  s.ph = g.ph;
  s.pw = g.pw;
  s.oh = g.oh;
  s.ow = g.ow;
  s.stride_h = g.stride_h;
  s.stride_w = g.stride_w;
  s.pad_top = g.pad_top;
  s.pad_left = g.pad_left;
  return s;
}

// One-hot weights (f32, same shape as the logits) or i32 labels.
struct Targets {
  const float* weights = nullptr;
  const std::int32_t* labels = nullptr;
};

Targets targets_of(const Tensor& target, const char* op) {
  Targets t;
  if (target.dtype() == DType::i32) {
    t.labels = target.data<std::int32_t>();
  } else {
    require_f32(target, op);
    t.weights = target.data<float>();
  }
  return t;
}

}  // namespace

// ---- matrices

void CudaBackend::gemm(bool transpose_a, bool transpose_b, double alpha, const Tensor& a,
                       const Tensor& b, double beta, Tensor& c) {
  require_f32(a, "gemm");
  require_f32(b, "gemm");
  require_f32(c, "gemm");
  KILN_CHECK(a.rank() == 2 && b.rank() == 2 && c.rank() == 2,
             "gemm on {}: expected 2-D matrices, found ranks {}, {}, {}", device().str(), a.rank(),
             b.rank(), c.rank());
  DeviceGuard guard(device_index_);
  gemm_f32(device_index_, allocator_, stream(), transpose_a, transpose_b, c.dim(0), c.dim(1),
           transpose_a ? a.dim(0) : a.dim(1), static_cast<float>(alpha), a.data<float>(),
           b.data<float>(), static_cast<float>(beta), c.data<float>(), tf32_allowed());
}

void CudaBackend::add_bias(Tensor& y, const Tensor& bias) {
  require_f32(y, "add_bias");
  require_f32(bias, "add_bias");
  const std::int64_t k = bias.numel();
  if (k == 0) return;
  DeviceGuard guard(device_index_);
  kernels::add_bias(y.data<float>(), bias.data<float>(), y.numel() / k, k, stream());
}

void CudaBackend::bias_backward(const Tensor& dy, Tensor& dbias) {
  require_f32(dy, "bias_backward");
  require_f32(dbias, "bias_backward");
  const std::int64_t k = dbias.numel();
  if (k == 0) return;
  const std::int64_t rows = dy.numel() / k;
  DeviceGuard guard(device_index_);
  DeviceBuffer partials(allocator_, kernels::bias_backward_workspace_bytes(rows, k));
  kernels::bias_backward(dy.data<float>(), dbias.data<float>(), rows, k, partials.get(), stream());
}

// ---- Dense (Note [Dense through cuBLASLt] in cublaslt_dense.cpp): the bias and the ReLU in the
// forward GEMM's epilogue, the bias gradient in the kernel-gradient GEMM's; other activations,
// and problems cuBLASLt offers no algorithm for, take the composed default.

LtTarget CudaBackend::lt_target() { return {device_index_, &allocator_, stream(), tf32_allowed()}; }

void CudaBackend::dense_forward_fused(const Tensor& x, const Tensor& kernel, const Tensor& bias,
                                      std::optional<backend::Pointwise> f, Tensor& y) {
  require_f32(x, "dense");
  require_f32(kernel, "dense");
  require_f32(y, "dense");
  if (bias.defined()) require_f32(bias, "dense");
  const bool relu = f == backend::Pointwise::relu;
  if (!f || relu) {
    DeviceGuard guard(device_index_);
    if (dense_forward_lt(lt_target(), x.dim(0), x.dim(1), kernel.dim(1), x.data<float>(),
                         kernel.data<float>(), bias.defined() ? bias.data<float>() : nullptr, relu,
                         y.data<float>())) {
      return;
    }
  }
  Backend::dense_forward_fused(x, kernel, bias, f, y);
}

void CudaBackend::dense_backward_fused(const Tensor& x, const Tensor& kernel, const Tensor& y,
                                       const Tensor& dy, std::optional<backend::Pointwise> f,
                                       Tensor& dx, Tensor& dkernel, Tensor& dbias) {
  if (f && *f != backend::Pointwise::relu) {
    Backend::dense_backward_fused(x, kernel, y, dy, f, dx, dkernel, dbias);
    return;
  }
  require_f32(dy, "dense backward");
  Tensor dz = dy;  // d loss / d (x kernel + bias)
  if (f) {
    dz = Tensor::empty(dy.shape(), dy.dtype(), dy.device());
    Tensor no_bias_gradient;
    bias_activation_backward(*f, y, dy, dz, no_bias_gradient);
  }
  if (dx.defined()) gemm(false, true, 1.0, dz, kernel, 0.0, dx);
  bool bias_done = false;
  if (dkernel.defined()) {
    require_f32(dkernel, "dense backward");
    DeviceGuard guard(device_index_);
    float* bias_gradient = dbias.defined() ? dbias.data<float>() : nullptr;
    if (dense_kernel_gradient_lt(lt_target(), x.dim(0), x.dim(1), kernel.dim(1), x.data<float>(),
                                 dz.data<float>(), dkernel.data<float>(), bias_gradient)) {
      bias_done = true;
    } else {
      gemm(true, false, 1.0, x, dz, 0.0, dkernel);
    }
  }
  if (dbias.defined() && !bias_done) bias_backward(dz, dbias);
}

// ---- convolution

void CudaBackend::conv2d_forward(const backend::Conv2dGeometry& g, const Tensor& x, const Tensor& w,
                                 Tensor& y) {
  require_f32(x, "conv2d_forward");
  require_f32(w, "conv2d_forward");
  require_f32(y, "conv2d_forward");
  convolutions_.forward(g, x.data<float>(), w.data<float>(), y.data<float>());
}

// Conv2D with activation ReLU or none: the bias and the ReLU fused with the convolution through
// cuDNN's graph API (Note [Fused convolution plans] in cudnn_graph_conv.cpp); other activations,
// and problems cuDNN offers no plan for, take the composed default. The backward pass is the
// default's: the ReLU's gradient from the fused output (y > 0), then the legacy data / filter
// gradients.
void CudaBackend::conv2d_forward_fused(const backend::Conv2dGeometry& g, const Tensor& x,
                                       const Tensor& w, const Tensor& bias,
                                       std::optional<backend::Pointwise> f, Tensor& y) {
  require_f32(x, "conv2d");
  require_f32(w, "conv2d");
  require_f32(y, "conv2d");
  if (bias.defined()) require_f32(bias, "conv2d");
  const bool relu = f == backend::Pointwise::relu;
  if ((!f || relu) && convolutions_.forward_fused(g, x.data<float>(), w.data<float>(),
                                                  bias.defined() ? bias.data<float>() : nullptr,
                                                  relu, y.data<float>())) {
    return;
  }
  Backend::conv2d_forward_fused(g, x, w, bias, f, y);
}

void CudaBackend::conv2d_backward_data(const backend::Conv2dGeometry& g, const Tensor& dy,
                                       const Tensor& w, Tensor& dx) {
  require_f32(dy, "conv2d_backward_data");
  require_f32(w, "conv2d_backward_data");
  require_f32(dx, "conv2d_backward_data");
  convolutions_.backward_data(g, dy.data<float>(), w.data<float>(), dx.data<float>());
}

void CudaBackend::conv2d_backward_filter(const backend::Conv2dGeometry& g, const Tensor& x,
                                         const Tensor& dy, Tensor& dw) {
  require_f32(x, "conv2d_backward_filter");
  require_f32(dy, "conv2d_backward_filter");
  require_f32(dw, "conv2d_backward_filter");
  convolutions_.backward_filter(g, x.data<float>(), dy.data<float>(), dw.data<float>());
}

// ---- pooling

void CudaBackend::pool2d_forward(backend::PoolMode mode, const backend::Pool2dGeometry& g,
                                 const Tensor& x, Tensor& y, Tensor& winners) {
  require_f32(x, "pool2d_forward");
  require_f32(y, "pool2d_forward");
  const bool keep_winners = mode != backend::PoolMode::avg && winners.defined();
  if (keep_winners) require_i32(winners, "pool2d_forward");
  DeviceGuard guard(device_index_);
  if (cudnn_pooling_supports(mode, g, keep_winners)) {
    cudnn_pool_forward(device_index_, stream(), mode, g, x.data<float>(), y.data<float>());
  } else {
    kernels::pool2d_forward(pool_kind(mode), pool_shape(g), x.data<float>(), y.data<float>(),
                            keep_winners ? winners.data<std::int32_t>() : nullptr, stream());
  }
}

void CudaBackend::pool2d_backward(backend::PoolMode mode, const backend::Pool2dGeometry& g,
                                  const Tensor& winners, const Tensor& dy, Tensor& dx) {
  require_f32(dy, "pool2d_backward");
  require_f32(dx, "pool2d_backward");
  const bool use_winners = mode != backend::PoolMode::avg;
  if (use_winners) require_i32(winners, "pool2d_backward");
  DeviceGuard guard(device_index_);
  kernels::pool2d_backward(pool_kind(mode), pool_shape(g),
                           use_winners ? winners.data<std::int32_t>() : nullptr, dy.data<float>(),
                           dx.data<float>(), stream());
}

// ---- losses

void CudaBackend::softmax_cross_entropy_forward(const Tensor& logits, const Tensor& target,
                                                Tensor& probs, Tensor& loss) {
  const char* op = "softmax_cross_entropy_forward";
  require_f32(logits, op);
  require_f32(probs, op);
  require_f32(loss, op);
  const Targets t = targets_of(target, op);
  DeviceGuard guard(device_index_);
  kernels::softmax_cross_entropy_forward(logits.data<float>(), t.weights, t.labels,
                                         probs.data<float>(), loss.data<float>(), rows_of(logits),
                                         last_extent(logits), stream());
}

void CudaBackend::softmax_cross_entropy_backward(const Tensor& probs, const Tensor& target,
                                                 const Tensor& dloss, Tensor& dlogits) {
  const char* op = "softmax_cross_entropy_backward";
  require_f32(probs, op);
  require_f32(dloss, op);
  require_f32(dlogits, op);
  const Targets t = targets_of(target, op);
  DeviceGuard guard(device_index_);
  kernels::softmax_cross_entropy_backward(probs.data<float>(), t.weights, t.labels,
                                          dloss.data<float>(), dlogits.data<float>(),
                                          rows_of(probs), last_extent(probs), stream());
}

void CudaBackend::sigmoid_cross_entropy_forward(const Tensor& logits, const Tensor& target,
                                                Tensor& loss) {
  const char* op = "sigmoid_cross_entropy_forward";
  require_f32(logits, op);
  require_f32(target, op);
  require_f32(loss, op);
  DeviceGuard guard(device_index_);
  kernels::sigmoid_cross_entropy_forward(logits.data<float>(), target.data<float>(),
                                         loss.data<float>(), logits.numel(), stream());
}

void CudaBackend::sigmoid_cross_entropy_backward(const Tensor& logits, const Tensor& target,
                                                 const Tensor& dloss, Tensor& dlogits) {
  const char* op = "sigmoid_cross_entropy_backward";
  require_f32(logits, op);
  require_f32(target, op);
  require_f32(dloss, op);
  require_f32(dlogits, op);
  DeviceGuard guard(device_index_);
  kernels::sigmoid_cross_entropy_backward(logits.data<float>(), target.data<float>(),
                                          dloss.data<float>(), dlogits.data<float>(),
                                          logits.numel(), stream());
}

// ---- optimizers

void CudaBackend::adam_update(std::span<Tensor> params, std::span<const Tensor> grads,
                              std::span<Tensor> m, std::span<Tensor> v,
                              const backend::AdamStep& step) {
  KILN_CHECK(
      grads.size() == params.size() && m.size() == params.size() && v.size() == params.size(),
      "adam_update on {}: expected as many gradients and moments as parameters ({}), "
      "found {}, {}, {}",
      device().str(), params.size(), grads.size(), m.size(), v.size());
  const std::size_t count = params.size();
  std::vector<float*> p(count), first(count), second(count);
  std::vector<const float*> g(count);
  std::vector<std::int64_t> sizes(count);
  for (std::size_t i = 0; i < count; ++i) {
    require_f32(params[i], "adam_update");
    require_f32(grads[i], "adam_update");
    require_f32(m[i], "adam_update");
    require_f32(v[i], "adam_update");
    p[i] = params[i].data<float>();
    g[i] = grads[i].data<float>();
    first[i] = m[i].data<float>();
    second[i] = v[i].data<float>();
    sizes[i] = params[i].numel();
  }
  backend::check_adam_step(step, device(), "adam_update");
  kernels::AdamScalars s;
  s.beta1 = step.beta1;
  s.beta2 = step.beta2;
  s.b1 = static_cast<float>(step.beta1);
  s.b2 = static_cast<float>(step.beta2);
  Tensor counter = step.step;
  s.step = counter.data<std::int32_t>();
  s.learning_rate = step.learning_rate.data<double>();
  s.one_minus_beta1 = static_cast<float>(1.0 - step.beta1);
  s.one_minus_beta2 = static_cast<float>(1.0 - step.beta2);
  s.epsilon = static_cast<float>(step.epsilon);
  DeviceGuard guard(device_index_);
  kernels::adam_update(static_cast<int>(count), p.data(), g.data(), first.data(), second.data(),
                       sizes.data(), s, stream());
}

void CudaBackend::sgd_update(std::span<Tensor> params, std::span<const Tensor> grads,
                             std::span<Tensor> velocity, const backend::SgdStep& step) {
  KILN_CHECK(
      grads.size() == params.size() && (velocity.empty() || velocity.size() == params.size()),
      "sgd_update on {}: expected {} gradients and 0 or {} velocities, found {} and {}",
      device().str(), params.size(), params.size(), grads.size(), velocity.size());
  const std::size_t count = params.size();
  std::vector<float*> p(count), vel(count);
  std::vector<const float*> g(count);
  std::vector<std::int64_t> sizes(count);
  for (std::size_t i = 0; i < count; ++i) {
    const bool has_velocity = !velocity.empty() && velocity[i].defined();
    KILN_CHECK(has_velocity || step.momentum == 0.0,
               "sgd_update on {}: momentum {} needs a velocity tensor for parameter {}",
               device().str(), step.momentum, i);
    require_f32(params[i], "sgd_update");
    require_f32(grads[i], "sgd_update");
    p[i] = params[i].data<float>();
    g[i] = grads[i].data<float>();
    if (has_velocity) require_f32(velocity[i], "sgd_update");
    vel[i] = has_velocity ? velocity[i].data<float>() : nullptr;
    sizes[i] = params[i].numel();
  }
  kernels::SgdScalars s;
  s.learning_rate = static_cast<float>(step.learning_rate);
  s.momentum = static_cast<float>(step.momentum);
  s.nesterov = step.nesterov;
  DeviceGuard guard(device_index_);
  kernels::sgd_update(static_cast<int>(count), p.data(), g.data(), vel.data(), sizes.data(), s,
                      stream());
}

}  // namespace kiln::cuda
