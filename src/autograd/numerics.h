// Internal side of kiln/numerics.h: the per-op check and the layer scope named in its messages.
#pragma once

#include <string>

#include "kiln/tensor.h"

namespace kiln::autograd {

// Raises Error when checking is on and `output` holds a NaN or Inf.
void check_finite(const char* op, const Tensor& output);

// While alive, check_finite names this layer.
class LayerScope {
 public:
  explicit LayerScope(const std::string& layer_name);
  ~LayerScope();
  LayerScope(const LayerScope&) = delete;
  LayerScope& operator=(const LayerScope&) = delete;

 private:
  const std::string* previous_;
};

}  // namespace kiln::autograd
