// Keras 3 configs <-> the Keras 2 forms kiln's readers take (model/keras3_config.h).
#include "model/keras3_config.h"

#include <nlohmann/json.hpp>

#include "core/check.h"
#include "kiln/model_io.h"

namespace kiln {
namespace {

using Json = nlohmann::ordered_json;

Json shape_json(const Shape& shape) {
  Json dims = Json::array({nullptr});
  for (std::int64_t extent : shape) dims.push_back(extent);
  return dims;
}

// A Sequential saved by Keras 3 without an Input keeps its input shape in build_input_shape (or
// the root's build_config); the reader wants it as a leading InputLayer.
void add_missing_input(Json& root) {
  Json& config = root["config"];
  if (!config.is_object() || !config.contains("layers") || !config["layers"].is_array()) return;
  Json& layers = config["layers"];
  if (!layers.empty()) {
    const Json first = layers[0].value("config", Json::object());
    const bool has_input = layers[0].value("class_name", "") == "InputLayer" ||
                           (first.is_object() &&
                            (first.contains("batch_input_shape") || first.contains("batch_shape")));
    if (has_input) return;  // model_config.cpp reads a first layer's batch_input_shape itself
  }
  Json shape = config.value("build_input_shape", Json());
  if (shape.is_null() && root.contains("build_config") && root["build_config"].is_object()) {
    shape = root["build_config"].value("input_shape", Json());
  }
  if (!shape.is_array()) return;
  layers.insert(layers.begin(),
                Json{{"class_name", "InputLayer"},
                     {"config", {{"batch_shape", shape}, {"name", "input_layer"}}}});
}

std::string optimizer_class(const Json& optimizer) {
  if (optimizer.is_string()) {
    const auto name = optimizer.get<std::string>();
    return name == "sgd" ? "SGD" : name == "adam" ? "Adam" : name;
  }
  return optimizer.value("class_name", "Adam");
}

// Keras 3's compile_config as the Keras 2 training_config that model_io's reader takes.
Json training_config_from(const Json& compile) {
  Json training = {{"loss", compile.value("loss", Json())},
                   {"metrics", compile.value("metrics", Json())},
                   {"loss_weights", compile.value("loss_weights", Json())}};
  if (compile.contains("optimizer") && !compile["optimizer"].is_null()) {
    const Json& optimizer = compile["optimizer"];
    training["optimizer_config"] = {
        {"class_name", optimizer_class(optimizer)},
        {"config",
         optimizer.is_object() ? optimizer.value("config", Json::object()) : Json::object()}};
  }
  return training;
}

Json compile_config_from(const Json& training) {
  const Json optimizer = training.value("optimizer_config", Json::object());
  Json optimizer_config = optimizer.value("config", Json::object());
  const std::string class_name = optimizer.value("class_name", "Adam");
  optimizer_config["name"] = class_name == "SGD" ? "SGD" : "adam";
  const Json weights = training.value("loss_weights", Json());
  return {{"optimizer",
           {{"module", "keras.optimizers"},
            {"class_name", class_name},
            {"config", optimizer_config},
            {"registered_name", nullptr}}},
          {"loss", training.value("loss", Json())},
          {"loss_weights", weights.empty() ? Json() : weights},
          {"metrics", training.value("metrics", Json())},
          {"weighted_metrics", nullptr},
          {"run_eagerly", false},
          {"steps_per_execution", 1},
          {"jit_compile", false}};
}

// Keras 3 writes a layer's dtype as a DTypePolicy object and its initializers with their module.
void keras3_objects(Json& config) {
  if (config.contains("dtype") && config["dtype"].is_string()) {
    config["dtype"] = {{"module", "keras"},
                       {"class_name", "DTypePolicy"},
                       {"config", {{"name", config["dtype"]}}},
                       {"registered_name", nullptr}};
  }
  for (auto& [key, value] : config.items()) {
    if (key.ends_with("_initializer") && value.is_object() && value.contains("class_name")) {
      value = {{"module", "keras.initializers"},
               {"class_name", value["class_name"]},
               {"config", value.value("config", Json::object())},
               {"registered_name", nullptr}};
    }
  }
}

Json keras_tensor(const Model& model, const std::string& layer_name) {
  return {{"class_name", "__keras_tensor__"},
          {"config",
           {{"shape", shape_json(model.layer_output_shape(layer_name))},
            {"dtype", "float32"},
            {"keras_history", Json::array({layer_name, 0, 0})}}}};
}

// One layer entry as Keras 3 writes it: the module / registered_name wrapper, batch_shape for an
// InputLayer, build_config with the input shape, and Keras 3 call nodes in a functional model.
Json keras3_layer(const Model& model, Json entry, bool functional) {
  Json config = entry.at("config");
  const std::string class_name = entry.at("class_name").get<std::string>();
  const std::string name = config.value("name", "");
  Json layer = {{"module", "keras.layers"}, {"class_name", class_name}};
  if (class_name == "InputLayer") {
    config["batch_shape"] =
        config.contains("batch_input_shape") ? config["batch_input_shape"] : Json();
    config.erase("batch_input_shape");
    config.erase("ragged");  // Keras 3's InputLayer takes no `ragged`
  } else {
    keras3_objects(config);
  }
  layer["config"] = config;
  layer["registered_name"] = nullptr;
  const std::vector<std::string> sources =
      class_name == "InputLayer" ? std::vector<std::string>{} : model.inbound_layers(name);
  if (sources.size() == 1) {
    layer["build_config"] = {{"input_shape", shape_json(model.layer_output_shape(sources[0]))}};
  }
  if (!functional) return layer;
  layer["name"] = name;
  Json args = Json::array();
  for (const std::string& source : sources) args.push_back(keras_tensor(model, source));
  layer["inbound_nodes"] = Json::array();
  if (!sources.empty()) {
    layer["inbound_nodes"].push_back(
        {{"args", sources.size() == 1 ? args : Json::array({args})}, {"kwargs", Json::object()}});
  }
  return layer;
}

KerasArchitecture architecture_of(Json root) {
  KerasArchitecture architecture;
  add_missing_input(root);
  if (root.contains("compile_config") && root["compile_config"].is_object()) {
    architecture.training_config = training_config_from(root["compile_config"]).dump();
  }
  architecture.keras_version = root.value("keras_version", "");
  const Json& config = root["config"];
  const Json layers = config.is_array() ? config : config.value("layers", Json::array());
  for (const Json& layer : layers) {
    const Json layer_config = layer.value("config", Json::object());
    architecture.class_names.push_back(layer.value("class_name", ""));
    architecture.layer_names.push_back(layer_config.is_object() ? layer_config.value("name", "")
                                                                : std::string());
  }
  root.erase("compile_config");
  architecture.model_config = root.dump();
  return architecture;
}

}  // namespace

KerasArchitecture read_keras_architecture(const std::string& json_text, const std::string& where) {
  Json root;
  try {
    root = Json::parse(json_text);
  } catch (const nlohmann::json::exception& e) {
    fail("{}: not valid JSON: {}", where, e.what());
  }
  KILN_CHECK(root.is_object() && root.contains("class_name") && root.contains("config"),
             "{}: expected a Keras model config ({{\"class_name\": ..., \"config\": ...}}), found "
             "{:.100}",
             where, root.dump());
  try {
    return architecture_of(root);
  } catch (const nlohmann::json::exception& e) {
    fail("{}: unexpected structure: {}", where, e.what());
  }
}

std::string keras3_config_json(const Model& model, const std::string& training_config) {
  Json root = Json::parse(model_config_json(model));
  const bool functional = root["class_name"] != "Sequential";
  Json& config = root["config"];
  for (Json& layer : config["layers"]) layer = keras3_layer(model, layer, functional);
  config["trainable"] = true;
  Json model_json = {{"module", functional ? "keras.src.models.functional" : "keras"},
                     {"class_name", root["class_name"]},
                     {"config", config},
                     {"registered_name", functional ? Json("Functional") : Json()}};
  const std::vector<std::string> inputs = model.input_names();
  if (inputs.size() == 1) {
    model_json["build_config"] = {{"input_shape", shape_json(model.layer_output_shape(inputs[0]))}};
  }
  if (!training_config.empty())
    model_json["compile_config"] = compile_config_from(Json::parse(training_config));
  return model_json.dump();
}

}  // namespace kiln
