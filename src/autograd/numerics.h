// Internal side of kiln/numerics.h: the per-op check, and the layer scope named in its messages
// and in out-of-memory errors.
#pragma once

#include <string>

#include "kiln/error.h"
#include "kiln/tensor.h"

namespace kiln::autograd {

// Raises Error when checking is on and `output` holds a NaN or Inf.
void check_finite(const char* op, const Tensor& output);

// A layer as messages name it: layer 'conv2d_1' (Conv2D).
struct LayerLabel {
  std::string name;  // "conv2d_1"
  std::string type;  // "Conv2D"
};

// The layer running on this thread (forward or backward), or nullptr outside any layer.
const LayerLabel* current_layer();

// While alive, `layer` is the current layer (nullptr: none); check_finite names it.
class LayerScope {
 public:
  explicit LayerScope(const LayerLabel* layer);
  ~LayerScope();
  LayerScope(const LayerScope&) = delete;
  LayerScope& operator=(const LayerScope&) = delete;

 private:
  const LayerLabel* previous_;
};

// The same error with ", while running <pass> of layer 'conv2d' (Conv2D)" appended and its layer
// set; `pass` is "the forward pass" or "the backward pass".
OutOfMemoryError in_layer(const OutOfMemoryError& error, const LayerLabel& layer, const char* pass);

// Runs `body` with `layer` as the current layer. An OutOfMemoryError from it that names no layer
// yet comes out naming this one (an inner layer's name is kept).
template <class Body>
auto run_in_layer(const LayerLabel* layer, const char* pass, Body&& body) {
  LayerScope scope(layer);
  try {
    return body();
  } catch (const OutOfMemoryError& error) {
    if (layer == nullptr || !error.layer().empty()) throw;
    throw in_layer(error, *layer, pass);
  }
}

}  // namespace kiln::autograd
