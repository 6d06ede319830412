// conv2d: shape checks, geometry, and the backward step (data, filter, bias).
#include "autograd/record.h"
#include "kiln/ops.h"
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
  KILN_CHECK(kernel.dim(3) >= 1, "conv2d: kernel {} has no output channels", shape_str(kernel.shape()));
  KILN_CHECK(kernel.dim(2) == x.dim(3),
             "conv2d: input {} has {} channels but kernel {} expects {} (kernel is (kh, kw, in, out))",
             shape_str(x.shape()), x.dim(3), shape_str(kernel.shape()), kernel.dim(2));
  const WindowAxis rows = window_axis(x.dim(1), kernel.dim(0), strides.h, padding, true);
  const WindowAxis cols = window_axis(x.dim(2), kernel.dim(1), strides.w, padding, false);
  KILN_CHECK(rows.output > 0 && cols.output > 0,
             "conv2d: kernel {}x{} is larger than the padded input: input {}, padding {}",
             kernel.dim(0), kernel.dim(1), shape_str(x.shape()), padding.str());
  backend::Conv2dGeometry g;
  g.n = x.dim(0), g.h = x.dim(1), g.w = x.dim(2), g.c = x.dim(3);
  g.kh = kernel.dim(0), g.kw = kernel.dim(1), g.o = kernel.dim(3);
  g.oh = rows.output, g.ow = cols.output;
  g.stride_h = strides.h, g.stride_w = strides.w;
  g.pad_top = rows.pad_before, g.pad_left = cols.pad_before;
  return g;
}

}  // namespace

Tensor conv2d(const Tensor& x, const Tensor& kernel, const Tensor& bias, Size2 strides,
              const Padding& padding) {
  const backend::Conv2dGeometry g = conv_geometry(x, kernel, strides, padding);
  const bool has_bias = bias.defined();
  if (has_bias) {
    ops::check_compatible("conv2d", x, bias, "bias");
    KILN_CHECK(bias.rank() == 1 && bias.dim(0) == g.o,
               "conv2d: bias must have shape ({},) for kernel {}, found {}", g.o,
               shape_str(kernel.shape()), shape_str(bias.shape()));
  }
  backend::Backend& be = ops::backend_of(x);
  Tensor y = ops::empty_as(x, {g.n, g.oh, g.ow, g.o});
  be.conv2d_forward(g, x, kernel, y);
  if (has_bias) be.add_bias(y, bias);

  std::vector<Tensor> inputs{x, kernel};
  if (has_bias) inputs.push_back(bias);
  autograd::record("conv2d", std::move(inputs), y,
                   [g, x, kernel, has_bias](const Tensor& dy, const std::vector<bool>& needed) {
                     backend::Backend& b = ops::backend_of(dy);
                     std::vector<Tensor> grads(has_bias ? 3 : 2);
                     if (needed[0]) {
                       grads[0] = ops::empty_like(x);
                       b.conv2d_backward_data(g, dy, kernel, grads[0]);
                     }
                     if (needed[1]) {
                       grads[1] = ops::empty_like(kernel);
                       b.conv2d_backward_filter(g, x, dy, grads[1]);
                     }
                     if (has_bias && needed[2]) {
                       grads[2] = ops::empty_as(dy, {g.o});
                       b.bias_backward(dy, grads[2]);
                     }
                     return grads;
                   });
  return y;
}

}  // namespace kiln
