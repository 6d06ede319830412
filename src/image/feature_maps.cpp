// first_conv_layer and layer_activations: a loaded model's layer output for one input, computed by
// walking the layers that feed it (Model exposes each layer's inbound layers), which is what a
// Keras sub-model Model(inputs=model.input, outputs=layer.output) computes.
#include "kiln/feature_maps.h"

#include <functional>
#include <map>
#include <string>
#include <vector>

#include "core/check.h"
#include "kiln/tape.h"

namespace kiln {

namespace {

std::string layer_names(const Model& model) {
  std::string names;
  for (const LayerPtr& layer : model.layers()) {
    names += (names.empty() ? "" : ", ") + layer->name() + " (" + layer->type() + ")";
  }
  return names;
}

LayerPtr find_layer(const Model& model, const std::string& name) {
  for (const LayerPtr& layer : model.layers()) {
    if (layer->name() == name) return layer;
  }
  fail("features: model '{}' has no layer named '{}'; its layers are: {}", model.name(), name,
       layer_names(model));
}

// The model's single input layer's shape (batch excluded).
Shape input_shape(const Model& model) {
  const std::vector<std::string> inputs = model.input_names();
  KILN_CHECK(inputs.size() == 1, "features: model '{}' has {} inputs; one is supported",
             model.name(), inputs.size());
  return model.get_layer(inputs[0])->output_shape({});
}

void check_input(const Model& model, const Tensor& input) {
  const Shape expected = input_shape(model);
  KILN_CHECK(input.defined(), "features: the input tensor is undefined");
  const bool fits = input.rank() == static_cast<int>(expected.size()) + 1 && input.dim(0) >= 1 &&
                    Shape(input.shape().begin() + 1, input.shape().end()) == expected;
  KILN_CHECK(fits, "features: model '{}' takes inputs (batch, {}), found {}", model.name(),
             fmt::join(expected, ", "), input.str());
}

}  // namespace

std::string first_conv_layer(const Model& model) {
  for (const LayerPtr& layer : model.layers()) {
    if (layer->type() == "Conv2D") return layer->name();
  }
  fail("features: model '{}' has no Conv2D layer; its layers are: {}", model.name(),
       layer_names(model));
}

Tensor layer_activations(Model& model, const Tensor& input, const std::string& layer_name) {
  find_layer(model, layer_name);
  check_input(model, input);
  NoGrad no_grad;
  const Tensor x = input.astype(DType::f32).to(model.device());
  std::map<std::string, Tensor> outputs;
  std::function<Tensor(const std::string&)> output_of = [&](const std::string& name) {
    auto known = outputs.find(name);
    if (known != outputs.end()) return known->second;
    const std::vector<std::string> inbound = model.inbound_layers(name);
    Tensor value = x;
    if (!inbound.empty()) {
      std::vector<Tensor> arguments;
      for (const std::string& in : inbound) arguments.push_back(output_of(in));
      value = model.get_layer(name)->call(arguments, false);
    }
    outputs[name] = value;
    return value;
  };
  return output_of(layer_name).to(Device::cpu());
}

}  // namespace kiln
