// The kiln subcommands: their options (filled in by main.cpp's CLI11 parser) and entry points.
// Each returns the process exit code and reports failures by throwing kiln::Error.
#pragma once

#include <cstdint>
#include <set>
#include <string>

namespace kiln::cli {

struct TrainOptions {
  std::string experiment = "seed";  // or "odd-even"
  std::string dataset = "mnist";
  int epochs = 0;               // 0: the experiment's default (seed 3, odd-even 5)
  std::int64_t batch_size = 0;  // 0: the experiment's default (seed 1024, odd-even 32)
  std::string loss = "categorical_crossentropy";
  double learning_rate = 1e-3;
  std::uint64_t seed = 1337;
  double validation_split = 0.0;
  std::string device = "auto";
  std::string out;              // empty: runs/<dataset>-<timestamp>
  std::string data_dir;         // empty: default_data_dir()
  std::int64_t limit = 0;       // 0: every training image
  std::int64_t test_limit = 0;  // 0: every test image
  int checkpoint_every = 0;
  std::string resume;  // a run directory holding checkpoint.h5
  // --model: train the model of this file instead of an experiment's, and save it to `output`.
  std::string model;
  std::string output;
  std::string optimizer = "adam";     // or "sgd" (--model only; default: the file's)
  std::string input_scale = "1/255";  // or "1" (raw pixels) or "auto" (--model only)
  // Long names ("--dataset") of the options given on the command line, for --resume's checks.
  std::set<std::string> given;
};

struct EvaluateOptions {
  std::string model;
  std::string weights;  // with an architecture-only --model (arch.json)
  bool verify = false;  // run the self-test stored in the model file
  std::string dataset = "mnist";
  std::string data_dir;
  std::int64_t limit = 0;  // 0: every test image
  std::int64_t batch_size = 1024;
  std::string device = "auto";
  std::string input_scale = "1/255";  // or "1" (raw pixels) or "auto"
};

struct PredictOptions {
  std::string model;
  std::string weights;  // with an architecture-only --model (arch.json)
  bool verify = false;  // run the self-test stored in the model file
  std::string image;    // a 28x28 PNG or JPEG, or
  std::string dataset;  // a test image of this data set, at `index`
  std::int64_t index = 0;
  std::string data_dir;
  std::string device = "auto";
  std::string input_scale = "1/255";  // or "1" (raw pixels) or "auto"
};

struct SummaryOptions {
  std::string model;
};

struct PlotModelOptions {
  std::string model;
  std::string out;  // a .png or .svg path
};

int run_train(const TrainOptions& options);
int run_train_model(const TrainOptions& options);  // train --model
int run_evaluate(const EvaluateOptions& options);
int run_predict(const PredictOptions& options);
int run_summary(const SummaryOptions& options);
int run_plot_model(const PlotModelOptions& options);

}  // namespace kiln::cli
