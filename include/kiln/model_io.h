// Saving and loading models and weights in Keras's HDF5 formats.
//   save_model / load_model      — like model.save("x.h5") / keras.models.load_model("x.h5"):
//                                  architecture (model_config, Keras 2 JSON) + weights.
//   save_weights / load_weights  — like model.save_weights("x.h5") / model.load_weights("x.h5").
// load_model also reads files written by Keras 2.x and Keras 3's legacy HDF5 format, and TF.js
// layers models (a model.json with a Keras modelTopology and a weightsManifest of float32,
// float16 or uint8/uint16-quantised shards beside it; src/io/tfjs_layers.h), for the layers kiln
// has. Loading validates every layer name, weight name and shape before any weight
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

KILN_API void save_model(const Model& model, const std::string& path);
KILN_API std::unique_ptr<Model> load_model(const std::string& path);

KILN_API void save_weights(const Model& model, const std::string& path);
KILN_API void load_weights(Model& model, const std::string& path);

}  // namespace kiln
