// The elementwise and per-channel ops behind the Keras layers added for Keras files: general
// ReLU, subtract / multiply / maximum (merges), channel_sum / channel_affine / inverse_sqrt /
// moments / batch_normalization (BatchNormalization, Rescaling).
#include <cmath>
#include <limits>

#include "autograd/record.h"
#include "kiln/ops.h"
#include "ops/op_helpers.h"

namespace kiln {

namespace {

void check_same_shape(const char* op, const Tensor& a, const Tensor& b) {
  ops::check_floating(op, a, "a");
  ops::check_compatible(op, a, b, "b");
  KILN_CHECK(a.shape() == b.shape(), "{}: shapes {} and {} differ (expected equal shapes)", op,
             shape_str(a.shape()), shape_str(b.shape()));
}

// x (..., c) and a per-channel vector of c elements.
void check_channel_vector(const char* op, const Tensor& x, const Tensor& v, const char* what) {
  ops::check_compatible(op, x, v, what);
  KILN_CHECK(v.rank() == 1 && v.dim(0) == x.dim(-1),
             "{}: expected {} of shape ({}) for input {}, found {}", op, what, x.dim(-1),
             shape_str(x.shape()), shape_str(v.shape()));
}

Tensor product_of(const Tensor& a, const Tensor& b) {
  Tensor out = ops::empty_like(a);
  ops::backend_of(a).multiply(a, b, out);
  return out;
}

}  // namespace

Tensor relu(const Tensor& x, const ReluOptions& options) {
  ops::check_floating("relu", x, "input");
  KILN_CHECK(options.negative_slope >= 0.0 && options.threshold >= 0.0 &&
                 options.max_value.value_or(0.0) >= 0.0,
             "relu: negative_slope, threshold and max_value must be >= 0, found {}, {} and {}",
             options.negative_slope, options.threshold, options.max_value.value_or(0.0));
  backend::GeneralRelu f;
  f.negative_slope = options.negative_slope;
  f.threshold = options.threshold;
  f.max_value = options.max_value.value_or(std::numeric_limits<double>::infinity());
  Tensor y = ops::empty_like(x);
  ops::backend_of(x).general_relu_forward(f, x, y);
  autograd::record("relu", {x}, y, [f, x](const Tensor& dy, const std::vector<bool>&) {
    Tensor dx = ops::empty_like(dy);
    ops::backend_of(dy).general_relu_backward(f, x, dy, dx);
    return std::vector<Tensor>{dx};
  });
  return y;
}

Tensor subtract(const Tensor& a, const Tensor& b) {
  check_same_shape("subtract", a, b);
  Tensor y = a.clone();
  ops::backend_of(a).axpy(-1.0, b, y);
  autograd::record("subtract", {a, b}, y, [](const Tensor& dy, const std::vector<bool>&) {
    return std::vector<Tensor>{dy, scale(dy, -1.0)};
  });
  return y;
}

Tensor multiply(const Tensor& a, const Tensor& b) {
  check_same_shape("multiply", a, b);
  Tensor y = product_of(a, b);
  autograd::record("multiply", {a, b}, y,
                   [a, b](const Tensor& dy, const std::vector<bool>& needed) {
                     return std::vector<Tensor>{needed[0] ? product_of(dy, b) : Tensor(),
                                                needed[1] ? product_of(dy, a) : Tensor()};
                   });
  return y;
}

Tensor maximum(const Tensor& a, const Tensor& b) {
  check_same_shape("maximum", a, b);
  Tensor y = ops::empty_like(a);
  ops::backend_of(a).maximum(a, b, y);
  autograd::record("maximum", {a, b}, y, [a, b](const Tensor& dy, const std::vector<bool>&) {
    Tensor da = ops::empty_like(dy), db = ops::empty_like(dy);
    ops::backend_of(dy).maximum_backward(a, b, dy, da, db);
    return std::vector<Tensor>{da, db};
  });
  return y;
}

Tensor channel_sum(const Tensor& x) {
  ops::check_floating("channel_sum", x, "input");
  KILN_CHECK(x.rank() >= 1, "channel_sum: expected a tensor of rank >= 1, found shape {}",
             shape_str(x.shape()));
  Tensor y = ops::empty_as(x, {x.dim(-1)});
  ops::backend_of(x).bias_backward(x, y);
  const Shape shape = x.shape();
  autograd::record("channel_sum", {x}, y, [shape](const Tensor& dy, const std::vector<bool>&) {
    Tensor dx = Tensor::zeros(shape, dy.dtype(), dy.device());
    ops::backend_of(dy).add_bias(dx, dy);
    return std::vector<Tensor>{dx};
  });
  return y;
}

Tensor channel_affine(const Tensor& x, const Tensor& scale_by, const Tensor& shift) {
  const char* op = "channel_affine";
  ops::check_floating(op, x, "input");
  KILN_CHECK(x.rank() >= 1, "{}: expected a tensor of rank >= 1, found shape {}", op,
             shape_str(x.shape()));
  check_channel_vector(op, x, scale_by, "scale");
  if (shift.defined()) check_channel_vector(op, x, shift, "shift");
  Tensor y = ops::empty_like(x);
  ops::backend_of(x).channel_affine(x, scale_by, shift, y);
  std::vector<Tensor> inputs{x, scale_by};
  if (shift.defined()) inputs.push_back(shift);
  autograd::record(op, inputs, y, [x, scale_by](const Tensor& dy, const std::vector<bool>& needed) {
    backend::Backend& be = ops::backend_of(dy);
    std::vector<Tensor> grads(needed.size());
    if (needed[0]) {
      grads[0] = ops::empty_like(dy);
      be.channel_affine(dy, scale_by, Tensor(), grads[0]);
    }
    if (needed[1]) {
      grads[1] = ops::empty_like(scale_by);
      be.bias_backward(product_of(dy, x), grads[1]);
    }
    if (needed.size() > 2 && needed[2]) {
      grads[2] = ops::empty_like(scale_by);
      be.bias_backward(dy, grads[2]);
    }
    return grads;
  });
  return y;
}

Tensor inverse_sqrt(const Tensor& x, double epsilon) {
  ops::check_floating("inverse_sqrt", x, "input");
  Tensor y = ops::empty_like(x);
  ops::backend_of(x).inverse_sqrt(x, epsilon, y);
  // d/dx (x + eps)^(-1/2) = -y^3 / 2
  autograd::record("inverse_sqrt", {x}, y, [y](const Tensor& dy, const std::vector<bool>&) {
    Tensor dx = product_of(product_of(y, y), y);
    ops::backend_of(dy).multiply(dx, dy, dx);
    return std::vector<Tensor>{scale(dx, -0.5)};
  });
  return y;
}

Moments moments(const Tensor& x) {
  ops::check_floating("moments", x, "input");
  KILN_CHECK(x.rank() >= 2 && x.numel() > 0,
             "moments: expected a non-empty tensor of rank >= 2 (batch, ..., channels), found {}",
             shape_str(x.shape()));
  const double count = static_cast<double>(x.numel() / x.dim(-1));
  Moments m;
  m.mean = scale(channel_sum(x), 1.0 / count);
  const Tensor ones = Tensor::full({x.dim(-1)}, 1.0, x.dtype(), x.device());
  const Tensor centered = channel_affine(x, ones, scale(m.mean, -1.0));
  m.variance = scale(channel_sum(multiply(centered, centered)), 1.0 / count);
  return m;
}

Tensor batch_normalization(const Tensor& x, const Tensor& mean, const Tensor& variance,
                           const Tensor& offset, const Tensor& scale_by, double epsilon) {
  const char* op = "batch_normalization";
  ops::check_floating(op, x, "input");
  KILN_CHECK(x.rank() >= 1, "{}: expected a tensor of rank >= 1, found shape {}", op,
             shape_str(x.shape()));
  check_channel_vector(op, x, mean, "mean");
  check_channel_vector(op, x, variance, "variance");
  KILN_CHECK(epsilon > 0.0, "{}: epsilon must be > 0, found {}", op, epsilon);
  Tensor a = inverse_sqrt(variance, epsilon);
  if (scale_by.defined()) {
    check_channel_vector(op, x, scale_by, "scale");
    a = multiply(a, scale_by);
  }
  Tensor shift = scale(multiply(mean, a), -1.0);
  if (offset.defined()) {
    check_channel_vector(op, x, offset, "offset");
    shift = add(shift, offset);
  }
  return channel_affine(x, a, shift);
}

}  // namespace kiln
