// kiln: the command-line tool. Parses the subcommands with CLI11 and turns every failure into one
// line "kiln: <message>" on stderr and exit code 1 (usage errors keep CLI11's own exit codes).
#include <CLI/CLI.hpp>

#include <cstdio>
#include <exception>
#include <functional>
#include <new>
#include <string>

#include "commands.h"
#include "experiments.h"
#include "kiln/build_info.h"
#include "kiln/numerics.h"
#include "kiln/error.h"
#include "vision_commands.h"

namespace {

using kiln::cli::EvaluateOptions;
using kiln::cli::PlotModelOptions;
using kiln::cli::PredictOptions;
using kiln::cli::SummaryOptions;
using kiln::cli::TrainOptions;

const char* const kDataDirHelp =
    "Directory holding mnist/ and fashion-mnist/ (default: $KILN_DATA, else ~/.kiln/datasets)";
const char* const kDeviceHelp = "auto (CUDA when a GPU is usable, else CPU), cpu, cuda or cuda:N";

void add_train(CLI::App& app, TrainOptions& o, std::function<int()>& action) {
  CLI::App* sub = app.add_subcommand(
      "train", "Train the seed CNN (or the two-headed odd/even model) on MNIST or Fashion-MNIST");
  sub->add_option("--experiment", o.experiment,
                  "seed (the seed CNN) or odd-even (heads num_out: digit, odd_out: odd or even; "
                  "MNIST only)")
      ->check(CLI::IsMember(kiln::cli::experiment_names()))
      ->capture_default_str();
  sub->add_option("--dataset", o.dataset, "mnist or fashion_mnist")
      ->check(CLI::IsMember({"mnist", "fashion_mnist", "fashion-mnist"}))
      ->capture_default_str();
  sub->add_option("--epochs", o.epochs,
                  "Epochs to train (with --resume: the total) [default: seed 3, odd-even 5]")
      ->check(CLI::PositiveNumber);
  sub->add_option("--batch-size", o.batch_size,
                  "Samples per step [default: seed 1024, odd-even 32]")
      ->check(CLI::PositiveNumber);
  sub->add_option("--loss", o.loss,
                  "categorical_crossentropy or sparse_categorical_crossentropy (odd-even: for "
                  "num_out; odd_out always uses binary_crossentropy)")
      ->check(CLI::IsMember({"categorical_crossentropy", "sparse_categorical_crossentropy"}))
      ->capture_default_str();
  sub->add_option("--lr", o.learning_rate, "Adam learning rate")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  sub->add_option("--seed", o.seed, "Seed of weight initialisation and shuffling")
      ->capture_default_str();
  sub->add_option("--validation-split", o.validation_split,
                  "Fraction of the training images (the last ones) held out for validation")
      ->check(CLI::Range(0.0, 0.99))
      ->capture_default_str();
  sub->add_option("--device", o.device, kDeviceHelp)->capture_default_str();
  sub->add_option("--out", o.out,
                  "Run directory (default: runs/<dataset>[-<experiment>]-<timestamp>)");
  sub->add_option("--data-dir", o.data_dir, kDataDirHelp);
  sub->add_option("--limit", o.limit, "Train on the first N training images only (0: all)")
      ->check(CLI::NonNegativeNumber);
  sub->add_option("--test-limit", o.test_limit, "Score on the first N test images only (0: all)")
      ->check(CLI::NonNegativeNumber);
  sub->add_option("--checkpoint-every", o.checkpoint_every,
                  "Write <run>/checkpoint.h5 every N epochs and after the last (0: never)")
      ->check(CLI::NonNegativeNumber);
  sub->add_option("--resume", o.resume,
                  "Continue the run in this directory from its checkpoint.h5");
  CLI::Option* check_numerics = sub->add_flag("--check-numerics")->description(
      "Stop at the first op that produces NaN/Inf, naming the op, layer and shape. Without it, "
      "a NaN/Inf loss still stops training, but it is seen only where the running losses are "
      "read from the device (each progress line, each epoch's end), so up to one progress line "
      "after the step that produced it");
  sub->callback([sub, &o, &action, check_numerics] {
    for (const CLI::Option* option : sub->get_options()) {
      if (option->count() > 0 && option != check_numerics) o.given.insert(option->get_name());
    }
    kiln::set_check_numerics(check_numerics->count() > 0);
    action = [&o] { return kiln::cli::run_train(o); };
  });
}

void add_evaluate(CLI::App& app, EvaluateOptions& o, std::function<int()>& action) {
  CLI::App* sub =
      app.add_subcommand("evaluate", "Test loss, accuracy and confusion matrix of a model");
  sub->add_option("--model", o.model, "A model file (model.h5)")->required();
  sub->add_option("--dataset", o.dataset, "mnist or fashion_mnist")
      ->check(CLI::IsMember({"mnist", "fashion_mnist", "fashion-mnist"}))
      ->capture_default_str();
  sub->add_option("--data-dir", o.data_dir, kDataDirHelp);
  sub->add_option("--limit", o.limit, "Score on the first N test images only (0: all)")
      ->check(CLI::NonNegativeNumber);
  sub->add_option("--batch-size", o.batch_size, "Samples per batch")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  sub->add_option("--device", o.device, kDeviceHelp)->capture_default_str();
  sub->callback([&o, &action] { action = [&o] { return kiln::cli::run_evaluate(o); }; });
}

void add_predict(CLI::App& app, PredictOptions& o, std::function<int()>& action) {
  CLI::App* sub = app.add_subcommand("predict", "Class probabilities of one image");
  sub->add_option("--model", o.model, "A model file (model.h5)")->required();
  CLI::Option* image = sub->add_option("--image", o.image, "A 28x28 PNG (grayscale or colour)");
  CLI::Option* dataset =
      sub->add_option("--dataset", o.dataset, "Take a test image of this data set")
          ->check(CLI::IsMember({"mnist", "fashion_mnist", "fashion-mnist"}));
  image->excludes(dataset);
  sub->add_option("--index", o.index, "Index of the test image (with --dataset)")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  sub->add_option("--data-dir", o.data_dir, kDataDirHelp);
  sub->add_option("--device", o.device, kDeviceHelp)->capture_default_str();
  sub->callback([&o, &action] { action = [&o] { return kiln::cli::run_predict(o); }; });
}

void add_summary(CLI::App& app, SummaryOptions& o, std::function<int()>& action) {
  CLI::App* sub = app.add_subcommand("summary", "Print a model's Keras summary table");
  sub->add_option("--model", o.model, "A model file (model.h5)")->required();
  sub->callback([&o, &action] { action = [&o] { return kiln::cli::run_summary(o); }; });
}

void add_plot_model(CLI::App& app, PlotModelOptions& o, std::function<int()>& action) {
  CLI::App* sub = app.add_subcommand("plot-model",
                                     "Draw a model's graph with Graphviz, like Keras's plot_model");
  sub->add_option("--model,model", o.model, "A model file (model.h5)");
  sub->add_option("-o,--out", o.out, "The picture to write: a .png or .svg path")->required();
  sub->callback([&o, &action] { action = [&o] { return kiln::cli::run_plot_model(o); }; });
}

int report(const char* message) {
  std::fflush(stdout);
  std::fprintf(stderr, "kiln: %s\n", message);
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{
      "kiln: train, evaluate, inspect and draw CNNs on MNIST and Fashion-MNIST; filter pictures",
      "kiln"};
  app.require_subcommand(1);
  app.set_version_flag("--version", [] { return kiln::build_info(); });
  TrainOptions train;
  EvaluateOptions evaluate;
  PredictOptions predict;
  SummaryOptions summary;
  PlotModelOptions plot_model;
  std::function<int()> action;
  add_train(app, train, action);
  add_evaluate(app, evaluate, action);
  add_predict(app, predict, action);
  add_summary(app, summary, action);
  add_plot_model(app, plot_model, action);
  kiln::cli::add_vision_commands(app, action);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  try {
    return action();
  } catch (const kiln::Error& e) {
    return report(e.what());
  } catch (const std::bad_alloc&) {
    return report("out of memory");
  } catch (const std::exception& e) {
    return report(e.what());
  }
}
