// The Keras 2 HDF5 weights and model layout on top of io/hdf5_file.h. Writes validate the names
// first and go through write_file_atomically; reads check every name, type and value.
#include "io/keras_h5.h"

#include <algorithm>
#include <cmath>
#include <set>
#include <string>
#include <vector>

#include "core/check.h"
#include "io/atomic_file.h"
#include "io/hdf5_file.h"
#include "kiln/build_info.h"

namespace kiln {
namespace {

// Keras splits a list attribute into name0, name1, ... above this many bytes (HDF5's object
// header limit for compact attributes).
constexpr std::size_t kHeaderLimit = 64512;
constexpr const char* kModelWeights = "model_weights";

void check_name(const std::string& name, const char* what, const std::string& context) {
  KILN_CHECK(!name.empty() && name.find('/') == std::string::npos && name != "." && name != "..",
             "{}: {} name '{}' must be non-empty and contain no '/'", context, what, name);
}

void check_layers(const std::vector<LayerWeights>& layers, const std::string& path) {
  std::set<std::string> seen;
  for (const LayerWeights& layer : layers) {
    check_name(layer.layer_name, "layer", path);
    KILN_CHECK(seen.insert(layer.layer_name).second, "{}: layer name '{}' appears twice", path,
               layer.layer_name);
    std::set<std::string> weights;
    for (const auto& [name, tensor] : layer.weights) {
      check_name(name, "weight", path);
      KILN_CHECK(weights.insert(name).second, "{}: layer '{}': weight name '{}' appears twice",
                 path, layer.layer_name, name);
      KILN_CHECK(tensor.defined() && is_floating(tensor.dtype()),
                 "{}: layer '{}', weight '{}': expected a float tensor, found {}", path,
                 layer.layer_name, name, tensor.defined() ? tensor.str() : "an undefined tensor");
    }
  }
}

// Largest piece when `count` items are split into `pieces` as numpy.array_split does.
std::size_t largest_piece(std::size_t count, std::size_t pieces) {
  return count / pieces + (count % pieces != 0 ? 1 : 0);
}

// Keras's save_attributes_to_hdf5_group: one fixed-length string array, or name0, name1, ...
// when the array would exceed the object header limit.
void write_keras_list(hid_t object, const std::string& name,
                      const std::vector<std::string>& values) {
  std::size_t width = 1;
  for (const std::string& value : values) width = std::max(width, value.size());
  KILN_CHECK(width <= kHeaderLimit, "HDF5 {}: attribute {}: a name of {} bytes exceeds {}",
             h5::describe(object), name, width, kHeaderLimit);
  std::size_t pieces = 1;
  while (largest_piece(values.size(), pieces) * width > kHeaderLimit) ++pieces;
  if (pieces == 1) {
    h5::write_string_list_attribute(object, name, values);
    return;
  }
  std::size_t start = 0;
  for (std::size_t piece = 0; piece < pieces; ++piece) {
    std::size_t size = values.size() / pieces + (piece < values.size() % pieces ? 1 : 0);
    std::vector<std::string> part(values.begin() + static_cast<std::ptrdiff_t>(start),
                                  values.begin() + static_cast<std::ptrdiff_t>(start + size));
    h5::write_string_list_attribute(object, name + std::to_string(piece), part);
    start += size;
  }
}

// Keras's load_attributes_from_hdf5_group: `name`, else name0, name1, ... concatenated.
std::vector<std::string> read_keras_list(hid_t object, const std::string& name) {
  if (h5::has_attribute(object, name)) return h5::read_string_list_attribute(object, name);
  KILN_CHECK(h5::has_attribute(object, name + "0"),
             "HDF5 {}: attribute {} is missing (not a Keras HDF5 weights group)",
             h5::describe(object), name);
  std::vector<std::string> values;
  for (int piece = 0; h5::has_attribute(object, name + std::to_string(piece)); ++piece) {
    std::vector<std::string> part =
        h5::read_string_list_attribute(object, name + std::to_string(piece));
    values.insert(values.end(), part.begin(), part.end());
  }
  return values;
}

// A contiguous CPU f32 copy of a weight (f64 is narrowed).
Tensor host_f32(const Tensor& tensor) {
  Tensor host = tensor.to(Device::cpu());
  if (host.dtype() == DType::f32) return host;
  Tensor narrowed = Tensor::empty(host.shape(), DType::f32);
  const double* in = host.data<double>();
  float* out = narrowed.data<float>();
  for (std::int64_t i = 0; i < host.numel(); ++i) out[i] = static_cast<float>(in[i]);
  return narrowed;
}

void write_layer(hid_t parent, const LayerWeights& layer) {
  h5::Handle group = h5::create_group(parent, layer.layer_name);
  std::vector<std::string> stored_names;
  for (const auto& weight : layer.weights)
    stored_names.push_back(layer.layer_name + "/" + weight.first);
  write_keras_list(group.id(), "weight_names", stored_names);
  for (std::size_t i = 0; i < layer.weights.size(); ++i) {
    Tensor values = host_f32(layer.weights[i].second);
    h5::write_dataset(group.id(), stored_names[i], DType::f32, values.data<float>(),
                      values.shape());
  }
}

std::string last_component(const std::string& name) {
  std::size_t slash = name.rfind('/');
  return slash == std::string::npos ? name : name.substr(slash + 1);
}

LayerWeights read_layer(hid_t parent, const std::string& layer_name, std::int64_t& budget) {
  h5::Handle group = h5::open_group(parent, layer_name);
  LayerWeights layer{layer_name, {}};
  for (const std::string& stored_name : read_keras_list(group.id(), "weight_names")) {
    layer.weights.emplace_back(last_component(stored_name),
                               read_keras_weight(group.id(), layer_name, stored_name, budget));
  }
  return layer;
}

void write_model_file(const std::string& temp, const std::string& model_config_json,
                      const std::string& training_config_json,
                      const std::vector<LayerWeights>& layers,
                      const std::function<void(hid_t)>& write_extra) {
  h5::Handle file = h5::create_file(temp);
  h5::write_string_attribute(file.id(), "keras_version", kKerasVersion,
                             h5::StringStorage::variable_length);
  h5::write_string_attribute(file.id(), "backend", kKerasBackend,
                             h5::StringStorage::variable_length);
  h5::write_string_attribute(file.id(), "kiln_version", version(),
                             h5::StringStorage::variable_length);
  h5::write_string_attribute(file.id(), "model_config", model_config_json);
  if (!training_config_json.empty()) {
    h5::write_string_attribute(file.id(), "training_config", training_config_json);
  }
  {
    h5::Handle weights = h5::create_group(file.id(), kModelWeights);
    write_keras_weights(weights.id(), layers);
  }
  if (write_extra) write_extra(file.id());
  file.close();
}

std::string optional_string(hid_t object, const char* name) {
  return h5::has_attribute(object, name) ? h5::read_string_attribute(object, name) : std::string();
}

}  // namespace

Tensor read_keras_weight(hid_t layer_group, const std::string& layer,
                         const std::string& stored_name, std::int64_t& budget) {
  h5::Handle dataset = h5::open_dataset(layer_group, stored_name);
  std::string type = h5::dataset_type_name(dataset.id());
  KILN_CHECK(type.rfind("float", 0) == 0,
             "HDF5 {}: layer '{}', weight '{}': expected float32 data, found {}",
             h5::describe(dataset.id()), layer, stored_name, type);
  const Shape shape = h5::dataset_shape(dataset.id());
  const std::int64_t count = shape_numel(shape);
  KILN_CHECK(count <= budget,
             "HDF5 {}: layer '{}', weight '{}' of shape {}: the file's weights exceed the {} "
             "values kiln reads",
             h5::describe(dataset.id()), layer, stored_name, shape_str(shape),
             kMaxFileWeightValues);
  budget -= count;
  Tensor values = Tensor::empty(shape, DType::f32);
  try {
    h5::read_dataset(dataset.id(), DType::f32, values.data<float>());
  } catch (const Error& error) {
    fail("{} (layer '{}', weight '{}')", error.what(), layer, stored_name);
  }
  const float* data = values.data<float>();
  for (std::int64_t i = 0; i < values.numel(); ++i) {
    KILN_CHECK(std::isfinite(data[i]),
               "HDF5 {}: layer '{}', weight '{}' of shape {}: element {} is {} (weights must be "
               "finite)",
               h5::describe(dataset.id()), layer, stored_name, shape_str(values.shape()), i,
               data[i]);
  }
  return values;
}

void write_keras_weights(hid_t group, const std::vector<LayerWeights>& layers) {
  check_layers(layers, h5::describe(group));
  std::vector<std::string> names;
  for (const LayerWeights& layer : layers) names.push_back(layer.layer_name);
  write_keras_list(group, "layer_names", names);
  h5::write_string_attribute(group, "backend", kKerasBackend);
  h5::write_string_attribute(group, "keras_version", kKerasVersion);
  for (const LayerWeights& layer : layers) write_layer(group, layer);
}

std::vector<LayerWeights> read_keras_weights(hid_t group) {
  std::vector<std::string> names = read_keras_list(group, "layer_names");
  std::set<std::string> seen;
  std::vector<LayerWeights> layers;
  std::int64_t budget = kMaxFileWeightValues;
  for (const std::string& name : names) {
    KILN_CHECK(seen.insert(name).second, "HDF5 {}: layer_names lists '{}' twice",
               h5::describe(group), name);
    layers.push_back(read_layer(group, name, budget));
  }
  return layers;
}

void save_weights_h5(const std::string& path, const std::vector<LayerWeights>& layers) {
  check_layers(layers, path);
  write_file_atomically(path, [&](const std::string& temp) {
    h5::Handle file = h5::create_file(temp);
    write_keras_weights(file.id(), layers);
    file.close();
  });
}

std::vector<LayerWeights> load_weights_h5(const std::string& path) {
  h5::Handle file = h5::open_file(path);
  bool has_names =
      h5::has_attribute(file.id(), "layer_names") || h5::has_attribute(file.id(), "layer_names0");
  if (!has_names && h5::link_exists(file.id(), kModelWeights)) {
    h5::Handle weights = h5::open_group(file.id(), kModelWeights);
    return read_keras_weights(weights.id());
  }
  KILN_CHECK(has_names,
             "HDF5 {}: not a Keras weights file: no layer_names attribute at the root and no "
             "model_weights group",
             path);
  return read_keras_weights(file.id());
}

void save_model_h5(const std::string& path, const std::string& model_config_json,
                   const std::string& training_config_json, const std::vector<LayerWeights>& layers,
                   const std::function<void(hid_t)>& write_extra) {
  check_layers(layers, path);
  KILN_CHECK(!model_config_json.empty(), "{}: the model_config JSON is empty", path);
  KILN_CHECK(
      model_config_json.size() <= kHeaderLimit && training_config_json.size() <= kHeaderLimit,
      "{}: model_config ({} bytes) or training_config ({} bytes) exceeds the {} bytes an "
      "HDF5 attribute holds",
      path, model_config_json.size(), training_config_json.size(), kHeaderLimit);
  write_file_atomically(path, [&](const std::string& temp) {
    write_model_file(temp, model_config_json, training_config_json, layers, write_extra);
  });
}

ModelFileContents read_model_h5(const std::string& path) {
  h5::Handle file = h5::open_file(path);
  KILN_CHECK(h5::has_attribute(file.id(), "model_config"),
             "HDF5 {}: not a model file: no model_config attribute (a weights-only file? it has "
             "no architecture: load it with one, load_model(\"arch.json\", {{.weights = path}}) or "
             "kiln ... --model arch.json --weights {})",
             path, path);
  ModelFileContents contents;
  contents.model_config = h5::read_string_attribute(file.id(), "model_config");
  contents.training_config = optional_string(file.id(), "training_config");
  contents.keras_version = optional_string(file.id(), "keras_version");
  contents.backend = optional_string(file.id(), "backend");
  h5::Handle weights = h5::open_group(file.id(), kModelWeights);
  contents.weights = read_keras_weights(weights.id());
  return contents;
}

}  // namespace kiln
