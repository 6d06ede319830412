// relu / sigmoid / tanh / softmax. softmax and sigmoid remember their logits on the output so the
// cross-entropy losses can work from them (numerically stable, as Keras does).
#include "autograd/record.h"
#include "kiln/ops.h"
#include "ops/op_helpers.h"

namespace kiln {

namespace {

Tensor pointwise(const char* op, backend::Pointwise f, const Tensor& x) {
  ops::check_floating(op, x, "input");
  Tensor y = ops::empty_like(x);
  ops::backend_of(x).pointwise_forward(f, x, y);
  autograd::record(op, {x}, y, [f, y](const Tensor& dy, const std::vector<bool>&) {
    Tensor dx = ops::empty_like(y);
    ops::backend_of(dy).pointwise_backward(f, y, dy, dx);
    return std::vector<Tensor>{dx};
  });
  return y;
}

void remember_logits(Tensor& probabilities, const Tensor& logits, detail::Squash squash) {
  probabilities.impl()->squash = squash;
  probabilities.impl()->logits = logits.impl();
}

}  // namespace

Tensor relu(const Tensor& x) { return pointwise("relu", backend::Pointwise::relu, x); }

Tensor tanh(const Tensor& x) { return pointwise("tanh", backend::Pointwise::tanh, x); }

Tensor sigmoid(const Tensor& x) {
  Tensor y = pointwise("sigmoid", backend::Pointwise::sigmoid, x);
  remember_logits(y, x, detail::Squash::sigmoid);
  return y;
}

Tensor softmax(const Tensor& x) {
  ops::check_floating("softmax", x, "input");
  KILN_CHECK(x.rank() >= 1, "softmax: expected a tensor of rank >= 1, found shape {}",
             shape_str(x.shape()));
  Tensor y = ops::empty_like(x);
  ops::backend_of(x).softmax_forward(x, y);
  autograd::record("softmax", {x}, y, [y](const Tensor& dy, const std::vector<bool>&) {
    Tensor dx = ops::empty_like(y);
    ops::backend_of(dy).softmax_backward(y, dy, dx);
    return std::vector<Tensor>{dx};
  });
  remember_logits(y, x, detail::Squash::softmax);
  return y;
}

Tensor activation(const Tensor& x, const std::string& name) {
  if (name == "linear" || name.empty()) return x;
  if (name == "relu") return relu(x);
  if (name == "sigmoid") return sigmoid(x);
  if (name == "tanh") return tanh(x);
  if (name == "softmax") return softmax(x);
  fail("activation: expected one of linear, relu, sigmoid, tanh, softmax; found '{}'", name);
}

}  // namespace kiln
