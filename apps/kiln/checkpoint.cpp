// Training checkpoints in HDF5 (see checkpoint.h).
#include "checkpoint.h"

#include <fmt/format.h>

#include <map>
#include <memory>
#include <nlohmann/json.hpp>

#include "common.h"
#include "io/atomic_file.h"
#include "io/hdf5_file.h"
#include "io/keras_h5.h"
#include "run_files.h"

namespace kiln::cli {

namespace {

constexpr const char* kSlotsGroup = "optimizer_weights";
constexpr std::int64_t kFormatVersion = 1;

std::string config_json(const RunConfig& c) {
  const nlohmann::ordered_json j = {{"experiment", c.experiment},
                                    {"dataset", c.dataset},
                                    {"loss", c.loss},
                                    {"batch_size", c.batch_size},
                                    {"learning_rate", c.learning_rate},
                                    {"seed", c.seed},
                                    {"validation_split", c.validation_split},
                                    {"limit", c.limit},
                                    {"checkpoint_every", c.checkpoint_every}};
  return j.dump();
}

RunConfig config_from_json(const std::string& text, const std::string& path) {
  const nlohmann::json j = nlohmann::json::parse(text, nullptr, false);
  if (!j.is_object()) cli_fail("{}: run_config is not a JSON object", path);
  try {
    RunConfig c;
    c.experiment = j.value("experiment", std::string("seed"));  // older checkpoints: the seed CNN
    c.dataset = j.at("dataset").get<std::string>();
    c.loss = j.at("loss").get<std::string>();
    c.batch_size = j.at("batch_size").get<std::int64_t>();
    c.learning_rate = j.at("learning_rate").get<double>();
    c.seed = j.at("seed").get<std::uint64_t>();
    c.validation_split = j.at("validation_split").get<double>();
    c.limit = j.at("limit").get<std::int64_t>();
    c.checkpoint_every = j.at("checkpoint_every").get<int>();
    return c;
  } catch (const nlohmann::json::exception& e) {
    cli_fail("{}: run_config: {}", path, e.what());
  }
}

// "conv2d/kernel" -> "kernel"; a weight name stored as "kernel:0" -> "kernel".
std::string short_name(const std::string& name) {
  std::string last = name.substr(name.rfind('/') + 1);
  const auto colon = last.rfind(':');
  return colon == std::string::npos ? last : last.substr(0, colon);
}

std::vector<LayerWeights> model_weights(const Model& model) {
  std::vector<LayerWeights> layers;
  for (const LayerPtr& layer : model.layers()) {
    if (layer->type() == "InputLayer") continue;
    LayerWeights entry{layer->name(), {}};
    for (const auto& variable : layer->weights()) {
      entry.weights.emplace_back(short_name(variable->name()) + ":0", variable->value());
    }
    layers.push_back(std::move(entry));
  }
  return layers;
}

std::vector<std::string> variable_names(const Model& model) {
  std::vector<std::string> names;
  for (const auto& variable : model.trainable_weights()) names.push_back(variable->name());
  return names;
}

void write_slots(hid_t file, const Model& model, const Optimizer& optimizer) {
  h5::Handle group = h5::create_group(file, kSlotsGroup);
  h5::write_string_attribute(group.id(), "optimizer", optimizer.name());
  h5::write_string_list_attribute(group.id(), "variable_names", variable_names(model));
  const std::vector<Tensor> slots = optimizer.state();
  h5::write_int64_attribute(group.id(), "slot_count", static_cast<std::int64_t>(slots.size()));
  for (std::size_t i = 0; i < slots.size(); ++i) {
    const Tensor host = slots[i].to(Device::cpu()).astype(DType::f32);
    h5::write_dataset(group.id(), fmt::format("slot_{:04}", i), DType::f32, host.raw_data(),
                      host.shape());
  }
}

void write_checkpoint_file(const std::string& temp, const Model& model, const Optimizer& optimizer,
                           const RunConfig& config, int epoch, const History& history) {
  h5::Handle file = h5::create_file(temp);
  write_keras_weights(file.id(), model_weights(model));
  write_slots(file.id(), model, optimizer);
  h5::write_int64_attribute(file.id(), "kiln_checkpoint", kFormatVersion);
  h5::write_int64_attribute(file.id(), "epoch", epoch);
  h5::write_int64_attribute(file.id(), "iterations", optimizer.iterations());
  h5::write_int64_attribute(file.id(), "seed", static_cast<std::int64_t>(config.seed));
  h5::write_string_attribute(file.id(), "run_config", config_json(config),
                             h5::StringStorage::variable_length);
  h5::write_string_attribute(file.id(), "history", history_json(history),
                             h5::StringStorage::variable_length);
  file.close();
}

h5::Handle open_checkpoint(const std::string& path) {
  h5::Handle file = h5::open_file(path);
  if (!h5::has_attribute(file.id(), "kiln_checkpoint")) {
    cli_fail("{}: not a kiln checkpoint (no kiln_checkpoint attribute)", path);
  }
  const std::int64_t version = h5::read_int64_attribute(file.id(), "kiln_checkpoint");
  if (version != kFormatVersion) {
    cli_fail("{}: checkpoint format {} is not supported (expected {})", path, version,
             kFormatVersion);
  }
  return file;
}

// The file's weights matched to the model's variables, in model.weights() order.
std::vector<Tensor> matched_weights(hid_t file, const std::string& path, const Model& model) {
  std::map<std::string, std::map<std::string, Tensor>> stored;
  for (LayerWeights& layer : read_keras_weights(file)) {
    for (auto& [name, tensor] : layer.weights) stored[layer.layer_name][short_name(name)] = tensor;
  }
  std::vector<Tensor> values;
  for (const LayerPtr& layer : model.layers()) {
    for (const auto& variable : layer->weights()) {
      const std::string weight = short_name(variable->name());
      const auto in_layer = stored.find(layer->name());
      if (in_layer == stored.end() || in_layer->second.count(weight) == 0) {
        cli_fail("{}: no weight {}/{} for layer '{}' of the model", path, layer->name(), weight,
                 layer->name());
      }
      const Tensor& value = in_layer->second.at(weight);
      if (value.shape() != variable->value().shape()) {
        cli_fail("{}: weight {}/{} has shape {}, the model expects {}", path, layer->name(), weight,
                 shape_str(value.shape()), shape_str(variable->value().shape()));
      }
      values.push_back(value);
    }
  }
  return values;
}

std::vector<Tensor> read_slots(hid_t file, const std::string& path, const Model& model,
                               const Optimizer& optimizer) {
  h5::Handle group = h5::open_group(file, kSlotsGroup);
  const std::string name = h5::read_string_attribute(group.id(), "optimizer");
  if (name != optimizer.name())
    cli_fail("{}: holds {} state, the run uses {}", path, name, optimizer.name());
  const std::vector<std::string> names = variable_names(model);
  if (h5::read_string_list_attribute(group.id(), "variable_names") != names) {
    cli_fail("{}: the optimizer state belongs to other variables than the model's", path);
  }
  const std::int64_t count = h5::read_int64_attribute(group.id(), "slot_count");
  if (count < 0 || (names.empty() && count != 0) ||
      (!names.empty() && count % static_cast<std::int64_t>(names.size()) != 0)) {
    cli_fail("{}: {} optimizer slots for {} variables", path, count, names.size());
  }
  const std::vector<std::shared_ptr<Variable>> variables = model.trainable_weights();
  std::vector<Tensor> slots;
  for (std::int64_t i = 0; i < count; ++i) {
    const std::string slot = fmt::format("slot_{:04}", i);
    h5::Handle dataset = h5::open_dataset(group.id(), slot);
    const Shape shape = h5::dataset_shape(dataset.id());
    const Shape& expected =
        variables[static_cast<std::size_t>(i) % variables.size()]->value().shape();
    if (shape != expected) {
      cli_fail("{}: optimizer slot {} has shape {}, expected {}", path, slot, shape_str(shape),
               shape_str(expected));
    }
    Tensor value = Tensor::empty(shape, DType::f32);
    h5::read_dataset(dataset.id(), DType::f32, value.raw_data());
    slots.push_back(value.to(model.device()));
  }
  return slots;
}

}  // namespace

void save_checkpoint(const std::string& path, const Model& model, const Optimizer& optimizer,
                     const RunConfig& config, int epoch, const History& history) {
  write_file_atomically(path, [&](const std::string& temp) {
    write_checkpoint_file(temp, model, optimizer, config, epoch, history);
  });
}

Checkpoint read_checkpoint_info(const std::string& path) {
  h5::Handle file = open_checkpoint(path);
  Checkpoint info;
  info.config = config_from_json(h5::read_string_attribute(file.id(), "run_config"), path);
  const std::int64_t epoch = h5::read_int64_attribute(file.id(), "epoch");
  if (epoch < 1 || epoch > 1000000) cli_fail("{}: epoch {} is out of range", path, epoch);
  info.epoch = static_cast<int>(epoch);
  info.iterations = h5::read_int64_attribute(file.id(), "iterations");
  info.history = history_from_json(h5::read_string_attribute(file.id(), "history"));
  if (epoch_count(info.history) != static_cast<std::size_t>(epoch)) {
    cli_fail("{}: the history holds {} epochs, the checkpoint is at epoch {}", path,
             epoch_count(info.history), epoch);
  }
  return info;
}

void restore_checkpoint(const std::string& path, Model& model, Optimizer& optimizer) {
  h5::Handle file = open_checkpoint(path);
  const std::int64_t iterations = h5::read_int64_attribute(file.id(), "iterations");
  if (iterations < 0) cli_fail("{}: iterations is {}", path, iterations);
  const std::vector<Tensor> weights = matched_weights(file.id(), path, model);
  const std::vector<Tensor> slots = read_slots(file.id(), path, model, optimizer);
  std::size_t next = 0;
  for (const LayerPtr& layer : model.layers()) {
    for (const auto& variable : layer->weights()) variable->value().copy_from(weights[next++]);
  }
  optimizer.load_state(slots, iterations);
}

}  // namespace kiln::cli
