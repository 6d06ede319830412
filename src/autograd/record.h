// How ops put themselves on the active tape. An op computes its output, then calls
// record(...) with the inputs it was given and a backward step. The step receives d loss/d output
// and which inputs need a gradient, and returns one tensor per input (undefined where not needed).
#pragma once

#include <functional>
#include <optional>
#include <vector>

#include "autograd/numerics.h"
#include "kiln/tensor.h"

namespace kiln::autograd {

using BackwardStep =
    std::function<std::vector<Tensor>(const Tensor& grad_output, const std::vector<bool>& needed)>;

// True when a tape is alive on this thread and no NoGrad guard is.
bool recording();

// Records `output = op(inputs)` if recording(); `name` is the op's name for messages. Every op
// calls it, recording or not, so the non-finite guard (kiln/numerics.h) sees every output.
void record(const char* name, std::vector<Tensor> inputs, const Tensor& output, BackwardStep step);

}  // namespace kiln::autograd

namespace kiln::detail {

struct TapeNode {
  const char* name;
  std::vector<Tensor> inputs;
  Tensor output;
  autograd::BackwardStep step;
  std::optional<autograd::LayerLabel> layer;  // the layer being run when the op was recorded
};

}  // namespace kiln::detail
