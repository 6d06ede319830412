// TF.js layers models: the `model.json` + binary shards that tf.LayersModel.save() and
// `tensorflowjs_converter --output_format tfjs_layers_model` write (tfjs-core io/types.ts,
// io_utils.ts decodeWeights):
//   model.json  {"format": "layers-model" (optional),
//                "modelTopology": {"model_config": <Keras model config>, "training_config": {…},
//                                  "keras_version": …, "backend": …}
//                                 or the Keras model config itself ({"class_name", "config"}),
//                "trainingConfig": {…} (optional; preferred over modelTopology.training_config),
//                "weightsManifest": [{"paths": ["group1-shard1of2.bin", …],
//                                     "weights": [{"name": "conv2d/kernel", "shape": [3, 3, 1, 8],
//                                                  "dtype": "float32",
//                                                  "quantization": {"dtype": "uint8", "scale": s,
//                                                                   "min": m}}, …]}, …]}
// A group's shard files (paths relative to model.json's folder) are concatenated in order and
// its weights lie back to back in those bytes, little-endian: float32 (4 bytes a value), or with
// `quantization` uint8 / uint16 (1 / 2 bytes, value = q * scale + min, computed in double and
// rounded to float32 as tfjs does) or float16 (2 bytes, IEEE half). Weights with "group":
// "optimizer" are optimizer state: their bytes are skipped.
// A TF.js graph model ("format": "graph-model", a TensorFlow GraphDef) is not a layers model.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "kiln/tensor.h"

namespace kiln {

struct TfjsLayersModel {
  std::string model_config;     // the Keras model config, JSON text
  std::string training_config;  // JSON text; empty when the file has none
  // The model's weights by manifest name ("conv2d/kernel"), in manifest order, CPU f32.
  std::vector<std::pair<std::string, Tensor>> weights;
};

// True when the file is a JSON object with a weightsManifest: a TF.js model.json (layers or
// graph model), not a Keras architecture from model.to_json(). False for HDF5 and zip files and
// for a file that cannot be opened or parsed.
bool is_tfjs_model_file(const std::string& path);

// Reads model.json and every shard it names, checking each entry (name, shape, dtype,
// quantization) and the shards' byte counts. Any problem is an Error naming the file and what
// was expected and found; a graph model is refused as such.
TfjsLayersModel read_tfjs_layers_model(const std::string& path);

}  // namespace kiln
