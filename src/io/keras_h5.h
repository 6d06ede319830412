// Weights and model files in the Keras 2 HDF5 layout, so Keras, h5py and kiln read each other's
// files:
//   weights group (the file root, or `model_weights` in a model file)
//     attrs  layer_names = ["conv2d", "dense", ...] (fixed-length strings), backend = "tensorflow",
//            keras_version = "2.15.0"
//     conv2d/                    attrs weight_names = ["conv2d/kernel:0", "conv2d/bias:0"]
//       conv2d/kernel:0, conv2d/bias:0   float32 datasets (chunked, Fletcher32 checksum)
//   model file root attrs: model_config (JSON text), keras_version, backend, [training_config]
// JSON is stored and returned as text; interpreting it is the model code's business.
#pragma once

#include <hdf5.h>

#include <cstdint>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "kiln/tensor.h"

namespace kiln {

inline constexpr const char* kKerasVersion = "2.15.0";
inline constexpr const char* kKerasBackend = "tensorflow";
// The most weight values a file may hold (64 MiB of float32, as many as a model built from a
// model_config may have), checked against the dataset shapes before anything is allocated: a
// corrupt or hostile header cannot make kiln allocate without bound.
inline constexpr std::int64_t kMaxFileWeightValues = std::int64_t{1} << 24;

// One layer's weights in Keras order (kernel then bias). Weight names are the short Keras 2 names
// ("kernel:0", "bias:0"); on disk they are prefixed with the layer name. Read back, a name is the
// stored name's last path component (a Keras 3 file gives "kernel").
struct LayerWeights {
  std::string layer_name;
  std::vector<std::pair<std::string, Tensor>> weights;
};

// Writes the layout above into `group` (a file or group id). Layers without weights get an empty
// weight_names list, as in Keras. Tensors may be on any device and f32 or f64; they are stored f32.
// Layer and weight names must be non-empty, unique and free of '/'.
void write_keras_weights(hid_t group, const std::vector<LayerWeights>& layers);

// Reads every layer named in `layer_names` (also Keras's split `layer_names0`, `layer_names1`, ...)
// in that order, with all of its weights, as new CPU f32 tensors. Float32 data is read as is,
// other float widths are converted; anything else, a missing group or dataset, a corrupt chunk
// (Fletcher32) or a non-finite value is an Error naming the file, layer and weight. Shapes are
// returned as stored, for the caller to check against the model.
std::vector<LayerWeights> read_keras_weights(hid_t group);
// One float dataset `stored_name` below `layer_group` as a new CPU f32 tensor, checked as above;
// `budget` is how many more values the file may hold (kMaxFileWeightValues in all) and is
// charged with this one's.
Tensor read_keras_weight(hid_t layer_group, const std::string& layer,
                         const std::string& stored_name, std::int64_t& budget);

// Like Keras model.save_weights("x.h5"): the layout at the file root, written atomically.
void save_weights_h5(const std::string& path, const std::vector<LayerWeights>& layers);
// Reads a weights file written by kiln or Keras; a model file (weights under `model_weights`) is
// accepted too.
std::vector<LayerWeights> load_weights_h5(const std::string& path);

// Like Keras model.save("x.h5"): root attributes model_config (JSON text), keras_version, backend
// and training_config when not empty; the weights under `model_weights`. Written atomically.
// `write_extra`, when given, adds kiln's groups (optimizer_weights, kiln_self_test) to the open
// file; the root also gets a kiln_version attribute.
void save_model_h5(const std::string& path, const std::string& model_config_json,
                   const std::string& training_config_json, const std::vector<LayerWeights>& layers,
                   const std::function<void(hid_t file)>& write_extra = {});

struct ModelFileContents {
  std::string model_config;     // JSON text
  std::string training_config;  // JSON text; empty when the file has none
  std::string keras_version;    // empty when the file has none
  std::string backend;          // empty when the file has none
  std::vector<LayerWeights> weights;
};

// Reads a model file written by kiln or by Keras 2 / Keras 3 (legacy HDF5) model.save("x.h5").
// A file without model_config (such as a weights-only file) is an Error saying so and how to
// load it with an architecture.
ModelFileContents read_model_h5(const std::string& path);

}  // namespace kiln
