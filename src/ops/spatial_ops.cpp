// Spatial ops on NHWC images: zero_pad2d and upsample2d_nearest as block copies
// (Backend::copy_columns, no kernel of their own); upsample2d_bilinear and depthwise_conv2d on
// their Backend kernels.
#include "autograd/record.h"
#include "kiln/ops.h"
#include "ops/op_helpers.h"

namespace kiln {

namespace {

struct Image {
  std::int64_t n, h, w, c;
};

Image image_of(const char* op, const Tensor& x) {
  ops::check_floating(op, x, "input");
  ops::check_rank(op, x, 4, "input (batch, height, width, channels)");
  return {x.dim(0), x.dim(1), x.dim(2), x.dim(3)};
}

// Copies each of the `from` image's rows into the `to` image, the padded one being `padded`:
// row y of the small image is row (top + y) of the padded one, from column `left` on.
void copy_rows(const Tensor& from, Tensor& to, const Image& small, const Image& padded,
               std::int64_t top, std::int64_t left, bool into_padded) {
  backend::Backend& be = ops::backend_of(from);
  const std::int64_t small_cols = small.h * small.w * small.c;
  const std::int64_t padded_cols = padded.h * padded.w * padded.c;
  for (std::int64_t y = 0; y < small.h; ++y) {
    const std::int64_t small_col0 = y * small.w * small.c;
    const std::int64_t padded_col0 = ((top + y) * padded.w + left) * small.c;
    if (into_padded) {
      be.copy_columns(from, small_cols, small_col0, to, padded_cols, padded_col0, small.n,
                      small.w * small.c, false);
    } else {
      be.copy_columns(from, padded_cols, padded_col0, to, small_cols, small_col0, small.n,
                      small.w * small.c, false);
    }
  }
}

// out (rows, times * width) = `times` copies of each row of x (rows, width), side by side; or,
// when summing, out (rows, width) = the sum of x's `times` blocks.
void repeat_columns(const Tensor& x, Tensor& out, std::int64_t rows, std::int64_t width,
                    std::int64_t times, bool summing) {
  backend::Backend& be = ops::backend_of(x);
  for (std::int64_t k = 0; k < times; ++k) {
    if (summing) {
      be.copy_columns(x, times * width, k * width, out, width, 0, rows, width, k > 0);
    } else {
      be.copy_columns(x, width, 0, out, times * width, k * width, rows, width, false);
    }
  }
}

}  // namespace

Tensor zero_pad2d(const Tensor& x, const Padding& amounts) {
  const char* op = "zero_pad2d";
  const Image in = image_of(op, x);
  KILN_CHECK(amounts.kind == Padding::Kind::explicit_amounts && amounts.top >= 0 &&
                 amounts.bottom >= 0 && amounts.left >= 0 && amounts.right >= 0,
             "{}: expected explicit non-negative amounts, found {}", op, amounts.str());
  const Image out{in.n, amounts.top + in.h + amounts.bottom, amounts.left + in.w + amounts.right,
                  in.c};
  Tensor y = Tensor::zeros({out.n, out.h, out.w, out.c}, x.dtype(), x.device());
  copy_rows(x, y, in, out, amounts.top, amounts.left, true);
  const Shape shape = x.shape();
  const std::int64_t top = amounts.top, left = amounts.left;
  autograd::record(op, {x}, y, [=](const Tensor& dy, const std::vector<bool>&) {
    Tensor dx = Tensor::empty(shape, dy.dtype(), dy.device());
    copy_rows(dy, dx, in, out, top, left, false);
    return std::vector<Tensor>{dx};
  });
  return y;
}

Tensor upsample2d_nearest(const Tensor& x, Size2 size) {
  const char* op = "upsample2d_nearest";
  const Image in = image_of(op, x);
  KILN_CHECK(size.h >= 1 && size.w >= 1, "{}: size must be >= 1, found {}x{}", op, size.h, size.w);
  const std::int64_t wide = in.w * size.w;
  Tensor columns = Tensor::empty({in.n, in.h, wide, in.c}, x.dtype(), x.device());
  repeat_columns(x, columns, in.n * in.h * in.w, in.c, size.w, false);
  Tensor y = Tensor::empty({in.n, in.h * size.h, wide, in.c}, x.dtype(), x.device());
  repeat_columns(columns, y, in.n * in.h, wide * in.c, size.h, false);
  const Shape shape = x.shape();
  autograd::record(op, {x}, y, [=](const Tensor& dy, const std::vector<bool>&) {
    Tensor rows_summed = Tensor::empty({in.n, in.h, wide, in.c}, dy.dtype(), dy.device());
    repeat_columns(dy, rows_summed, in.n * in.h, wide * in.c, size.h, true);
    Tensor dx = Tensor::empty(shape, dy.dtype(), dy.device());
    repeat_columns(rows_summed, dx, in.n * in.h * in.w, in.c, size.w, true);
    return std::vector<Tensor>{dx};
  });
  return y;
}

Tensor upsample2d_bilinear(const Tensor& x, Size2 size) {
  const char* op = "upsample2d_bilinear";
  const Image in = image_of(op, x);
  KILN_CHECK(size.h >= 1 && size.w >= 1, "{}: size must be >= 1, found {}x{}", op, size.h, size.w);
  Tensor y = Tensor::empty({in.n, in.h * size.h, in.w * size.w, in.c}, x.dtype(), x.device());
  ops::backend_of(x).resize_bilinear_forward(x, y);
  const Shape shape = x.shape();
  autograd::record(op, {x}, y, [shape](const Tensor& dy, const std::vector<bool>&) {
    Tensor dx = Tensor::empty(shape, dy.dtype(), dy.device());
    ops::backend_of(dy).resize_bilinear_backward(dy, dx);
    return std::vector<Tensor>{dx};
  });
  return y;
}

namespace {

backend::Conv2dGeometry depthwise_geometry(const Tensor& x, const Tensor& kernel, Size2 strides,
                                           const Padding& padding) {
  const char* op = "depthwise_conv2d";
  const Image in = image_of(op, x);
  ops::check_rank(op, kernel, 4, "kernel (kh, kw, channels, depth_multiplier)");
  ops::check_compatible(op, x, kernel, "kernel");
  ops::check_window(op, Size2(kernel.dim(0), kernel.dim(1)), strides, padding);
  KILN_CHECK(kernel.dim(2) == in.c && kernel.dim(3) >= 1,
             "{}: input {} has {} channels but kernel {} expects {} (kernel is (kh, kw, channels, "
             "depth_multiplier))",
             op, shape_str(x.shape()), in.c, shape_str(kernel.shape()), kernel.dim(2));
  return ops::window_geometry(op, x, Size2(kernel.dim(0), kernel.dim(1)), in.c * kernel.dim(3),
                              strides, padding);
}

}  // namespace

Tensor depthwise_conv2d(const Tensor& x, const Tensor& kernel, const Tensor& bias, Size2 strides,
                        const Padding& padding) {
  const char* op = "depthwise_conv2d";
  const backend::Conv2dGeometry g = depthwise_geometry(x, kernel, strides, padding);
  if (bias.defined()) {
    ops::check_compatible(op, x, bias, "bias");
    KILN_CHECK(bias.rank() == 1 && bias.dim(0) == g.o,
               "{}: bias must have shape ({},) for kernel {}, found {}", op, g.o,
               shape_str(kernel.shape()), shape_str(bias.shape()));
  }
  backend::Backend& be = ops::backend_of(x);
  Tensor y = ops::empty_as(x, {g.n, g.oh, g.ow, g.o});
  be.depthwise_conv2d_forward(g, x, kernel, y);
  if (bias.defined()) be.add_bias(y, bias);
  std::vector<Tensor> inputs{x, kernel};
  if (bias.defined()) inputs.push_back(bias);
  autograd::record(op, std::move(inputs), y,
                   [g, x, kernel](const Tensor& dy, const std::vector<bool>& needed) {
                     backend::Backend& b = ops::backend_of(dy);
                     std::vector<Tensor> grads(needed.size());
                     if (needed[0]) {
                       grads[0] = ops::empty_like(x);
                       b.depthwise_conv2d_backward_data(g, dy, kernel, grads[0]);
                     }
                     if (needed[1]) {
                       grads[1] = ops::empty_like(kernel);
                       b.depthwise_conv2d_backward_filter(g, x, dy, grads[1]);
                     }
                     if (needed.size() == 3 && needed[2]) {
                       grads[2] = ops::empty_as(dy, {g.o});
                       b.bias_backward(dy, grads[2]);
                     }
                     return grads;
                   });
  return y;
}

}  // namespace kiln
