// conv2d: shape checks, geometry, and the backward step (data, filter, bias).
#include "autograd/record.h"
#include "kiln/ops.h"
#include "ops/fused_ops.h"
#include "ops/op_helpers.h"

namespace kiln {

namespace {

backend::Conv2dGeometry conv_geometry(const Tensor& x, const Tensor& kernel, Size2 strides,
                                      const Padding& padding) {
  const char* op = "conv2d";
  ops::check_rank(op, x, 4, "input");
  ops::check_floating(op, x, "input");
  ops::check_rank(op, kernel, 4, "kernel");
  ops::check_compatible(op, x, kernel, "kernel");
  ops::check_window(op, Size2(kernel.dim(0), kernel.dim(1)), strides, padding);
  KILN_CHECK(kernel.dim(3) >= 1, "conv2d: kernel {} has no output channels",
             shape_str(kernel.shape()));
  KILN_CHECK(
      kernel.dim(2) == x.dim(3),
      "conv2d: input {} has {} channels but kernel {} expects {} (kernel is (kh, kw, in, out))",
      shape_str(x.shape()), x.dim(3), shape_str(kernel.shape()), kernel.dim(2));
  return ops::window_geometry(op, x, Size2(kernel.dim(0), kernel.dim(1)), kernel.dim(3), strides,
                              padding);
}

}  // namespace

namespace ops {

backend::Conv2dGeometry window_geometry(const char* op, const Tensor& x, Size2 kernel,
                                        std::int64_t outputs, Size2 strides,
                                        const Padding& padding) {
  const WindowAxis rows = window_axis(x.dim(1), kernel.h, strides.h, padding, true);
  const WindowAxis cols = window_axis(x.dim(2), kernel.w, strides.w, padding, false);
  KILN_CHECK(rows.output > 0 && cols.output > 0,
             "{}: kernel {}x{} is larger than the padded input: input {}, padding {}", op, kernel.h,
             kernel.w, shape_str(x.shape()), padding.str());
  backend::Conv2dGeometry g;
  g.n = x.dim(0), g.h = x.dim(1), g.w = x.dim(2), g.c = x.dim(3);
  g.kh = kernel.h, g.kw = kernel.w, g.o = outputs;
  g.oh = rows.output, g.ow = cols.output;
  g.stride_h = strides.h, g.stride_w = strides.w;
  g.pad_top = rows.pad_before, g.pad_left = cols.pad_before;
  return g;
}

}  // namespace ops

Tensor conv2d(const Tensor& x, const Tensor& kernel, const Tensor& bias, Size2 strides,
              const Padding& padding) {
  return ops::conv2d_activation(x, kernel, bias, strides, padding, std::nullopt);
}

namespace ops {

Tensor conv2d_activation(const Tensor& x, const Tensor& kernel, const Tensor& bias, Size2 strides,
                         const Padding& padding, std::optional<backend::Pointwise> f) {
  const backend::Conv2dGeometry g = conv_geometry(x, kernel, strides, padding);
  if (bias.defined()) {
    check_compatible("conv2d", x, bias, "bias");
    KILN_CHECK(bias.rank() == 1 && bias.dim(0) == g.o,
               "conv2d: bias must have shape ({},) for kernel {}, found {}", g.o,
               shape_str(kernel.shape()), shape_str(bias.shape()));
  }
  backend::Backend& be = backend_of(x);
  Tensor y = empty_as(x, {g.n, g.oh, g.ow, g.o});
  be.conv2d_forward_fused(g, x, kernel, bias, f, y);

  std::vector<Tensor> inputs{x, kernel};
  if (bias.defined()) inputs.push_back(bias);
  // The step holds y only when it needs it for the activation's slope.
  const Tensor output = f ? y : Tensor();
  autograd::record(fused_op_name("conv2d", f), std::move(inputs), y,
                   [g, x, kernel, f, output](const Tensor& dy, const std::vector<bool>& needed) {
                     std::vector<Tensor> grads(needed.size());
                     if (needed[0]) grads[0] = empty_like(x);
                     if (needed[1]) grads[1] = empty_like(kernel);
                     if (needed.size() == 3 && needed[2]) grads[2] = empty_as(dy, {g.o});
                     Tensor none;
                     backend_of(dy).conv2d_backward_fused(g, x, kernel, output, dy, f, grads[0],
                                                          grads[1],
                                                          grads.size() == 3 ? grads[2] : none);
                     return grads;
                   });
  return y;
}

}  // namespace ops

}  // namespace kiln
