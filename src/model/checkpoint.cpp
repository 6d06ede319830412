// Training checkpoints (kiln/checkpoint.h): the weights through the one Keras mapping
// (model/weights_mapping.h), the optimizer's state in Keras 2's optimizer_weights layout
// (model/optimizer_weights.h), the epoch, history and metadata as root attributes.
#include "kiln/checkpoint.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <nlohmann/json.hpp>
#include <optional>

#include "core/check.h"
#include "io/atomic_file.h"
#include "io/hdf5_file.h"
#include "io/keras_h5.h"
#include "model/optimizer_weights.h"
#include "model/weights_mapping.h"

namespace kiln {

namespace {

constexpr const char* kFormatAttribute = "kiln_checkpoint";
constexpr std::int64_t kFormat = 2;
// Format 1: the kiln CLI's own layout before checkpoints moved into the library (read only).
constexpr std::int64_t kCliFormat = 1;
constexpr std::int64_t kMaxEpochs = 1000000;
constexpr const char* kSlotsGroup = "optimizer_weights";

using Json = nlohmann::ordered_json;

// Every key has a series, all of `epochs` values.
void check_history(const History& history, std::int64_t epochs, const std::string& where) {
  KILN_CHECK(history.values.size() == history.keys.size(),
             "{}: the history has {} keys and {} series", where, history.keys.size(),
             history.values.size());
  for (const std::string& key : history.keys) {
    const auto series = history.values.find(key);
    KILN_CHECK(series != history.values.end(), "{}: the history has no values for '{}'", where,
               key);
    KILN_CHECK(static_cast<std::int64_t>(series->second.size()) == epochs,
               "{}: the history holds {} epochs of '{}', the checkpoint is at epoch {}", where,
               series->second.size(), key, epochs);
  }
}

std::string history_json(const History& history) {
  Json out = Json::object();
  for (const std::string& key : history.keys) out[key] = history.values.at(key);
  return out.dump();
}

History history_from_json(const std::string& text, const std::string& where) {
  const Json in = Json::parse(text, nullptr, false);
  KILN_CHECK(in.is_object(), "{}: history: expected a JSON object, found '{}'", where,
             text.substr(0, 80));
  History history;
  for (const auto& [key, values] : in.items()) {
    KILN_CHECK(values.is_array(), "{}: history: '{}' is not a list of numbers", where, key);
    std::vector<double> series;
    for (const auto& v : values) {
      KILN_CHECK(v.is_number(), "{}: history: '{}' holds a non-number", where, key);
      series.push_back(v.get<double>());
    }
    history.keys.push_back(key);
    history.values[key] = std::move(series);
  }
  return history;
}

void write_checkpoint_file(const std::string& temp, const Model& model,
                           const TrainingState& state) {
  h5::Handle file = h5::create_file(temp);
  write_keras_weights(file.id(), layer_weights(model));
  write_optimizer_weights(file.id(), model);
  h5::write_int64_attribute(file.id(), kFormatAttribute, kFormat);
  h5::write_int64_attribute(file.id(), "epoch", state.epoch);
  h5::write_string_attribute(file.id(), "history", history_json(state.history),
                             h5::StringStorage::variable_length);
  h5::write_string_attribute(file.id(), "metadata", state.metadata,
                             h5::StringStorage::variable_length);
  file.close();
}

struct OpenCheckpoint {
  h5::Handle file;
  std::int64_t format;
};

OpenCheckpoint open_checkpoint(const std::string& path) {
  h5::Handle file = h5::open_file(path);
  KILN_CHECK(h5::has_attribute(file.id(), kFormatAttribute),
             "{}: not a kiln checkpoint (no {} attribute)", path, kFormatAttribute);
  const std::int64_t format = h5::read_int64_attribute(file.id(), kFormatAttribute);
  KILN_CHECK(format == kFormat || format == kCliFormat,
             "{}: checkpoint format {} is not supported (expected {} or {})", path, format,
             kCliFormat, kFormat);
  return {std::move(file), format};
}

TrainingState read_state(const OpenCheckpoint& checkpoint, const std::string& path) {
  const hid_t file = checkpoint.file.id();
  TrainingState state;
  const std::int64_t epoch = h5::read_int64_attribute(file, "epoch");
  KILN_CHECK(epoch >= 0 && epoch <= kMaxEpochs, "{}: epoch {} is out of range (0..{})", path, epoch,
             kMaxEpochs);
  state.epoch = static_cast<int>(epoch);
  state.history = history_from_json(h5::read_string_attribute(file, "history"), path);
  check_history(state.history, epoch, path);
  state.metadata =
      h5::read_string_attribute(file, checkpoint.format == kCliFormat ? "run_config" : "metadata");
  return state;
}

std::vector<std::string> trainable_names(const Model& model) {
  std::vector<std::string> names;
  for (const auto& variable : model.trainable_weights()) names.push_back(variable->name());
  return names;
}

// Format 1's slots: optimizer_weights/slot_0000… in Optimizer::state() order, with the optimizer's
// name, the trainable variables' names and the iterations beside them.
OptimizerState read_cli_format_slots(hid_t file, const std::string& path, const Model& model) {
  h5::Handle group = h5::open_group(file, kSlotsGroup);
  const Optimizer& optimizer = model.optimizer();
  const std::string name = h5::read_string_attribute(group.id(), "optimizer");
  KILN_CHECK(name == optimizer.name(), "{}: holds {} state, the model is compiled with {}", path,
             name, optimizer.name());
  const std::vector<std::string> names = trainable_names(model);
  KILN_CHECK(h5::read_string_list_attribute(group.id(), "variable_names") == names,
             "{}: the optimizer state belongs to other variables than the model's", path);
  const std::int64_t count = h5::read_int64_attribute(group.id(), "slot_count");
  KILN_CHECK(count >= 0 && (names.empty() ? count == 0
                                          : count % static_cast<std::int64_t>(names.size()) == 0),
             "{}: {} optimizer slots for {} variables", path, count, names.size());
  OptimizerState state{{}, h5::read_int64_attribute(file, "iterations")};
  KILN_CHECK(state.iterations >= 0, "{}: iterations is {}", path, state.iterations);
  const auto variables = model.trainable_weights();
  for (std::int64_t i = 0; i < count; ++i) {
    const std::string slot = fmt::format("slot_{:04}", i);
    h5::Handle dataset = h5::open_dataset(group.id(), slot);
    const Shape shape = h5::dataset_shape(dataset.id());
    const Tensor& variable = variables[static_cast<std::size_t>(i) % variables.size()]->value();
    KILN_CHECK(shape == variable.shape(), "{}: optimizer slot {} has shape {}, expected {}", path,
               slot, shape_str(shape), shape_str(variable.shape()));
    Tensor value = Tensor::empty(shape, DType::f32);
    h5::read_dataset(dataset.id(), DType::f32, value.raw_data());
    state.slots.push_back(value.to(variable.device()));
  }
  return state;
}

// The optimizer's state in the file, checked against `model`'s optimizer; nothing when the file
// holds none (saved before the optimizer's first step).
std::optional<OptimizerState> read_slots(const OpenCheckpoint& checkpoint, const std::string& path,
                                         const Model& model) {
  const hid_t file = checkpoint.file.id();
  if (!h5::link_exists(file, kSlotsGroup)) return std::nullopt;
  KILN_CHECK(model.compiled(),
             "{}: holds optimizer state; compile the model as it was saved before loading it",
             path);
  if (checkpoint.format == kCliFormat) return read_cli_format_slots(file, path, model);
  std::optional<OptimizerState> state = read_optimizer_state(file, model, path);
  KILN_CHECK(state.has_value(),
             "{}: the optimizer state belongs to another optimizer or other variables: expected "
             "optimizer weights {}",
             path, fmt::join(optimizer_weight_names(model), ", "));
  return state;
}

}  // namespace

void save_checkpoint(const Model& model, const std::string& path, const TrainingState& state) {
  KILN_CHECK(state.epoch >= 0 && state.epoch <= kMaxEpochs,
             "save_checkpoint: epoch {} is out of range (0..{})", state.epoch, kMaxEpochs);
  check_history(state.history, state.epoch, "save_checkpoint");
  write_file_atomically(
      path, [&](const std::string& temp) { write_checkpoint_file(temp, model, state); });
}

TrainingState read_checkpoint_state(const std::string& path) {
  return read_state(open_checkpoint(path), path);
}

TrainingState load_checkpoint(Model& model, const std::string& path) {
  const OpenCheckpoint checkpoint = open_checkpoint(path);
  TrainingState state = read_state(checkpoint, path);
  const std::vector<Tensor> weights =
      matched_values(model, read_keras_weights(checkpoint.file.id()), path);
  const std::optional<OptimizerState> slots = read_slots(checkpoint, path, model);
  std::size_t next = 0;
  for (const auto& variable : model.weights()) variable->value().copy_from(weights[next++]);
  if (slots) model.optimizer().load_state(slots->slots, slots->iterations);
  return state;
}

}  // namespace kiln
