// kiln: the command-line tool. Parses the subcommands with CLI11 and turns every failure into one
// line "kiln: <message>" on stderr: exit status 2 for a usage error (a missing, unknown or out-of-
// range option, an unknown command), 1 for a runtime error.
#include <CLI/CLI.hpp>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <exception>
#include <functional>
#include <new>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "commands.h"
#include "detect_command.h"
#include "experiments.h"
#include "input_scale.h"
#include "kiln/build_info.h"
#include "kiln/distributed.h"
#include "kiln/numerics.h"
#include "kiln/error.h"
#include "usage.h"
#include "vision_commands.h"

namespace {

using kiln::cli::EvaluateOptions;
using kiln::cli::PlotModelOptions;
using kiln::cli::PredictOptions;
using kiln::cli::SummaryOptions;
using kiln::cli::TrainOptions;

const char* const kDataDirHelp =
    "Directory holding mnist/ and fashion-mnist/ (default: $KILN_DATA, else ~/.kiln/datasets)";
// The largest sample count or index an option takes (more than any data set kiln reads).
constexpr std::int64_t kMaxCount = std::int64_t{1} << 40;

const char* const kDeviceHelp = "auto (CUDA when a GPU is usable, else CPU), cpu, cuda or cuda:N";

CLI::Option* add_input_scale(CLI::App* sub, std::string& value) {
  return sub
      ->add_option("--input-scale", value,
                   "Pixels as the model takes them: 1/255 (in [0, 1], as Keras's MNIST examples), "
                   "1 (raw 0..255) or auto (raw when the model starts with a Rescaling layer, "
                   "else 1/255)")
      ->check(CLI::IsMember(kiln::cli::input_scale_names()))
      ->capture_default_str();
}

// train --model FILE -o OUT.h5: a model read from a file instead of an experiment's.
void add_train_model(CLI::App* sub, TrainOptions& o) {
  CLI::Option* model = sub->add_option(
      "--model", o.model,
      "Train (fine-tune) the model of this file, keeping its weights, instead of an experiment's. "
      "Loss and optimizer: the file's training_config, unless --loss, --optimizer or --lr are "
      "given; epochs 1 and batch size 32 (Keras's fit) unless given");
  CLI::Option* output = sub->add_option("-o,--output", o.output,
                                        "With --model: where to save the trained model (.h5)");
  CLI::Option* optimizer =
      sub->add_option("--optimizer", o.optimizer, "With --model: adam or sgd [default: the file's]")
          ->check(CLI::IsMember({"adam", "sgd"}));
  add_input_scale(sub, o.input_scale)->needs(model);
  model->needs(output);
  output->needs(model);
  optimizer->needs(model);
  for (const char* name : {"--experiment", "--resume", "--checkpoint-every", "--out"}) {
    model->excludes(sub->get_option(name));
  }
}

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
  sub->add_option(
         "--epochs", o.epochs,
         "Epochs to train (with --resume: the total) [default: seed 3, odd-even 5, --model 1]")
      ->check(kiln::cli::whole_number(1, 100000));
  sub->add_option("--batch-size", o.batch_size,
                  "Samples per step [default: seed 1024, odd-even 32, --model 32]")
      ->check(kiln::cli::whole_number(1, 1 << 20));
  sub->add_option("--loss", o.loss,
                  "categorical_crossentropy or sparse_categorical_crossentropy (odd-even: for "
                  "num_out; odd_out always uses binary_crossentropy)")
      ->check(CLI::IsMember({"categorical_crossentropy", "sparse_categorical_crossentropy"}))
      ->capture_default_str();
  sub->add_option("--lr", o.learning_rate,
                  "Adam learning rate (with --model: of --optimizer; default: the file's)")
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
      ->check(kiln::cli::whole_number(0, kMaxCount));
  sub->add_option("--test-limit", o.test_limit, "Score on the first N test images only (0: all)")
      ->check(kiln::cli::whole_number(0, kMaxCount));
  sub->add_option("--checkpoint-every", o.checkpoint_every,
                  "Write <run>/checkpoint.h5 every N epochs and after the last (0: never)")
      ->check(kiln::cli::whole_number(0, 100000));
  sub->add_option("--resume", o.resume,
                  "Continue the run in this directory from its checkpoint.h5");
  CLI::Option* check_numerics =
      sub->add_flag("--check-numerics")
          ->description(
              "Stop at the first op that produces NaN/Inf, naming the op, layer and shape. Without it, "
              "a NaN/Inf loss still stops training, but it is seen only where the running losses are "
              "read from the device (each progress line, each epoch's end), so up to one progress line "
              "after the step that produced it");
  add_train_model(sub, o);
  sub->callback([sub, &o, &action, check_numerics] {
    for (const CLI::Option* option : sub->get_options()) {
      if (option->count() > 0 && option != check_numerics) o.given.insert(option->get_name());
    }
    kiln::set_check_numerics(check_numerics->count() > 0);
    action = [&o] {
      return o.model.empty() ? kiln::cli::run_train(o) : kiln::cli::run_train_model(o);
    };
  });
}

// --model, --weights and --verify of evaluate and predict.
void add_model_options(CLI::App& sub, std::string& model, std::string& weights, bool& verify) {
  sub.add_option("--model", model,
                 "A model file (model.h5, model.keras) or an architecture (arch.json, with "
                 "--weights)")
      ->required();
  sub.add_option("--weights", weights,
                 "Weights for --model: Keras save_weights .h5, Keras 3 .weights.h5 or .keras");
  sub.add_flag("--verify", verify,
               "Run the self-test stored in the model file; stop on a mismatch");
}

void add_evaluate(CLI::App& app, EvaluateOptions& o, std::function<int()>& action) {
  CLI::App* sub =
      app.add_subcommand("evaluate", "Test loss, accuracy and confusion matrix of a model");
  add_model_options(*sub, o.model, o.weights, o.verify);
  sub->add_option("--dataset", o.dataset, "mnist or fashion_mnist")
      ->check(CLI::IsMember({"mnist", "fashion_mnist", "fashion-mnist"}))
      ->capture_default_str();
  sub->add_option("--data-dir", o.data_dir, kDataDirHelp);
  sub->add_option("--limit", o.limit, "Score on the first N test images only (0: all)")
      ->check(kiln::cli::whole_number(0, kMaxCount));
  sub->add_option("--batch-size", o.batch_size, "Samples per batch")
      ->check(kiln::cli::whole_number(1, 1 << 20))
      ->capture_default_str();
  sub->add_option("--device", o.device, kDeviceHelp)->capture_default_str();
  add_input_scale(sub, o.input_scale);
  sub->callback([&o, &action] { action = [&o] { return kiln::cli::run_evaluate(o); }; });
}

void add_predict(CLI::App& app, PredictOptions& o, std::function<int()>& action) {
  CLI::App* sub = app.add_subcommand("predict", "Class probabilities of one image");
  add_model_options(*sub, o.model, o.weights, o.verify);
  CLI::Option* image =
      sub->add_option("--image", o.image, "A 28x28 PNG or JPEG (grayscale or colour)");
  CLI::Option* dataset =
      sub->add_option("--dataset", o.dataset, "Take a test image of this data set")
          ->check(CLI::IsMember({"mnist", "fashion_mnist", "fashion-mnist"}));
  image->excludes(dataset);
  sub->add_option("--index", o.index, "Index of the test image (with --dataset)")
      ->check(kiln::cli::whole_number(0, kMaxCount))
      ->capture_default_str();
  sub->add_option("--data-dir", o.data_dir, kDataDirHelp);
  sub->add_option("--device", o.device, kDeviceHelp)->capture_default_str();
  add_input_scale(sub, o.input_scale);
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
  // Under mpirun the other ranks would wait for this one in their next all-reduce: stop them all.
  if (kiln::distributed::world_size() > 1) {
    kiln::distributed::abort_all(message, kiln::cli::kExitRuntimeError);
  }
  std::fprintf(stderr, "kiln: %s\n", message);
  return kiln::cli::kExitRuntimeError;
}

const char* const kExitStatusHelp =
    "Exit status: 0 success; 1 runtime error (a file that cannot be read or written, bad data, "
    "out of memory); 2 usage error (a missing, unknown or out-of-range option, an unknown "
    "command). Either error is one line on stderr: kiln: <message>.";

std::vector<std::string> command_names(const CLI::App& app) {
  std::vector<std::string> names;
  for (const CLI::App* sub : app.get_subcommands([](const CLI::App*) { return true; })) {
    names.push_back(sub->get_name());
  }
  return names;
}

// "" when argv names a known command (or starts with an option), else the usage error's text.
std::string unknown_command(const CLI::App& app, int argc, char** argv) {
  const std::vector<std::string> names = command_names(app);
  const std::string list = fmt::format("{}", fmt::join(names, ", "));
  if (argc < 2) return "a command is required: " + list + " (kiln --help describes them)";
  const std::string word = argv[1];
  if (word.empty() || word[0] == '-' ||
      std::find(names.begin(), names.end(), word) != names.end()) {
    return {};
  }
  const std::string nearest = kiln::cli::nearest_name(word, names);
  const std::string hint = nearest.empty() ? "" : "did you mean '" + nearest + "'? ";
  return "unknown command '" + word + "' (" + hint + "commands: " + list + ")";
}

// CLI11's message as one line.
std::string one_line(std::string text) {
  std::replace(text.begin(), text.end(), '\n', ' ');
  while (!text.empty() && text.back() == ' ') text.pop_back();
  return text;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{
      "kiln: train, evaluate, inspect and draw CNNs on MNIST and Fashion-MNIST; filter pictures; "
      "detect objects",
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
  kiln::cli::add_detect_command(app, action);
  app.footer(kExitStatusHelp);
  for (CLI::App* sub : app.get_subcommands([](CLI::App*) { return true; })) {
    sub->footer(kExitStatusHelp);
  }
  if (const std::string error = unknown_command(app, argc, argv); !error.empty()) {
    return kiln::cli::usage_error(error);
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == 0) return app.exit(e);  // --help, --version
    return kiln::cli::usage_error(one_line(e.what()));
  }
  try {
    kiln::distributed::init();  // joins the MPI job under mpirun (docs/DISTRIBUTED.md)
    int status = 0;
    if (kiln::distributed::rank() == 0) {
      status = action();
    } else {
      // Rank 0 alone prints and writes files; the others' errors still reach stderr. train and
      // evaluate share their work among the ranks; any other command has nothing to share and
      // runs on rank 0 alone.
      if (std::freopen("/dev/null", "w", stdout) == nullptr) std::fclose(stdout);
      if (app.got_subcommand("train") || app.got_subcommand("evaluate")) status = action();
    }
    kiln::distributed::finalize();
    return status;
  } catch (const kiln::Error& e) {
    return report(e.what());
  } catch (const std::bad_alloc&) {
    return report("out of memory");
  } catch (const std::exception& e) {
    return report(e.what());
  }
}
