// Pairing stored weights with a model's by name, as tf.loadLayersModel does (strict mode): a
// weight named "<layer>/<weight>" (Keras's variable name without ":0", e.g. "conv2d/kernel") goes
// to that layer's weight. Every model weight must be found, with its shape, and every stored
// weight must be used; otherwise an Error lists what is missing or left over.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "kiln/model.h"
#include "kiln/tensor.h"

namespace kiln {

// The new value of each of model.weights(), in that order, on the weight's device.
std::vector<Tensor> weights_by_name(const Model& model,
                                    const std::vector<std::pair<std::string, Tensor>>& stored,
                                    const std::string& path);

}  // namespace kiln
