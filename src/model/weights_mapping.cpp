// Model weights <-> Keras 2 HDF5 layers (model/weights_mapping.h).
#include "model/weights_mapping.h"

#include "core/check.h"
#include "model/summary.h"

namespace kiln {

namespace {

std::string short_name(const std::string& variable_name) {
  return variable_name.substr(variable_name.rfind('/') + 1);
}

}  // namespace

std::vector<LayerPtr> saved_layers(const Model& model) {
  std::vector<LayerPtr> layers;
  for (const LayerPtr& layer : model.layers()) {
    if (is_sequential(model) && layer->type() == "InputLayer") continue;
    layers.push_back(layer);
  }
  return layers;
}

std::vector<LayerWeights> layer_weights(const Model& model) {
  std::vector<LayerWeights> all;
  for (const LayerPtr& layer : saved_layers(model)) {
    LayerWeights lw{layer->name(), {}};
    for (const auto& v : layer->weights())
      lw.weights.emplace_back(short_name(v->name()), v->value());
    all.push_back(std::move(lw));
  }
  return all;
}

std::vector<Tensor> matched_values(const Model& model, const std::vector<LayerWeights>& file,
                                   const std::string& path) {
  std::vector<LayerPtr> layers;
  for (const LayerPtr& l : saved_layers(model)) {
    if (!l->weights().empty()) layers.push_back(l);
  }
  std::vector<const LayerWeights*> stored;
  for (const LayerWeights& lw : file) {
    if (!lw.weights.empty()) stored.push_back(&lw);
  }
  KILN_CHECK(layers.size() == stored.size(),
             "{}: the file holds weights for {} layers, model '{}' has {} layers with weights",
             path, stored.size(), model.name(), layers.size());
  std::vector<Tensor> values;
  for (std::size_t i = 0; i < layers.size(); ++i) {
    const Layer& layer = *layers[i];
    const LayerWeights& lw = *stored[i];
    KILN_CHECK(lw.weights.size() == layer.weights().size(),
               "{}: layer '{}' in the file has {} weights, model layer '{}' has {}", path,
               lw.layer_name, lw.weights.size(), layer.name(), layer.weights().size());
    for (std::size_t j = 0; j < lw.weights.size(); ++j) {
      const Tensor& want = layer.weights()[j]->value();
      const Tensor& got = lw.weights[j].second;
      KILN_CHECK(got.shape() == want.shape(),
                 "{}: weight '{}' of layer '{}' has shape {}, model layer '{}' expects {}", path,
                 lw.weights[j].first, lw.layer_name, shape_str(got.shape()), layer.name(),
                 shape_str(want.shape()));
      values.push_back(got.astype(DType::f32).to(want.device()));
    }
  }
  return values;
}

}  // namespace kiln
