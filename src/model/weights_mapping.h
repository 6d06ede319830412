// The one pairing of a model's weights with the layers of a Keras 2 HDF5 weights group
// (io/keras_h5.h), shared by save_weights / load_weights, save_model / load_model and training
// checkpoints: each layer's weights under their Keras names ("kernel:0", "bias:0"), layers listed
// as Keras lists them (all of them, but a Sequential model leaves out its InputLayer), and read
// back by position, as Keras's load_weights pairs an HDF5 file with a model.
#pragma once

#include <string>
#include <vector>

#include "io/keras_h5.h"
#include "kiln/model.h"

namespace kiln {

// The model's layers as Keras lists them in a weights file.
std::vector<LayerPtr> saved_layers(const Model& model);

// The model's weights in that layout, ready for write_keras_weights.
std::vector<LayerWeights> layer_weights(const Model& model);

// Pairs the file's layers that hold weights with the model's, in order, and checks the counts and
// shapes. Returns the new value of each of model.weights(), in that order, on the weight's device;
// an Error naming `path`, the layer and the weight otherwise (the model is not touched).
std::vector<Tensor> matched_values(const Model& model, const std::vector<LayerWeights>& file,
                                   const std::string& path);

}  // namespace kiln
