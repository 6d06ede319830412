// model_config: a model's architecture as Keras 2 JSON, and models built back from Keras 2 and
// Keras 3 (legacy HDF5) configs. Keras 3 differs in places — `batch_shape` for
// `batch_input_shape`, dtype-policy objects for dtype strings, `module` / `registered_name` keys,
// inbound nodes as {"args": [keras tensors]} — and both spellings are read.
#include <cstdint>
#include <limits>
#include <map>
#include <optional>

#include <nlohmann/json.hpp>

#include "core/check.h"
#include "model/summary.h"
#include "kiln/model_io.h"
#include "layers/layer_types.h"

namespace kiln {

namespace {

using Json = nlohmann::ordered_json;

Json layer_entry(const Layer& layer) {
  return {{"class_name", layer.type()}, {"config", Json::parse(layer.config_json())}};
}

Json node_ref(const std::string& layer_name) { return Json::array({layer_name, 0, 0}); }

Json functional_config(const Model& model) {
  Json layers = Json::array();
  for (const LayerPtr& layer : model.layers()) {
    Json entry = layer_entry(*layer);
    entry["name"] = layer->name();
    entry["inbound_nodes"] = Json::array();
    layers.push_back(entry);
  }
  return {{"name", model.name()}, {"layers", layers}};
}

}  // namespace

std::string model_config_json(const Model& model) {
  if (is_sequential(model)) {
    Json layers = Json::array();
    for (const LayerPtr& layer : model.layers()) layers.push_back(layer_entry(*layer));
    return Json{{"class_name", "Sequential"},
                {"config", {{"name", model.name()}, {"layers", layers}}}}
        .dump();
  }
  Json config = functional_config(model);
  for (Json& entry : config["layers"]) {
    const auto sources = model.inbound_layers(entry["name"].get<std::string>());
    if (sources.empty()) continue;
    Json node = Json::array();
    for (const std::string& s : sources) node.push_back(Json::array({s, 0, 0, Json::object()}));
    entry["inbound_nodes"] = Json::array({node});
  }
  Json inputs = Json::array(), outputs = Json::array();
  for (const std::string& name : model.input_names()) inputs.push_back(node_ref(name));
  for (const std::string& name : model.output_names()) outputs.push_back(node_ref(name));
  config["input_layers"] = inputs;
  config["output_layers"] = outputs;
  return Json{{"class_name", "Functional"}, {"config", config}}.dump();
}

namespace {

// ---- reading
//
// A model_config may come from any file, so every value is checked before it is used: integers
// must be integers within int32 (a float or a huge number would not convert safely, and no extent,
// size or count of a real model comes near), arrays are indexed with at(), and the weights a layer
// would create are counted before the layer is called (which allocates and initialises them).

constexpr std::int64_t kMaxConfigInteger = std::numeric_limits<std::int32_t>::max();
// The most weight values a model may have (64 MiB of float32: 30 times the seed model; Keras's
// MNIST and CIFAR examples have under 1.3 M).
constexpr std::int64_t kMaxModelValues = std::int64_t{1} << 24;

std::int64_t integer(const Json& value, const std::string& where) {
  bool fits = false;
  if (value.is_number_unsigned()) {
    fits = value.get<std::uint64_t>() <= static_cast<std::uint64_t>(kMaxConfigInteger);
  } else if (value.is_number_integer()) {
    const auto number = value.get<std::int64_t>();
    fits = number >= -kMaxConfigInteger && number <= kMaxConfigInteger;
  }
  KILN_CHECK(fits, "{}: expected an integer within +-{}, found {}", where, kMaxConfigInteger,
             value.dump());
  return value.get<std::int64_t>();
}

Size2 size2(const Json& value, const std::string& where) {
  if (!value.is_array()) return Size2(integer(value, where));
  KILN_CHECK(value.size() == 2, "{}: expected an integer or a pair, found {}", where, value.dump());
  return Size2(integer(value[0], where), integer(value[1], where));
}

// Counts the weights of the layers as they are created, so that a config cannot make kiln
// allocate without bound.
class WeightBudget {
 public:
  // Throws unless a `class_name` layer with this config, called on `inputs`, stays within the
  // limits. Only Conv2D, Dense, BatchNormalization and the depthwise convolutions have weights;
  // a call the layer rejects is left to the layer.
  void charge(const std::string& class_name, const Json& config, const std::vector<Shape>& inputs,
              const std::string& where) {
    if (inputs.size() != 1 || inputs[0].empty()) return;
    const std::int64_t channels = inputs[0].back();
    std::int64_t kernel = 0, bias = 0;
    if (class_name == "Dense") {
      bias = integer(config.at("units"), where);
      kernel = product({channels, bias}, where);
    } else if (class_name == "Conv2D") {
      const Size2 size = size2(config.at("kernel_size"), where);
      bias = integer(config.at("filters"), where);
      kernel = product({size.h, size.w, channels, bias}, where);
    } else if (class_name == "BatchNormalization") {
      kernel = product({4, channels}, where);
    } else if (class_name == "DepthwiseConv2D" || class_name == "SeparableConv2D") {
      const Size2 size = size2(config.at("kernel_size"), where);
      const std::int64_t spread =
          product({channels, integer(config.value("depth_multiplier", Json(1)), where)}, where);
      kernel = product({size.h, size.w, spread}, where);
      bias = spread;
      if (class_name == "SeparableConv2D") {
        bias = integer(config.at("filters"), where);
        kernel += product({spread, bias}, where);
      }
    }
    used_ += kernel + bias;
    KILN_CHECK(used_ <= kMaxModelValues, "{}: the model's weights exceed the {} values kiln reads",
               where, kMaxModelValues);
  }

 private:
  // The product of positive extents, at most kMaxModelValues.
  static std::int64_t product(std::initializer_list<std::int64_t> extents,
                              const std::string& where) {
    std::int64_t count = 1;
    for (std::int64_t extent : extents) {
      KILN_CHECK(extent >= 1 && extent <= kMaxModelValues / count,
                 "{}: a weight of more than the {} values kiln reads (or an extent below 1)", where,
                 kMaxModelValues);
      count *= extent;
    }
    return count;
  }

  std::int64_t used_ = 0;
};

Padding padding_of(const Json& value, const std::string& where) {
  if (value.is_string()) {
    const auto text = value.get<std::string>();
    KILN_CHECK(text == "valid" || text == "same", "{}: padding '{}' is not supported (valid, same)",
               where, text);
    return Padding::parse(text);
  }
  KILN_CHECK(value.is_array() && value.size() == 2, "{}: unsupported padding {}", where,
             value.dump());
  return Padding::explicit_amounts(integer(value[0].at(0), where), integer(value[0].at(1), where),
                                   integer(value[1].at(0), where), integer(value[1].at(1), where));
}

std::string activation_of(const Json& config, const std::string& where) {
  if (!config.contains("activation") || config["activation"].is_null()) return "linear";
  const Json& a = config["activation"];
  if (a.is_string()) return a.get<std::string>();
  KILN_CHECK(a.is_object() && a.contains("config") && a["config"].contains("name"),
             "{}: unsupported activation {}", where, a.dump());
  return a["config"]["name"].get<std::string>();
}

void expect_value(const Json& config, const char* key, const Json& supported,
                  const std::string& where) {
  if (!config.contains(key) || config[key].is_null()) return;
  KILN_CHECK(config[key] == supported, "{}: {} = {} is not supported (kiln supports {})", where,
             key, config[key].dump(), supported.dump());
}

Shape input_shape_of(const Json& config, const std::string& where) {
  const char* key = config.contains("batch_input_shape") ? "batch_input_shape" : "batch_shape";
  KILN_CHECK(config.contains(key) && config[key].is_array() && !config[key].empty(),
             "{}: InputLayer has neither batch_input_shape nor batch_shape", where);
  Shape shape;
  for (std::size_t i = 1; i < config[key].size(); ++i) {
    KILN_CHECK(!config[key][i].is_null(), "{}: input shape {} has an unknown extent", where,
               config[key].dump());
    shape.push_back(integer(config[key][i], where));
  }
  return shape;
}

std::string text_or(const Json& config, const char* key, const std::string& fallback) {
  return config.contains(key) && config[key].is_string() ? config[key].get<std::string>()
                                                         : fallback;
}

// ---- the layers added for Keras files (docs/LAYERS.md)

double number(const Json& value, const std::string& where, const char* key) {
  KILN_CHECK(value.is_number(), "{}: expected a number for {}, found {}", where, key, value.dump());
  return value.get<double>();
}

double number_or(const Json& config, const char* key, double fallback, const std::string& where) {
  if (!config.contains(key) || config[key].is_null()) return fallback;
  return number(config[key], where, key);
}

// Keras 2 writes a built BatchNormalization's axis as a list ([3]); Keras 3 as an integer.
int single_axis(const Json& value, const std::string& where) {
  if (value.is_array()) {
    KILN_CHECK(value.size() == 1, "{}: expected one axis, found {}", where, value.dump());
    return static_cast<int>(integer(value[0], where));
  }
  return static_cast<int>(integer(value, where));
}

// ZeroPadding2D: n, (h, w) or ((top, bottom), (left, right)).
Padding zero_padding_of(const Json& value, const std::string& where) {
  if (!value.is_array()) {
    const std::int64_t n = integer(value, where);
    return Padding::symmetric(n, n);
  }
  KILN_CHECK(value.size() == 2, "{}: expected padding n, [h, w] or [[t, b], [l, r]], found {}",
             where, value.dump());
  if (!value[0].is_array())
    return Padding::symmetric(integer(value[0], where), integer(value[1], where));
  return Padding::explicit_amounts(integer(value[0].at(0), where), integer(value[0].at(1), where),
                                   integer(value[1].at(0), where), integer(value[1].at(1), where));
}

Shape shape_of(const Json& value, const std::string& where) {
  KILN_CHECK(value.is_array(), "{}: expected a list of extents, found {}", where, value.dump());
  Shape shape;
  for (const Json& e : value) shape.push_back(integer(e, where));
  return shape;
}

LayerRef merge_from_config(const std::string& class_name, const std::string& name) {
  if (class_name == "Add") return Add(name);
  if (class_name == "Subtract") return Subtract(name);
  if (class_name == "Multiply") return Multiply(name);
  if (class_name == "Average") return Average(name);
  return Maximum(name);
}

LayerRef depthwise_from_config(const std::string& class_name, const Json& config,
                               const std::string& name, const std::string& where) {
  expect_value(config, "dilation_rate", Json::array({1, 1}), where);
  DepthwiseConv2DOptions o;
  o.strides = size2(config.value("strides", Json(1)), where);
  o.padding = padding_of(config.value("padding", Json("valid")), where);
  o.depth_multiplier = integer(config.value("depth_multiplier", Json(1)), where);
  o.activation = activation_of(config, where);
  o.use_bias = config.value("use_bias", true);
  o.name = name;
  const Size2 kernel = size2(config.at("kernel_size"), where);
  if (class_name == "DepthwiseConv2D") return DepthwiseConv2D(kernel, o);
  return SeparableConv2D(integer(config.at("filters"), where), kernel, o);
}

LayerRef more_layer_from_config(const std::string& class_name, const Json& config,
                                const std::string& name, const std::string& where) {
  if (class_name == "BatchNormalization") {
    expect_value(config, "renorm", false, where);
    expect_value(config, "virtual_batch_size", nullptr, where);
    expect_value(config, "synchronized", false, where);
    BatchNormalizationOptions o;
    o.axis = single_axis(config.value("axis", Json(-1)), where);
    o.momentum = number_or(config, "momentum", 0.99, where);
    o.epsilon = number_or(config, "epsilon", 1e-3, where);
    o.center = config.value("center", true);
    o.scale = config.value("scale", true);
    o.name = name;
    return BatchNormalization(o);
  }
  if (class_name == "ReLU") {
    ReluOptions o;
    if (config.contains("max_value") && !config["max_value"].is_null()) {
      o.max_value = number(config["max_value"], where, "max_value");
    }
    o.negative_slope = number_or(config, "negative_slope", 0.0, where);
    o.threshold = number_or(config, "threshold", 0.0, where);
    return ReLU(o, name);
  }
  if (class_name == "LeakyReLU") {
    const char* key = config.contains("negative_slope") ? "negative_slope" : "alpha";
    return LeakyReLU(number_or(config, key, 0.3, where), name);
  }
  if (class_name == "Softmax")
    return Softmax(single_axis(config.value("axis", Json(-1)), where), name);
  if (class_name == "Rescaling") {
    return Rescaling(number(config.at("scale"), where, "scale"),
                     number_or(config, "offset", 0.0, where), name);
  }
  if (class_name == "Reshape") return Reshape(shape_of(config.at("target_shape"), where), name);
  if (class_name == "ZeroPadding2D") {
    return ZeroPadding2D(zero_padding_of(config.value("padding", Json(1)), where), name);
  }
  if (class_name == "GlobalAveragePooling2D")
    return GlobalAveragePooling2D(config.value("keepdims", false), name);
  if (class_name == "GlobalMaxPooling2D")
    return GlobalMaxPooling2D(config.value("keepdims", false), name);
  if (class_name == "UpSampling2D") {
    return UpSampling2D(size2(config.value("size", Json(2)), where),
                        text_or(config, "interpolation", "nearest"), name);
  }
  if (class_name == "DepthwiseConv2D" || class_name == "SeparableConv2D") {
    return depthwise_from_config(class_name, config, name, where);
  }
  if (class_name == "Add" || class_name == "Subtract" || class_name == "Multiply" ||
      class_name == "Average" || class_name == "Maximum") {
    return merge_from_config(class_name, name);
  }
  fail(
      "{}: unsupported layer class '{}'; kiln reads InputLayer, Conv2D, MaxPooling2D, "
      "AveragePooling2D, MinPooling2D, Dense, Flatten, Dropout, Activation, Concatenate, "
      "BatchNormalization, ReLU, LeakyReLU, Softmax, Rescaling, Reshape, ZeroPadding2D, "
      "GlobalAveragePooling2D, GlobalMaxPooling2D, UpSampling2D, Add, Subtract, Multiply, "
      "Average, Maximum, DepthwiseConv2D, SeparableConv2D",
      where, class_name);
}

LayerRef build_layer(const std::string& class_name, const Json& config, const std::string& name,
                     const std::string& where) {
  expect_value(config, "data_format", "channels_last", where);
  if (class_name == "InputLayer") return InputLayer(input_shape_of(config, where), name);
  if (class_name == "Conv2D") {
    expect_value(config, "dilation_rate", Json::array({1, 1}), where);
    expect_value(config, "groups", 1, where);
    Conv2DOptions o;
    o.strides = size2(config.value("strides", Json(1)), where);
    o.padding = padding_of(config.value("padding", Json("valid")), where);
    o.activation = activation_of(config, where);
    o.use_bias = config.value("use_bias", true);
    o.name = name;
    return Conv2D(integer(config.at("filters"), where), size2(config.at("kernel_size"), where), o);
  }
  if (class_name == "MaxPooling2D" || class_name == "AveragePooling2D" ||
      class_name == "MinPooling2D") {
    Pool2DOptions o;
    o.pool_size = size2(config.value("pool_size", Json(2)), where);
    if (config.contains("strides") && !config["strides"].is_null())
      o.strides = size2(config["strides"], where);
    o.padding = padding_of(config.value("padding", Json("valid")), where);
    o.name = name;
    if (class_name == "MaxPooling2D") return MaxPooling2D(o);
    if (class_name == "MinPooling2D") return MinPooling2D(o);
    return AveragePooling2D(o);
  }
  if (class_name == "Dense") {
    DenseOptions o;
    o.activation = activation_of(config, where);
    o.use_bias = config.value("use_bias", true);
    o.name = name;
    return Dense(integer(config.at("units"), where), o);
  }
  if (class_name == "Flatten") return Flatten(name);
  if (class_name == "Dropout") return Dropout(config.at("rate").get<double>(), name);
  if (class_name == "Activation") return Activation(activation_of(config, where), name);
  if (class_name == "Concatenate") {
    const Json axis = config.value("axis", Json(-1));
    return Concatenate(static_cast<int>(integer(axis, where)), name);
  }
  return more_layer_from_config(class_name, config, name, where);
}

// A layer's own checks (an activation kiln lacks, say) do not know the layer's name; the error
// then gets it here.
LayerRef layer_from_config(const std::string& class_name, const Json& config) {
  const std::string name = text_or(config, "name", "");
  const std::string where = "model_config: layer '" + name + "' (" + class_name + ")";
  try {
    return build_layer(class_name, config, name, where);
  } catch (const Error& e) {
    if (std::string(e.what()).find(where) != std::string::npos) throw;
    fail("{}: {}", where, e.what());
  }
}

// layer_from_config with Keras's "trainable" flag (true when absent) set on the layer.
LayerRef keras_layer(const std::string& class_name, const Json& config) {
  LayerRef layer = layer_from_config(class_name, config);
  const Json trainable = config.value("trainable", Json(true));
  KILN_CHECK(trainable.is_boolean(),
             "model_config: layer '{}' ({}): trainable must be true or "
             "false, found {}",
             layer->name(), class_name, trainable.dump());
  layer->set_trainable(trainable.get<bool>());
  return layer;
}

// Names of the layers feeding one layer: Keras 2 [[["a", 0, 0, {}], ...]] or Keras 3
// [{"args": [tensor or [tensors]], ...}] with tensor.config.keras_history = ["a", 0, 0].
void collect_history(const Json& value, std::vector<std::string>& names) {
  if (value.is_object()) {
    if (value.contains("config") && value["config"].contains("keras_history")) {
      names.push_back(value["config"]["keras_history"].at(0).get<std::string>());
    }
    return;
  }
  if (value.is_array()) {
    for (const Json& item : value) collect_history(item, names);
  }
}

std::vector<std::string> inbound_names(const Json& entry, const std::string& where) {
  std::vector<std::string> names;
  if (!entry.contains("inbound_nodes")) return names;
  const Json& nodes = entry["inbound_nodes"];
  KILN_CHECK(nodes.is_array() && nodes.size() <= 1,
             "{}: layers called more than once are not supported", where);
  if (nodes.empty()) return names;
  const Json& node = nodes[0];
  if (node.is_object()) {
    collect_history(node.value("args", Json::array()), names);
  } else {
    for (const Json& ref : node) names.push_back(ref.at(0).get<std::string>());
  }
  return names;
}

std::vector<std::string> endpoint_names(const Json& refs) {
  std::vector<std::string> names;
  if (refs.is_array() && !refs.empty() && refs[0].is_string()) return {refs[0].get<std::string>()};
  for (const Json& ref : refs) names.push_back(ref.at(0).get<std::string>());
  return names;
}

std::string layer_where(const LayerRef& layer, const std::string& class_name) {
  return "model_config: layer '" + layer->name() + "' (" + class_name + ")";
}

// Keras up to 2.2.x writes a Sequential's config as the list of its layers (and no name); later
// versions write {"name": ..., "layers": [...]}. Both are read.
std::unique_ptr<Model> sequential_from(const Json& config) {
  const bool bare_list = config.is_array();
  auto model = std::make_unique<Sequential>(bare_list ? "" : text_or(config, "name", ""));
  WeightBudget budget;
  std::optional<Shape> shape;  // the output of the layers so far, once the model has an input
  const Json& layers = bare_list ? config : config.at("layers");
  for (std::size_t i = 0; i < layers.size(); ++i) {
    const Json& entry = layers[i];
    const std::string class_name = entry.at("class_name").get<std::string>();
    const Json& layer_config = entry.at("config");
    if (i == 0 && class_name != "InputLayer" &&
        (layer_config.contains("batch_input_shape") || layer_config.contains("batch_shape"))) {
      shape = input_shape_of(layer_config, "model_config");
      model->add(InputLayer(*shape));
    }
    LayerRef layer = keras_layer(class_name, layer_config);
    if (class_name == "InputLayer") {
      shape = layer->output_shape({});
    } else if (shape) {
      budget.charge(class_name, layer_config, {*shape}, layer_where(layer, class_name));
      shape = layer->output_shape({*shape});
    }
    model->add(layer);
  }
  return model;
}

std::unique_ptr<Model> functional_from(const Json& config) {
  std::map<std::string, SymbolicTensor> tensors;
  WeightBudget budget;
  for (const Json& entry : config.at("layers")) {
    const std::string class_name = entry.at("class_name").get<std::string>();
    LayerRef layer = keras_layer(class_name, entry.at("config"));
    const std::string where = "model_config: layer '" + layer->name() + "'";
    if (class_name == "InputLayer") {
      tensors[layer->name()] = layer(std::vector<SymbolicTensor>{});
      continue;
    }
    std::vector<SymbolicTensor> inputs;
    std::vector<Shape> shapes;
    for (const std::string& source : inbound_names(entry, where)) {
      KILN_CHECK(tensors.count(source) == 1, "{}: reads '{}', which is not defined before it",
                 where, source);
      inputs.push_back(tensors[source]);
      shapes.push_back(tensors[source].shape());
    }
    KILN_CHECK(!inputs.empty(), "{}: has no inbound nodes", where);
    budget.charge(class_name, entry.at("config"), shapes, layer_where(layer, class_name));
    tensors[layer->name()] = inputs.size() == 1 ? layer(inputs[0]) : layer(inputs);
  }
  auto pick = [&](const Json& refs) {
    std::vector<SymbolicTensor> picked;
    for (const std::string& name : endpoint_names(refs)) {
      KILN_CHECK(tensors.count(name) == 1, "model_config: input/output layer '{}' is not defined",
                 name);
      picked.push_back(tensors[name]);
    }
    return picked;
  };
  return std::make_unique<Model>(pick(config.at("input_layers")), pick(config.at("output_layers")),
                                 text_or(config, "name", ""));
}

}  // namespace

std::unique_ptr<Model> model_from_json(const std::string& model_config) {
  Json root;
  try {
    root = Json::parse(model_config);
  } catch (const nlohmann::json::exception& e) {
    fail("model_config: not valid JSON: {}", e.what());
  }
  try {
    const std::string class_name = root.at("class_name").get<std::string>();
    const Json& config = root.at("config");
    if (class_name == "Sequential") return sequential_from(config);
    if (class_name == "Functional" || class_name == "Model") return functional_from(config);
    fail("model_config: unsupported model class '{}' (Sequential, Functional)", class_name);
  } catch (const nlohmann::json::exception& e) {
    fail("model_config: unexpected structure: {}", e.what());
  }
}

}  // namespace kiln
