// save_model / load_model / save_weights / load_weights over the Keras 2 HDF5 layout
// (src/io/keras_h5.h). Loading checks every layer and weight against the model before replacing
// anything, so a file of another architecture leaves the model as it was.
#include "kiln/model_io.h"

#include <nlohmann/json.hpp>

#include "core/check.h"
#include "io/keras_h5.h"
#include "io/tfjs_layers.h"
#include "model/model_files.h"
#include "model/optimizer_weights.h"
#include "model/self_test.h"
#include "model/weights_mapping.h"
#include "model/weights_by_name.h"

namespace kiln {

namespace {

using Json = nlohmann::ordered_json;

std::string training_config(const Model& model) {
  if (!model.compiled()) return "";
  const CompileOptions& c = model.compile_options();
  Json loss = Json::object(), metrics = Json::object(), weights = Json::object();
  for (const auto& [k, v] : c.loss) loss[k] = v;
  for (const auto& [k, v] : c.metrics) metrics[k] = v;
  for (const auto& [k, v] : c.loss_weights) weights[k] = v;
  const Optimizer& opt = model.optimizer();
  Json opt_config = {{"name", opt.name()}, {"learning_rate", opt.learning_rate()}};
  if (const auto* adam = dynamic_cast<const Adam*>(&opt)) {
    opt_config["beta_1"] = adam->options().beta_1;
    opt_config["beta_2"] = adam->options().beta_2;
    opt_config["epsilon"] = adam->options().epsilon;
    opt_config["amsgrad"] = false;
  }
  // Single-output models store plain strings, as Keras does for compile(loss="…").
  Json loss_value = loss.size() == 1 && loss.contains("") ? loss[""] : loss;
  Json metrics_value = metrics.size() == 1 && metrics.contains("") ? metrics[""] : metrics;
  return Json{{"loss", loss_value},
              {"metrics", metrics_value},
              {"loss_weights", weights},
              {"optimizer_config", {{"class_name", opt.name()}, {"config", opt_config}}}}
      .dump();
}

// Keras spells a loss by name, by function name or as a {"class_name": …} object.
std::string loss_name(const Json& value) {
  if (value.is_string()) return value.get<std::string>();
  if (value.is_object() && value.contains("config") && value["config"].contains("name")) {
    return value["config"]["name"].get<std::string>();
  }
  fail("training_config: unsupported loss {}", value.dump());
}

void compile_from(Model& model, const std::string& text) {
  const Json t = Json::parse(text);
  CompileOptions options;
  if (t.contains("loss")) {
    if (t["loss"].is_object() && !t["loss"].contains("class_name")) {
      for (const auto& [k, v] : t["loss"].items()) options.loss[k] = loss_name(v);
    } else {
      options.loss[""] = loss_name(t["loss"]);
    }
  }
  auto metric_list = [](const Json& v) {
    std::vector<std::string> names;
    for (const Json& m : v) {
      if (m.is_string()) names.push_back(m.get<std::string>());
    }
    return names;
  };
  if (t.contains("metrics") && t["metrics"].is_array())
    options.metrics[""] = metric_list(t["metrics"]);
  if (t.contains("metrics") && t["metrics"].is_object()) {
    for (const auto& [k, v] : t["metrics"].items())
      options.metrics[k] = metric_list(v.is_array() ? v : Json::array({v}));
  }
  if (t.contains("loss_weights") && t["loss_weights"].is_object()) {
    for (const auto& [k, v] : t["loss_weights"].items()) options.loss_weights[k] = v.get<double>();
  }
  const Json opt = t.value("optimizer_config", Json::object());
  const Json oc = opt.value("config", Json::object());
  // Keras <= 2.2 spells the learning rate "lr".
  const char* lr_key = oc.contains("learning_rate") ? "learning_rate" : "lr";
  const double lr = oc.contains(lr_key) && oc[lr_key].is_number() ? oc[lr_key].get<double>() : 1e-3;
  if (opt.value("class_name", std::string("Adam")) == "SGD") {
    options.optimizer = std::make_shared<SGD>(
        SGDOptions{lr, oc.value("momentum", 0.0), oc.value("nesterov", false)});
  } else {
    options.optimizer = std::make_shared<Adam>(AdamOptions{
        lr, oc.value("beta_1", 0.9), oc.value("beta_2", 0.999), oc.value("epsilon", 1e-7)});
  }
  model.compile(options);
}

// Weights stored by name (Keras 3) rearranged in the model's layer order for matched_values;
// layers the file lacks come out without weights, so the count check names the mismatch.
std::vector<LayerWeights> in_model_order(const Model& model, const StoredWeights& stored) {
  if (!stored.by_name) return stored.layers;
  std::vector<LayerWeights> ordered;
  for (const LayerPtr& layer : saved_layers(model)) {
    LayerWeights entry{layer->name(), {}};
    for (const LayerWeights& lw : stored.layers) {
      if (lw.layer_name == layer->name()) entry.weights = lw.weights;
    }
    ordered.push_back(std::move(entry));
  }
  return ordered;
}

// A training_config kiln cannot compile (an unknown loss or metric) leaves the model loaded for
// inference, uncompiled, with one line on stderr; fit() then asks for compile() (docs).
void compile_if_configured(Model& model, const std::string& training_config,
                           const std::string& path) {
  if (training_config.empty()) return;
  try {
    compile_from(model, training_config);
  } catch (const std::exception& e) {
    std::fprintf(stderr,
                 "kiln: warning: %s: loaded for inference, uncompiled: its training_config does "
                 "not compile in kiln (%s); compile() it with a loss kiln has to train\n",
                 path.c_str(), e.what());
  }
}

void assign(Model& model, const std::vector<Tensor>& values) {
  std::size_t i = 0;
  for (const auto& v : model.weights()) v->value() = values.at(i++);
}

std::unique_ptr<Model> model_from_file(const std::string& model_config, const std::string& path) {
  try {
    return model_from_json(model_config);
  } catch (const Error& e) {
    fail("{}: {}", path, e.what());
  }
}

// A TF.js layers model.json (io/tfjs_layers.h): the same config reader, weights paired by name.
std::unique_ptr<Model> load_tfjs_layers_model(const std::string& path) {
  const TfjsLayersModel contents = read_tfjs_layers_model(path);
  std::unique_ptr<Model> model = model_from_file(contents.model_config, path);
  assign(*model, weights_by_name(*model, contents.weights, path));
  compile_if_configured(*model, contents.training_config, path);
  return model;
}

}  // namespace

void save_model(const Model& model, const std::string& path) {
  if (path.size() >= 6 && path.compare(path.size() - 6, 6, ".keras") == 0) {
    save_keras_archive(model, path, training_config(model), layer_weights(model));
    return;
  }
  save_model_h5(path, model_config_json(model), training_config(model), layer_weights(model),
                [&model](hid_t file) {
                  write_optimizer_weights(file, model);
                  write_self_test(file, model);
                });
}

std::unique_ptr<Model> load_model(const std::string& path, const LoadOptions& options) {
  if (is_tfjs_model_file(path)) {
    KILN_CHECK(options.weights.empty(),
               "{}: a TF.js model names its own weight shards (weightsManifest); a separate "
               "weights file goes with a Keras architecture (model.to_json())",
               path);
    KILN_CHECK(!options.verify,
               "{}: a TF.js model carries no kiln self-test; verify needs a file kiln wrote", path);
    return load_tfjs_layers_model(path);
  }
  const ModelFile file = read_model_file(path);
  KILN_CHECK(file.weights || !options.weights.empty(),
             "{}: an architecture without weights; give its weights file (load_model(path, "
             "{{.weights = ...}}), kiln --weights)",
             path);
  std::unique_ptr<Model> model = model_from_file(file.architecture.model_config, path);
  const std::string weights_path = options.weights.empty() ? path : options.weights;
  const StoredWeights weights = options.weights.empty()
                                    ? *file.weights
                                    : read_weights_file(options.weights, file.architecture);
  assign(*model, matched_values(*model, in_model_order(*model, weights), weights_path));
  compile_if_configured(*model, file.architecture.training_config, path);
  if (model->compiled() && options.weights.empty()) restore_optimizer_state(path, *model);
  if (options.verify) verify_model_file(path, file, *model);
  return model;
}

void save_weights(const Model& model, const std::string& path) {
  save_weights_h5(path, layer_weights(model));
}

void load_weights(Model& model, const std::string& path) {
  KerasArchitecture architecture;
  for (const LayerPtr& layer : saved_layers(model)) {
    architecture.layer_names.push_back(layer->name());
    architecture.class_names.push_back(layer->type());
  }
  assign(model,
         matched_values(model, in_model_order(model, read_weights_file(path, architecture)), path));
}

}  // namespace kiln
