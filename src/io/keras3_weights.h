// Weights in Keras 3's layout (saving_lib's H5IOStore): model.weights.h5 inside a .keras archive
// and the files model.save_weights("x.weights.h5") writes.
//   vars/                          the model's own variables (none)
//   layers/<path>/vars/0, 1, ...   each layer's variables, in the layer's order (kernel, bias)
// A layer's <path> is not its name but its class name in snake case, numbered from the second
// layer of a class on: conv2d, conv2d_1, max_pooling2d, dense, dense_1 (keras3_layer_paths).
// Keras 2.13-2.15 wrote .keras archives with `_layer_checkpoint_dependencies/` in place of
// `layers/`; both are read, as Keras 3 does.
#pragma once

#include <hdf5.h>

#include <string>
#include <vector>

#include "io/keras_h5.h"

namespace kiln {

// The paths Keras 3 gives the layers of a model, from their class names in the model's layer
// order ("Conv2D", "Conv2D", "Dense" -> "conv2d", "conv2d_1", "dense").
std::vector<std::string> keras3_layer_paths(const std::vector<std::string>& class_names);

// True when `file` has Keras 3's layers/ (or _layer_checkpoint_dependencies/) group.
bool has_keras3_weights(hid_t file);

// Writes `layers[i]` under layers/<paths[i]>/vars, plus the empty root vars group.
void write_keras3_weights(hid_t file, const std::vector<LayerWeights>& layers,
                          const std::vector<std::string>& paths);

// Reads the variables stored for each path as new CPU f32 tensors, named "0", "1", ...; the
// result's layer_name is `layer_names[i]`. A layer with no vars group has no weights.
std::vector<LayerWeights> read_keras3_weights(hid_t file,
                                              const std::vector<std::string>& layer_names,
                                              const std::vector<std::string>& paths);

}  // namespace kiln
