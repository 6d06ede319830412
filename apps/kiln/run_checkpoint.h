// The kiln CLI's training checkpoints: <run>/checkpoint.h5 is a library checkpoint
// (kiln/checkpoint.h: weights, Adam's state, epoch, history) whose metadata is the run's
// configuration as JSON, so that --resume continues the run exactly.
#pragma once

#include <cstdint>
#include <string>

#include "kiln/model.h"

namespace kiln::cli {

// What defines a training run, so that --resume continues it exactly.
struct RunConfig {
  std::string experiment = "seed";  // or "odd-even"
  std::string dataset = "mnist";
  std::string loss = "categorical_crossentropy";
  std::int64_t batch_size = 1024;
  double learning_rate = 1e-3;
  std::uint64_t seed = 1337;
  double validation_split = 0.0;
  std::int64_t limit = 0;
  int checkpoint_every = 0;
};

struct Checkpoint {
  RunConfig config;
  int epoch = 0;  // epochs completed
  History history;
};

// Saves the weights and optimizer state of `model` with the run's configuration, epoch and
// history, atomically.
void save_checkpoint(const std::string& path, const Model& model, const RunConfig& config,
                     int epoch, const History& history);
// Reads the configuration, epoch and history only.
Checkpoint read_checkpoint_info(const std::string& path);
// Loads weights and optimizer state into a compiled model built from the same configuration.
// Everything is validated first: on error the model and optimizer are unchanged.
void restore_checkpoint(const std::string& path, Model& model);

}  // namespace kiln::cli
