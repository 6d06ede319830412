// Keras 3's weights layout (io/keras3_weights.h). The snake-case rule is Keras's
// naming.to_snake_case: drop non-word characters, put '_' before a capital that starts a
// lower-case run ("MaxPooling" -> "Max_Pooling") and between a lower-case letter and a capital
// ("ReLU" -> "Re_LU"), then lower-case.
#include "io/keras3_weights.h"

#include <cctype>
#include <map>
#include <regex>

#include "core/check.h"
#include "io/hdf5_file.h"

namespace kiln {
namespace {

constexpr const char* kLayers = "layers";
constexpr const char* kKeras213Layers = "_layer_checkpoint_dependencies";

std::string to_snake_case(const std::string& class_name) {
  std::string name = std::regex_replace(class_name, std::regex(R"(\W+)"), "");
  name = std::regex_replace(name, std::regex("(.)([A-Z][a-z]+)"), "$1_$2");
  name = std::regex_replace(name, std::regex("([a-z])([A-Z])"), "$1_$2");
  for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return name;
}

const char* layers_group(hid_t file) {
  return h5::link_exists(file, kLayers) ? kLayers : kKeras213Layers;
}

}  // namespace

std::vector<std::string> keras3_layer_paths(const std::vector<std::string>& class_names) {
  std::map<std::string, int> used;
  std::vector<std::string> paths;
  for (const std::string& class_name : class_names) {
    const std::string name = to_snake_case(class_name);
    auto [it, first] = used.emplace(name, 0);
    if (!first) ++it->second;
    paths.push_back(first ? name : name + "_" + std::to_string(it->second));
  }
  return paths;
}

bool has_keras3_weights(hid_t file) {
  return h5::link_exists(file, kLayers) || h5::link_exists(file, kKeras213Layers);
}

void write_keras3_weights(hid_t file, const std::vector<LayerWeights>& layers,
                          const std::vector<std::string>& paths) {
  KILN_CHECK(layers.size() == paths.size(), "Keras 3 weights: {} layers but {} paths",
             layers.size(), paths.size());
  h5::create_group(file, "vars");
  for (std::size_t i = 0; i < layers.size(); ++i) {
    h5::Handle vars = h5::create_group(file, std::string(kLayers) + "/" + paths[i] + "/vars");
    const auto& weights = layers[i].weights;
    for (std::size_t j = 0; j < weights.size(); ++j) {
      const Tensor host = weights[j].second.to(Device::cpu()).astype(DType::f32);
      h5::write_dataset(vars.id(), std::to_string(j), DType::f32, host.raw_data(), host.shape());
    }
  }
}

std::vector<LayerWeights> read_keras3_weights(hid_t file,
                                              const std::vector<std::string>& layer_names,
                                              const std::vector<std::string>& paths) {
  KILN_CHECK(has_keras3_weights(file),
             "HDF5 {}: not Keras 3 weights: no layers/ or _layer_checkpoint_dependencies/ group",
             h5::describe(file));
  const std::string prefix = layers_group(file);
  std::int64_t budget = kMaxFileWeightValues;
  std::vector<LayerWeights> layers;
  for (std::size_t i = 0; i < paths.size(); ++i) {
    LayerWeights layer{layer_names.at(i), {}};
    const std::string vars_path = prefix + "/" + paths[i] + "/vars";
    if (h5::link_exists(file, vars_path)) {
      h5::Handle vars = h5::open_group(file, vars_path);
      for (int j = 0; h5::link_exists(vars.id(), std::to_string(j)); ++j) {
        layer.weights.emplace_back(std::to_string(j), read_keras_weight(vars.id(), layer.layer_name,
                                                                        std::to_string(j), budget));
      }
    }
    layers.push_back(std::move(layer));
  }
  return layers;
}

}  // namespace kiln
