// The experiments `kiln train` runs: the seed CNN (the default) and the seed's two-headed
// odd/even model, with their default epochs and batch sizes, their models and output heads.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "heads.h"
#include "kiln/model.h"

namespace kiln::cli {

struct Experiment {
  std::string name;         // as --experiment spells it: "seed" or "odd-even"
  std::string title;        // for pictures: "Seed CNN"
  std::string description;  // for the header line: "the seed CNN"
  std::string model_id;     // metrics.json's "model"
  int epochs = 0;           // defaults when --epochs / --batch-size are not given
  std::int64_t batch_size = 0;
};

// The names --experiment accepts, the default first.
std::vector<std::string> experiment_names();
// The experiment called `name`; an Error listing the names for any other.
const Experiment& find_experiment(const std::string& name);

// An Error when the experiment cannot run on the (canonical) data set.
void check_experiment_dataset(const Experiment& experiment, const std::string& dataset);
// A fresh model of the experiment for `classes` classes.
std::unique_ptr<Model> build_model(const Experiment& experiment, int classes);
// The heads the experiment trains: the class head with `loss` (categorical or sparse
// categorical cross-entropy), and for odd-even also odd_out with binary cross-entropy.
std::vector<Head> experiment_heads(const Experiment& experiment, const Model& model,
                                   const std::string& loss);

}  // namespace kiln::cli
