// The files load_model reads, told apart by content (io/file_kind.h), and the .keras archive
// save_model writes:
//   HDF5 model file   (Keras 2, Keras 3 legacy, kiln)   model_config + model_weights/, layer order
//   .keras archive    (Keras 3, Keras 2.13+, kiln)      config.json + model.weights.h5, by path
//   JSON architecture (Keras to_json(), Keras 2 or 3)   no weights: they come from a weights file
// and the weights-only files: Keras 2 save_weights .h5 (layer_names at the root, layer order),
// Keras 3 .weights.h5 (layers/<path>/vars, by path), or the weights of any model file above.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "io/keras_h5.h"
#include "model/keras3_config.h"

namespace kiln {

struct StoredWeights {
  std::vector<LayerWeights> layers;
  // true: layers are named after the model's layers (Keras 3 paths resolved through the
  // architecture); false: they pair with the model's layers by position (Keras 2 layout).
  bool by_name = false;
};

struct ModelFile {
  KerasArchitecture architecture;
  std::optional<StoredWeights> weights;  // none in a JSON architecture
  std::string self_test_image;  // a .keras archive's kiln_self_test.h5 member; may be empty
};

ModelFile read_model_file(const std::string& path);

// Reads a weights file for a model of `architecture`.
StoredWeights read_weights_file(const std::string& path, const KerasArchitecture& architecture);

// Runs the self-test stored with the model (model/self_test.h); a file without one is an Error.
void verify_model_file(const std::string& path, const ModelFile& file, Model& model);

// Restores the optimizer state of an .h5 model file into the compiled `model`, when the file
// holds state for its optimizer (model/optimizer_weights.h).
void restore_optimizer_state(const std::string& path, Model& model);

// Writes the model as Keras 3's .keras archive (plus kiln's self-test member), atomically.
void save_keras_archive(const Model& model, const std::string& path,
                        const std::string& training_config,
                        const std::vector<LayerWeights>& layers);

}  // namespace kiln
