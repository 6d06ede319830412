// Training checkpoints: <run>/checkpoint.h5 holds the weights (Keras 2 layout at the file root, so
// Keras's load_weights and h5py read it), the optimizer's slots under optimizer_weights/, and the
// epoch, optimizer iterations, seed, run configuration and history so far as root attributes.
// Written atomically; restored only after every part has been checked against the model.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "kiln/model.h"
#include "kiln/optimizers.h"

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
  std::int64_t iterations = 0;
  History history;
};

void save_checkpoint(const std::string& path, const Model& model, const Optimizer& optimizer,
                     const RunConfig& config, int epoch, const History& history);
// Reads the attributes only (configuration, epoch, iterations, history).
Checkpoint read_checkpoint_info(const std::string& path);
// Loads weights and optimizer state into a compiled model built from the same configuration.
// Everything is validated first: on error the model and optimizer are unchanged.
void restore_checkpoint(const std::string& path, Model& model, Optimizer& optimizer);

}  // namespace kiln::cli
