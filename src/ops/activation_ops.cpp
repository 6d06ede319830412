// relu / sigmoid / tanh / softmax, the activations built from them (relu6, leaky_relu, swish /
// silu, hard_sigmoid, hard_swish / hard_silu) and those with kernels of their own (elu, selu,
// softplus, softsign, gelu, exponential, mish: backend::SmoothActivation). softmax and sigmoid
// remember their logits on the output so the cross-entropy losses can work from them (numerically
// stable, as Keras does).
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>

#include "autograd/record.h"
#include "core/tensor_impl.h"
#include "kiln/ops.h"
#include "ops/activations.h"
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

namespace {

// The kernels of backend::SmoothActivation by Keras's names. A plain array, not a std::map: the
// map's out-of-line members, instantiated on a kiln::backend enum, were exported from libkiln.so
// (scripts/check-exports.sh).
struct SmoothKind {
  std::string name;
  backend::SmoothActivation kind;
};

// The entry for `name`, or nullptr. Its name is static: it outlives any tape.
const SmoothKind* find_smooth_activation(const std::string& name) {
  using backend::SmoothActivation;
  static const SmoothKind kinds[] = {
      {"elu", SmoothActivation::elu},           {"selu", SmoothActivation::selu},
      {"softplus", SmoothActivation::softplus}, {"softsign", SmoothActivation::softsign},
      {"gelu", SmoothActivation::gelu},         {"exponential", SmoothActivation::exponential},
      {"mish", SmoothActivation::mish}};
  for (const SmoothKind& entry : kinds) {
    if (entry.name == name) return &entry;
  }
  return nullptr;
}

// y = f(x), its gradient from the input x. `name` outlives the tape (a key of the static map).
Tensor smooth_activation(const std::string& name, backend::SmoothActivation f, const Tensor& x) {
  ops::check_floating(name.c_str(), x, "input");
  Tensor y = ops::empty_like(x);
  ops::backend_of(x).smooth_activation_forward(f, x, y);
  autograd::record(name.c_str(), {x}, y, [f, x](const Tensor& dy, const std::vector<bool>&) {
    Tensor dx = ops::empty_like(dy);
    ops::backend_of(dy).smooth_activation_backward(f, x, dy, dx);
    return std::vector<Tensor>{dx};
  });
  return y;
}

// x * factor + offset elementwise, through a one-channel view (one channel_affine pass).
Tensor affine(const Tensor& x, double factor, double offset) {
  const Tensor f = Tensor::full({1}, factor, x.dtype(), x.device());
  const Tensor o = Tensor::full({1}, offset, x.dtype(), x.device());
  return reshape(channel_affine(reshape(x, {x.numel(), 1}), f, o), x.shape());
}

// Keras 3's hard_sigmoid, relu6(x + 3) / 6, computed as min(max(x / 6 + 1/2, 0), 1).
Tensor hard_sigmoid(const Tensor& x) {
  return relu(affine(x, 1.0 / 6.0, 0.5), ReluOptions{0.0, 1.0, 0.0});
}

}  // namespace

namespace ops {

const std::vector<std::string>& activation_names() {
  static const std::vector<std::string> names{
      "linear", "relu",     "sigmoid",  "tanh",         "softmax",    "relu6",     "leaky_relu",
      "swish",  "silu",     "gelu",     "hard_sigmoid", "hard_swish", "hard_silu", "elu",
      "selu",   "softplus", "softsign", "exponential",  "mish"};
  return names;
}

std::string activation_name_list() {
  return fmt::format("{}", fmt::join(activation_names(), ", "));
}

bool is_activation(const std::string& name) {
  const auto& names = activation_names();
  return std::find(names.begin(), names.end(), name) != names.end();
}

}  // namespace ops

Tensor activation(const Tensor& x, const std::string& name) {
  if (name == "linear" || name.empty()) return x;
  if (name == "relu") return relu(x);
  if (name == "sigmoid") return sigmoid(x);
  if (name == "tanh") return tanh(x);
  if (name == "softmax") return softmax(x);
  if (name == "relu6") return relu(x, ReluOptions{0.0, 6.0, 0.0});
  if (name == "leaky_relu") return relu(x, ReluOptions{0.2, std::nullopt, 0.0});  // Keras's 0.2
  if (name == "swish" || name == "silu") return multiply(x, sigmoid(x));
  if (name == "hard_sigmoid") return hard_sigmoid(x);
  if (name == "hard_swish" || name == "hard_silu") return multiply(x, hard_sigmoid(x));
  if (const SmoothKind* smooth = find_smooth_activation(name)) {
    return smooth_activation(smooth->name, smooth->kind, x);
  }
  fail("activation: expected one of {}; found '{}'", ops::activation_name_list(), name);
}

}  // namespace kiln
