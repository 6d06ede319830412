// Which Keras activations conv2d and dense fuse into their output pass, and the fused ops' names
// (ops/fused_ops.h). The fused ops themselves are in conv_ops.cpp and dense_ops.cpp; the epilogue
// that applies bias + activation runs in the backends' kernels.
#include "ops/fused_ops.h"
#include "ops/op_helpers.h"

namespace kiln::ops {

std::optional<backend::Pointwise> fusable_activation(const std::string& name) {
  if (name == "relu") return backend::Pointwise::relu;
  if (name == "tanh") return backend::Pointwise::tanh;
  return std::nullopt;
}

const char* fused_op_name(const char* op, std::optional<backend::Pointwise> f) {
  if (!f) return op;
  const std::string base = op;
  const bool relu = *f == backend::Pointwise::relu;
  if (base == "conv2d") return relu ? "conv2d+relu" : "conv2d+tanh";
  if (base == "dense") return relu ? "dense+relu" : "dense+tanh";
  fail("fused_op_name: no fused name for op '{}'", base);
}

}  // namespace kiln::ops
