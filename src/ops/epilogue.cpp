// The bias + activation pass shared by conv2d and dense (ops/fused_ops.h).
#include "ops/fused_ops.h"
#include "ops/op_helpers.h"

namespace kiln::ops {

std::optional<backend::Pointwise> fusable_activation(const std::string& name) {
  if (name == "relu") return backend::Pointwise::relu;
  if (name == "tanh") return backend::Pointwise::tanh;
  return std::nullopt;
}

const char* Epilogue::name(const char* op) const {
  const std::string base = op;
  if (!activation) return op;
  const bool relu = *activation == backend::Pointwise::relu;
  if (base == "conv2d") return relu ? "conv2d+relu" : "conv2d+tanh";
  if (base == "dense") return relu ? "dense+relu" : "dense+tanh";
  fail("Epilogue: no fused name for op '{}'", base);
}

void Epilogue::forward(backend::Backend& be, Tensor& y, const Tensor& bias) const {
  if (activation) {
    be.bias_activation_forward(y, has_bias ? bias : Tensor(), *activation);
  } else if (has_bias) {
    be.add_bias(y, bias);
  }
}

Tensor Epilogue::backward(backend::Backend& be, const Tensor& y, const Tensor& dy,
                          bool bias_needed, Tensor& dbias) const {
  if (bias_needed) dbias = empty_as(dy, {dy.dim(-1)});
  if (!activation) {
    if (bias_needed) be.bias_backward(dy, dbias);
    return dy;
  }
  Tensor dz = empty_like(dy);
  be.bias_activation_backward(*activation, y, dy, dz, dbias);
  return dz;
}

}  // namespace kiln::ops
