// Saving and loading models and weights in Keras's formats (docs/FILE_FORMATS.md).
//   save_model / load_model      — like model.save("x.h5" | "x.keras") /
//                                  keras.models.load_model(...): architecture + weights.
//   save_weights / load_weights  — like model.save_weights("x.h5") / model.load_weights("x.h5").
// load_model also reads files written by Keras 2.x, Keras 3 (.keras) and Keras 3's legacy HDF5
// format, and TF.js layers models (a model.json with a Keras modelTopology and a weightsManifest
// of float32, float16 or uint8/uint16-quantised shards beside it; src/io/tfjs_layers.h), for the
// layers kiln has. Loading validates every layer name, weight name and shape before any weight
// is replaced: on error the model in memory is unchanged. Files are written atomically.
#pragma once

#include <memory>
#include <string>

#include "kiln/export.h"
#include "kiln/model.h"

namespace kiln {

// The model's architecture as Keras 2 writes it ({"class_name": "Sequential" | "Functional", …}).
KILN_API std::string model_config_json(const Model& model);
// Builds a model from a Keras 2 / Keras 3 model_config (weights freshly initialised).
// An unsupported layer, activation or option is an Error naming it.
KILN_API std::unique_ptr<Model> model_from_json(const std::string& model_config);

struct LoadOptions {
  // A weights file for the architecture at `path`: Keras 2 save_weights .h5 (paired by layer
  // order), Keras 3 .weights.h5 or a .keras archive (by Keras 3 layer path). Needed when `path` is
  // a JSON architecture (model.to_json()); with a model file it replaces the file's weights.
  std::string weights;
  // Run the self-test kiln stores in its own files (one fixed input and the outputs the model
  // gave when saved) and raise an Error on a mismatch (tolerance 1e-3 x max(1, max |output|))
  // or when the file carries none.
  bool verify = false;
};

// save_model writes Keras 3's .keras archive when `path` ends in ".keras", else Keras 2 HDF5.
// Both carry a self-test; the .h5 also the optimizer's state (optimizer_weights, Keras 2 layout).
KILN_API void save_model(const Model& model, const std::string& path);
// load_model tells the file's kind from its content, not its name: an HDF5 model file, a .keras
// zip archive, or a JSON architecture (with LoadOptions::weights). The optimizer state of an .h5
// file is restored when the model is compiled with that optimizer.
KILN_API std::unique_ptr<Model> load_model(const std::string& path,
                                           const LoadOptions& options = {});

KILN_API void save_weights(const Model& model, const std::string& path);
// Keras 2 .h5 weights pair with the model's layers by order; Keras 3 .weights.h5 and .keras by
// Keras 3 layer path (class name and count).
KILN_API void load_weights(Model& model, const std::string& path);

}  // namespace kiln
