// The CLI's checkpoints over kiln::save_checkpoint / kiln::load_checkpoint (see run_checkpoint.h).
#include "run_checkpoint.h"

#include <nlohmann/json.hpp>

#include "common.h"
#include "kiln/checkpoint.h"

namespace kiln::cli {

namespace {

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

}  // namespace

void save_checkpoint(const std::string& path, const Model& model, const RunConfig& config,
                     int epoch, const History& history) {
  kiln::save_checkpoint(model, path, {epoch, history, config_json(config)});
}

Checkpoint read_checkpoint_info(const std::string& path) {
  TrainingState state = read_checkpoint_state(path);
  if (state.epoch < 1) cli_fail("{}: epoch {} is out of range", path, state.epoch);
  return {config_from_json(state.metadata, path), state.epoch, std::move(state.history)};
}

void restore_checkpoint(const std::string& path, Model& model) { load_checkpoint(model, path); }

}  // namespace kiln::cli
