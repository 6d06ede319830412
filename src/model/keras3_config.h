// Keras 3's config.json (and model.to_json() of Keras 2 and 3) to and from what the model_config
// reader (model_config.cpp) and the Keras 2 training_config reader take. Keras 3 wraps every
// object as {"module", "class_name", "config", "registered_name"}, records shapes in
// `build_config`, the compile arguments in `compile_config`, and may leave a Sequential's
// InputLayer out of its layer list (the shape is then `build_input_shape`).
#pragma once

#include <string>
#include <vector>

#include "kiln/model.h"

namespace kiln {

struct KerasArchitecture {
  std::string model_config;     // JSON text for model_from_json
  std::string training_config;  // Keras 2 training_config JSON text; empty when none
  std::string keras_version;    // empty when not recorded
  // The config's layers in its order (Keras's model.layers order), for Keras 3 weight paths.
  std::vector<std::string> layer_names, class_names;
};

// Reads a Keras 3 config.json or a to_json() document (Keras 2 or 3). `where` names the file
// for messages.
KerasArchitecture read_keras_architecture(const std::string& json_text, const std::string& where);

// The model as Keras 3 writes config.json; `training_config` (Keras 2 JSON text, may be empty)
// becomes its compile_config.
std::string keras3_config_json(const Model& model, const std::string& training_config);

}  // namespace kiln
