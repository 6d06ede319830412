// The experiments of `kiln train` (see experiments.h).
#include "experiments.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "common.h"

namespace kiln::cli {

namespace {

// Keras's defaults for the seed's odd/even script: batch 32 (fit's default), 5 epochs.
const std::vector<Experiment>& experiments() {
  static const std::vector<Experiment> all{
      {"seed", "Seed CNN", "the seed CNN", "seed_cnn", 3, 1024},
      {"odd-even", "Odd/even model", "the odd/even model (heads num_out and odd_out)", "odd_even",
       5, 32},
  };
  return all;
}

}  // namespace

std::vector<std::string> experiment_names() {
  std::vector<std::string> names;
  for (const Experiment& e : experiments()) names.push_back(e.name);
  return names;
}

const Experiment& find_experiment(const std::string& name) {
  for (const Experiment& e : experiments()) {
    if (e.name == name) return e;
  }
  cli_fail("unknown experiment '{}': expected one of {}", name,
           fmt::join(experiment_names(), ", "));
}

void check_experiment_dataset(const Experiment& experiment, const std::string& dataset) {
  if (experiment.name == "odd-even" && dataset != "mnist") {
    cli_fail(
        "--experiment odd-even needs --dataset mnist: its odd_out head learns whether the "
        "digit is odd, which means nothing for {}",
        dataset_title(dataset));
  }
}

std::unique_ptr<Model> build_model(const Experiment& experiment, int classes) {
  if (experiment.name == "odd-even") return odd_even_model();
  return seed_model(classes);
}

std::vector<Head> experiment_heads(const Experiment& experiment, const Model& model,
                                   const std::string& loss) {
  if (experiment.name == "odd-even") return {{"num_out", loss}, {"odd_out", kBinaryLoss}};
  return {{model.output_names().front(), loss}};
}

}  // namespace kiln::cli
