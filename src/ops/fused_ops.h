// conv2d and dense with their layer's activation fused into the output pass, as oneDNN and cuDNN
// post-ops do: y = f(op(x) + bias) in one sweep over y, and the tape keeps no pre-activation
// tensor (at batch 1024 that is 177 MB for the seed model's first convolution). Only relu and
// tanh fuse: sigmoid and softmax outputs must keep their logits for the cross-entropy losses.
#pragma once

#include <optional>
#include <string>

#include "backend/backend.h"
#include "kiln/ops.h"

namespace kiln::ops {

// The fused form of the Keras activation `name`, or nothing when it does not fuse.
std::optional<backend::Pointwise> fusable_activation(const std::string& name);

// conv2d(x, kernel, bias, strides, padding) followed by f (none: conv2d itself).
Tensor conv2d_activation(const Tensor& x, const Tensor& kernel, const Tensor& bias, Size2 strides,
                         const Padding& padding, std::optional<backend::Pointwise> f);

// dense(x, kernel, bias) followed by f (none: dense itself).
Tensor dense_activation(const Tensor& x, const Tensor& kernel, const Tensor& bias,
                        std::optional<backend::Pointwise> f);

// The op's name on the tape and in messages: "conv2d", "conv2d+relu", "dense+tanh", ...
const char* fused_op_name(const char* op, std::optional<backend::Pointwise> f);

}  // namespace kiln::ops
