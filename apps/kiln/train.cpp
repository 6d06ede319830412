// `kiln train`: trains the seed CNN, then writes the run directory (models, history, confusion
// matrix, pictures, metrics) and optionally checkpoints that `--resume` continues from.
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>

#include "checkpoint.h"
#include "commands.h"
#include "common.h"
#include "io/atomic_file.h"
#include "kiln/layers.h"
#include "kiln/metrics.h"
#include "kiln/model_io.h"
#include "plots.h"
#include "run_files.h"

namespace kiln::cli {

namespace {

constexpr std::size_t kMisclassifiedShown = 25;

struct RunPlan {
  RunConfig config;
  std::string dir;
  int epochs = 0;
  std::optional<Checkpoint> resume;  // the checkpoint to continue from
};

struct TestResults {
  double loss = 0, accuracy = 0;
  Tensor predicted;  // i32 (N) on the CPU
  Tensor confusion;  // i32 (k, k)
};

RunConfig config_from(const TrainOptions& o) {
  return {canonical_dataset(o.dataset), o.loss,  o.batch_size,      o.learning_rate, o.seed,
          o.validation_split,           o.limit, o.checkpoint_every};
}

// An option given with --resume must agree with the checkpoint's run.
template <class T>
void check_resumed(const TrainOptions& o, const std::string& flag, const T& given, const T& saved,
                   const std::string& path) {
  if (o.given.count(flag) != 0 && !(given == saved)) {
    cli_fail("--resume: {} {} differs from the run's {} in {}; drop {} or start a new run", flag,
             fmt::format("{}", given), fmt::format("{}", saved), path, flag);
  }
}

RunPlan resumed_plan(const TrainOptions& o) {
  const std::string path = run_file(o.resume, "checkpoint.h5");
  if (!std::filesystem::exists(path)) {
    cli_fail("--resume: {} does not exist (train with --checkpoint-every N to write it)", path);
  }
  if (o.given.count("--out") != 0 &&
      std::filesystem::path(o.out) != std::filesystem::path(o.resume)) {
    cli_fail("--resume continues in {}; --out {} cannot name another directory", o.resume, o.out);
  }
  Checkpoint checkpoint = read_checkpoint_info(path);
  const RunConfig& saved = checkpoint.config;
  const RunConfig wanted = config_from(o);
  check_resumed(o, "--dataset", wanted.dataset, saved.dataset, path);
  check_resumed(o, "--loss", wanted.loss, saved.loss, path);
  check_resumed(o, "--batch-size", wanted.batch_size, saved.batch_size, path);
  check_resumed(o, "--lr", wanted.learning_rate, saved.learning_rate, path);
  check_resumed(o, "--seed", wanted.seed, saved.seed, path);
  check_resumed(o, "--validation-split", wanted.validation_split, saved.validation_split, path);
  check_resumed(o, "--limit", wanted.limit, saved.limit, path);
  if (o.epochs <= checkpoint.epoch) {
    cli_fail("--resume: {} is at epoch {}; pass --epochs greater than {} (the total) to continue",
             path, checkpoint.epoch, checkpoint.epoch);
  }
  RunPlan plan{saved, o.resume, o.epochs, std::nullopt};
  if (o.given.count("--checkpoint-every") != 0) plan.config.checkpoint_every = o.checkpoint_every;
  plan.resume = std::move(checkpoint);
  return plan;
}

RunPlan make_plan(const TrainOptions& o) {
  if (!o.resume.empty()) return resumed_plan(o);
  const RunConfig config = config_from(o);
  return {config, o.out.empty() ? default_run_dir(config.dataset) : o.out, o.epochs, std::nullopt};
}

TestResults evaluate_test(Model& model, const Dataset& data, const RunConfig& config) {
  const int classes = static_cast<int>(data.class_names.size());
  const auto logs = model.evaluate(data.x_test, targets_for(data.y_test, config.loss, classes),
                                   config.batch_size);
  TestResults results;
  results.loss = logs.at("loss");
  results.accuracy = logs.at("accuracy");
  results.predicted = predicted_labels(probabilities(model, data.x_test, config.batch_size));
  results.confusion = confusion_matrix(data.y_test, results.predicted, classes);
  return results;
}

std::vector<Misclassified> misclassified(const Tensor& truth, const Tensor& predicted,
                                         std::size_t* total) {
  const std::vector<std::int32_t> t = truth.to_vector<std::int32_t>(),
                                  p = predicted.to_vector<std::int32_t>();
  std::vector<Misclassified> shown;
  *total = 0;
  for (std::size_t i = 0; i < t.size(); ++i) {
    if (t[i] == p[i]) continue;
    ++*total;
    if (shown.size() < kMisclassifiedShown)
      shown.push_back({static_cast<std::int64_t>(i), t[i], p[i]});
  }
  return shown;
}

std::string metrics_json(const RunPlan& plan, const Model& model, const Dataset& data,
                         std::int64_t train_samples, const History& history,
                         const TestResults& test, double train_seconds) {
  const auto k = static_cast<std::size_t>(test.confusion.dim(0));
  const std::vector<std::int32_t> counts = test.confusion.to_vector<std::int32_t>();
  nlohmann::ordered_json matrix = nlohmann::ordered_json::array(),
                         per_class = nlohmann::ordered_json::object();
  for (std::size_t r = 0; r < k; ++r) {
    std::vector<std::int32_t> row(counts.begin() + static_cast<std::ptrdiff_t>(r * k),
                                  counts.begin() + static_cast<std::ptrdiff_t>((r + 1) * k));
    std::int64_t total = 0;
    for (std::int32_t c : row) total += c;
    per_class[data.class_names[r]] =
        total > 0 ? static_cast<double>(row[r]) / static_cast<double>(total) : 0.0;
    matrix.push_back(row);
  }
  nlohmann::ordered_json j;
  j["dataset"] = plan.config.dataset;
  j["model"] = "seed_cnn";
  j["parameters"] = model.count_params();
  j["device"] = model.device().str();
  j["epochs"] = plan.epochs;
  j["resumed_from_epoch"] = plan.resume ? plan.resume->epoch : 0;
  j["batch_size"] = plan.config.batch_size;
  j["loss"] = plan.config.loss;
  j["optimizer"] = {{"name", "Adam"}, {"learning_rate", plan.config.learning_rate}};
  j["seed"] = plan.config.seed;
  j["validation_split"] = plan.config.validation_split;
  j["train_samples"] = train_samples;
  j["test_samples"] = data.x_test.dim(0);
  j["train_seconds"] = train_seconds;
  j["test_loss"] = test.loss;
  j["test_accuracy"] = test.accuracy;
  j["history"] = nlohmann::ordered_json::parse(history_json(history));
  j["class_names"] = data.class_names;
  j["per_class_accuracy"] = per_class;
  j["confusion_matrix"] = matrix;
  return j.dump(2) + "\n";
}

void write_run_files(const RunPlan& plan, const Model& model, const Dataset& data,
                     std::int64_t train_samples, const History& history, const TestResults& test,
                     double train_seconds) {
  const std::string& dir = plan.dir;
  const std::string title = dataset_title(plan.config.dataset);
  save_model(model, run_file(dir, "model.h5"));
  save_weights(model, run_file(dir, "weights.h5"));
  write_file_atomically(run_file(dir, "history.csv"), history_csv(history));
  plot_history(run_file(dir, "history.png"), history, "Seed CNN on " + title);
  write_file_atomically(run_file(dir, "confusion_matrix.csv"),
                        confusion_csv(test.confusion, data.class_names));
  plot_confusion_matrix(run_file(dir, "confusion_matrix.png"), test.confusion, data.class_names,
                        fmt::format("{} test set: accuracy {:.2f}%", title, 100 * test.accuracy));
  std::size_t wrong = 0;
  const std::vector<Misclassified> shown = misclassified(data.y_test, test.predicted, &wrong);
  plot_misclassified(
      run_file(dir, "misclassified.png"), data.x_test, shown,
      fmt::format("Misclassified {} test images: {} shown of {}", title, shown.size(), wrong));
  write_file_atomically(
      run_file(dir, "metrics.json"),
      metrics_json(plan, model, data, train_samples, history, test, train_seconds));
}

void print_header(const RunPlan& plan, const Model& model, std::int64_t train_samples,
                  std::int64_t test_samples) {
  const RunConfig& c = plan.config;
  std::printf(
      "Training the seed CNN (%lld parameters) on %s: %lld training and %lld test images, device "
      "%s\n",
      static_cast<long long>(model.count_params()), dataset_title(c.dataset).c_str(),
      static_cast<long long>(train_samples), static_cast<long long>(test_samples),
      model.device().str().c_str());
  std::printf("epochs %d, batch size %lld, loss %s, Adam lr %g, seed %llu, validation split %g\n",
              plan.epochs, static_cast<long long>(c.batch_size), c.loss.c_str(), c.learning_rate,
              static_cast<unsigned long long>(c.seed), c.validation_split);
  if (plan.resume)
    std::printf("Resuming %s at epoch %d\n", plan.dir.c_str(), plan.resume->epoch + 1);
  std::fflush(stdout);
}

}  // namespace

int run_train(const TrainOptions& options) {
  const RunPlan plan = make_plan(options);
  const RunConfig& config = plan.config;
  Dataset data = load_dataset(config.dataset, data_dir_or_default(options.data_dir));
  data.x_test = first_samples(data.x_test, options.test_limit);
  data.y_test = first_samples(data.y_test, options.test_limit);
  const int classes = static_cast<int>(data.class_names.size());
  const Tensor x_train = first_samples(data.x_train, config.limit);
  const Tensor y_train =
      targets_for(first_samples(data.y_train, config.limit), config.loss, classes);
  const Device device = resolve_device(options.device);
  make_run_dir(plan.dir);

  set_random_seed(config.seed);
  std::unique_ptr<Sequential> model = seed_model(classes);
  model->to(device);
  AdamOptions adam;
  adam.learning_rate = config.learning_rate;
  model->compile(std::make_shared<Adam>(adam), config.loss, {"accuracy"});
  History history;
  const std::string checkpoint_path = run_file(plan.dir, "checkpoint.h5");
  if (plan.resume) {
    restore_checkpoint(checkpoint_path, *model, model->optimizer());
    history = plan.resume->history;
  }
  print_header(plan, *model, x_train.dim(0), data.x_test.dim(0));

  FitOptions fit;
  fit.batch_size = config.batch_size;
  fit.epochs = plan.epochs;
  fit.validation_split = config.validation_split;
  fit.seed = config.seed;
  fit.initial_epoch = plan.resume ? plan.resume->epoch : 0;
  fit.on_epoch_end = [&](int epoch, const std::map<std::string, double>& logs) {
    append_epoch(history, logs);
    const int done = epoch + 1;
    if (config.checkpoint_every > 0 &&
        (done % config.checkpoint_every == 0 || done == plan.epochs)) {
      save_checkpoint(checkpoint_path, *model, model->optimizer(), config, done, history);
      std::printf("Checkpoint: %s (epoch %d)\n", checkpoint_path.c_str(), done);
      std::fflush(stdout);
    }
  };
  const auto start = std::chrono::steady_clock::now();
  model->fit(x_train, y_train, fit);
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();

  const TestResults test = evaluate_test(*model, data, config);
  std::printf("Test loss: %s\nTest accuracy: %s\n", format_value(test.loss).c_str(),
              format_value(test.accuracy).c_str());
  write_run_files(plan, *model, data, x_train.dim(0), history, test, seconds);
  std::printf("Run directory: %s\n", plan.dir.c_str());
  return 0;
}

}  // namespace kiln::cli
