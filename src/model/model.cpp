// Model: the functional graph — topological order, name checks, the forward pass, device moves.
#include "kiln/model.h"

#include <set>
#include <unordered_map>
#include <unordered_set>

#include "core/check.h"
#include "layers/naming.h"
#include "model/summary.h"

namespace kiln {

namespace {

// Post-order walk from the outputs: every node after the nodes it reads.
void visit(const std::shared_ptr<GraphNode>& node, std::unordered_set<const GraphNode*>& seen,
           std::vector<std::shared_ptr<GraphNode>>& order) {
  if (!seen.insert(node.get()).second) return;
  for (const auto& input : node->inputs) visit(input, seen, order);
  order.push_back(node);
}

std::vector<std::shared_ptr<GraphNode>> nodes_of(const std::vector<SymbolicTensor>& xs) {
  std::vector<std::shared_ptr<GraphNode>> nodes;
  for (const SymbolicTensor& x : xs) {
    KILN_CHECK(x.node() != nullptr, "Model: an input or output is an undefined SymbolicTensor");
    nodes.push_back(x.node());
  }
  return nodes;
}

}  // namespace

Model::Model(const std::vector<SymbolicTensor>& inputs, const std::vector<SymbolicTensor>& outputs,
             const std::string& name)
    : name_(name.empty() ? unique_name("model") : name) {
  set_graph(inputs, outputs);
}

Model::Model(const SymbolicTensor& input, const SymbolicTensor& output, const std::string& name)
    : Model(std::vector<SymbolicTensor>{input}, std::vector<SymbolicTensor>{output}, name) {}

Model::~Model() = default;

void Model::set_graph(const std::vector<SymbolicTensor>& inputs,
                      const std::vector<SymbolicTensor>& outputs) {
  KILN_CHECK(!inputs.empty() && !outputs.empty(),
             "Model '{}': needs at least one input and one output", name_);
  inputs_ = nodes_of(inputs);
  outputs_ = nodes_of(outputs);
  for (const auto& in : inputs_) {
    KILN_CHECK(in->inputs.empty() && in->layer->type() == "InputLayer",
               "Model '{}': input '{}' is a {} output, expected an Input", name_, in->layer->name(),
               in->layer->type());
  }
  std::unordered_set<const GraphNode*> seen;
  nodes_.clear();
  for (const auto& out : outputs_) visit(out, seen, nodes_);
  std::set<std::string> names;
  layers_.clear();
  for (const auto& node : nodes_) {
    KILN_CHECK(names.insert(node->layer->name()).second,
               "Model '{}': two layers are named '{}'; layer names must be unique", name_,
               node->layer->name());
    if (node->inputs.empty()) {
      bool declared = false;
      for (const auto& in : inputs_) declared = declared || in == node;
      KILN_CHECK(declared,
                 "Model '{}': the graph reads input '{}', which is not among the model's inputs",
                 name_, node->layer->name());
    }
    layers_.push_back(node->layer);
  }
}

LayerPtr Model::get_layer(const std::string& name) const {
  for (const auto& layer : layers_) {
    if (layer->name() == name) return layer;
  }
  fail("Model '{}': no layer named '{}'", name_, name);
}

std::vector<std::string> Model::inbound_layers(const std::string& layer_name) const {
  for (const auto& node : nodes_) {
    if (node->layer->name() != layer_name) continue;
    std::vector<std::string> names;
    for (const auto& in : node->inputs) names.push_back(in->layer->name());
    return names;
  }
  fail("Model '{}': no layer named '{}'", name_, layer_name);
}

Shape Model::layer_output_shape(const std::string& layer_name) const {
  for (const auto& node : nodes_) {
    if (node->layer->name() == layer_name) return node->shape;
  }
  fail("Model '{}': no layer named '{}'", name_, layer_name);
}

std::vector<std::string> Model::input_names() const {
  std::vector<std::string> names;
  for (const auto& node : inputs_) names.push_back(node->layer->name());
  return names;
}

std::vector<std::string> Model::output_names() const {
  std::vector<std::string> names;
  for (const auto& node : outputs_) names.push_back(node->layer->name());
  return names;
}

std::vector<std::shared_ptr<Variable>> Model::weights() const {
  std::vector<std::shared_ptr<Variable>> all;
  for (const auto& layer : layers_) {
    all.insert(all.end(), layer->weights().begin(), layer->weights().end());
  }
  return all;
}

std::vector<std::shared_ptr<Variable>> Model::trainable_weights() const {
  std::vector<std::shared_ptr<Variable>> trainable;
  for (const auto& layer : layers_) {
    if (!layer->trainable()) continue;
    for (const auto& w : layer->weights()) {
      if (w->trainable()) trainable.push_back(w);
    }
  }
  return trainable;
}

std::int64_t Model::count_params() const {
  std::int64_t total = 0;
  for (const auto& layer : layers_) total += layer->count_params();
  return total;
}

void Model::to(Device device) {
  for (const auto& w : weights()) {
    w->value() = w->value().to(device);
    if (w->grad().defined()) w->grad() = w->grad().to(device);
  }
  device_ = device;
}

bool Model::is_chain() const {
  if (inputs_.size() != 1 || outputs_.size() != 1) return false;
  std::unordered_map<const GraphNode*, int> consumers;
  for (const auto& node : nodes_) {
    if (node->inputs.size() > 1) return false;
    for (const auto& in : node->inputs) {
      if (++consumers[in.get()] > 1) return false;
    }
  }
  return true;
}

TensorMap Model::call(const TensorMap& inputs, bool training) {
  check_built();
  KILN_CHECK(inputs.size() == inputs_.size(), "Model '{}': expected {} input(s), found {}", name_,
             inputs_.size(), inputs.size());
  std::unordered_map<const GraphNode*, Tensor> values;
  for (const auto& node : inputs_) {
    const std::string& name = node->layer->name();
    auto found = inputs.find(name);
    KILN_CHECK(found != inputs.end(), "Model '{}': no tensor given for input '{}'", name_, name);
    const Tensor& x = found->second;
    KILN_CHECK(x.defined() && x.rank() == static_cast<int>(node->shape.size()) + 1 &&
                   Shape(x.shape().begin() + 1, x.shape().end()) == node->shape,
               "Model '{}': input '{}' expects shape {}, found {}", name_, name,
               batch_shape_str(node->shape), x.defined() ? shape_str(x.shape()) : "undefined");
    values[node.get()] = x.dtype() == DType::f32 ? x.to(device_) : x.astype(DType::f32).to(device_);
  }
  for (const auto& node : nodes_) {
    if (node->inputs.empty()) continue;
    std::vector<Tensor> args;
    for (const auto& in : node->inputs) args.push_back(values.at(in.get()));
    values[node.get()] = node->layer->call(args, training);
  }
  TensorMap outputs;
  for (const auto& node : outputs_) outputs[node->layer->name()] = values.at(node.get());
  return outputs;
}

void Model::check_built() const {
  KILN_CHECK(!inputs_.empty(),
             "Model '{}' is not built yet: start a Sequential with InputLayer(shape) "
             "or call build(input_shape) before using it",
             name_);
}

Tensor Model::call(const Tensor& input, bool training) {
  check_built();
  KILN_CHECK(inputs_.size() == 1 && outputs_.size() == 1,
             "Model '{}': call(Tensor) needs one input and one output, the model has {} and {}",
             name_, inputs_.size(), outputs_.size());
  return call(TensorMap{{inputs_[0]->layer->name(), input}}, training).begin()->second;
}

std::string Model::summary_text(bool chain, bool show_inputs) const {
  return render_summary(name_, layers_, nodes_, chain, show_inputs, count_params());
}

std::string Model::summary() const { return summary_text(is_chain(), true); }

// ---- Sequential

std::string Sequential::summary() const {
  KILN_CHECK(input_.node() != nullptr,
             "Sequential '{}': not built yet; add an InputLayer or call build()", name_);
  return summary_text(true, false);
}

Sequential::Sequential(const std::string& name) {
  name_ = name.empty() ? unique_name("sequential") : name;
}

Sequential::Sequential(const std::vector<LayerRef>& layers, const std::string& name)
    : Sequential(name) {
  for (const LayerRef& layer : layers) add(layer);
}

void Sequential::add(const LayerRef& layer) {
  if (layer->type() == "InputLayer") {
    KILN_CHECK(input_.node() == nullptr && pending_.empty(),
               "Sequential '{}': an InputLayer can only be the first layer", name_);
    input_ = (*layer)(std::vector<SymbolicTensor>{});
    last_ = input_;
    return;
  }
  if (input_.node() == nullptr) {
    pending_.push_back(layer);
    return;
  }
  last_ = layer(last_);
  set_graph({input_}, {last_});
}

void Sequential::build(const Shape& input_shape) {
  KILN_CHECK(input_.node() == nullptr, "Sequential '{}': already has an input", name_);
  input_ = Input(input_shape);
  last_ = input_;
  std::vector<LayerRef> layers;
  layers.swap(pending_);
  for (const LayerRef& layer : layers) add(layer);
}

std::unique_ptr<Sequential> seed_model(std::int64_t classes) {
  auto model = std::make_unique<Sequential>();
  model->add(InputLayer({28, 28, 1}));
  model->add(Conv2D(64, 3, {.activation = "relu"}));
  model->add(MaxPooling2D(2));
  model->add(Conv2D(128, 3, {.activation = "relu"}));
  model->add(MaxPooling2D(2));
  model->add(Flatten());
  model->add(Dense(128, {.activation = "relu"}));
  model->add(Dense(64, {.activation = "relu"}));
  model->add(Dense(classes, {.activation = "softmax"}));
  return model;
}

std::unique_ptr<Model> odd_even_model() {
  SymbolicTensor input = Input({28, 28, 1}, "input");
  SymbolicTensor x = Conv2D(64, 3, {.activation = "relu", .name = "conv_1"})(input);
  x = MaxPooling2D(2, "maxpool_1")(x);
  x = Conv2D(128, 3, {.activation = "relu", .name = "conv_2"})(x);
  x = MaxPooling2D(2, "maxpool_2")(x);
  SymbolicTensor flat_features = Flatten("flatten_1")(x);
  SymbolicTensor flat_pixels = Flatten("flatten_2")(input);
  SymbolicTensor joined = Concatenate(-1, "concatenate")({flat_features, flat_pixels});
  SymbolicTensor num = Dense(10, {.activation = "softmax", .name = "num_out"})(joined);
  SymbolicTensor odd = Dense(1, {.activation = "sigmoid", .name = "odd_out"})(flat_pixels);
  return std::make_unique<Model>(std::vector<SymbolicTensor>{input},
                                 std::vector<SymbolicTensor>{num, odd});
}

}  // namespace kiln
