// `kiln train`: trains an experiment's model (the seed CNN, or the two-headed odd/even model), then
// writes the run directory (models, history, confusion matrix, pictures, metrics) and optionally
// checkpoints that `--resume` continues from.
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>

#include "commands.h"
#include "common.h"
#include "experiments.h"
#include "heads.h"
#include "kiln/atomic_file.h"
#include "kiln/distributed.h"
#include "kiln/model_io.h"
#include "kiln/plot_model.h"
#include "plots.h"
#include "run_checkpoint.h"
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

RunConfig config_from(const TrainOptions& o) {
  const Experiment& e = find_experiment(o.experiment);
  return {e.name,
          canonical_dataset(o.dataset),
          o.loss,
          o.batch_size > 0 ? o.batch_size : e.batch_size,
          o.learning_rate,
          o.seed,
          o.validation_split,
          o.limit,
          o.checkpoint_every};
}

int epochs_or_default(const TrainOptions& o, const std::string& experiment) {
  return o.epochs > 0 ? o.epochs : find_experiment(experiment).epochs;
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
  check_resumed(o, "--experiment", wanted.experiment, saved.experiment, path);
  check_resumed(o, "--dataset", wanted.dataset, saved.dataset, path);
  check_resumed(o, "--loss", wanted.loss, saved.loss, path);
  check_resumed(o, "--batch-size", wanted.batch_size, saved.batch_size, path);
  check_resumed(o, "--lr", wanted.learning_rate, saved.learning_rate, path);
  check_resumed(o, "--seed", wanted.seed, saved.seed, path);
  check_resumed(o, "--validation-split", wanted.validation_split, saved.validation_split, path);
  check_resumed(o, "--limit", wanted.limit, saved.limit, path);
  const int epochs = epochs_or_default(o, saved.experiment);
  if (epochs <= checkpoint.epoch) {
    cli_fail("--resume: {} is at epoch {}; pass --epochs greater than {} (the total) to continue",
             path, checkpoint.epoch, checkpoint.epoch);
  }
  RunPlan plan{saved, o.resume, epochs, std::nullopt};
  if (o.given.count("--checkpoint-every") != 0) plan.config.checkpoint_every = o.checkpoint_every;
  plan.resume = std::move(checkpoint);
  return plan;
}

RunPlan make_plan(const TrainOptions& o) {
  if (!o.resume.empty()) return resumed_plan(o);
  const RunConfig config = config_from(o);
  const std::string dir =
      o.out.empty() ? default_run_dir(config.dataset, config.experiment) : o.out;
  return {config, dir, epochs_or_default(o, config.experiment), std::nullopt};
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

nlohmann::ordered_json confusion_json(const Tensor& confusion, const Dataset& data,
                                      nlohmann::ordered_json* per_class) {
  const auto k = static_cast<std::size_t>(confusion.dim(0));
  const std::vector<std::int32_t> counts = confusion.to_vector<std::int32_t>();
  nlohmann::ordered_json matrix = nlohmann::ordered_json::array();
  *per_class = nlohmann::ordered_json::object();
  for (std::size_t r = 0; r < k; ++r) {
    std::vector<std::int32_t> row(counts.begin() + static_cast<std::ptrdiff_t>(r * k),
                                  counts.begin() + static_cast<std::ptrdiff_t>((r + 1) * k));
    std::int64_t total = 0;
    for (std::int32_t c : row) total += c;
    (*per_class)[data.class_names[r]] =
        total > 0 ? static_cast<double>(row[r]) / static_cast<double>(total) : 0.0;
    matrix.push_back(row);
  }
  return matrix;
}

// The loss as given to compile: a name for one head, {output: name} for several.
nlohmann::ordered_json losses_json(const std::vector<Head>& heads) {
  if (heads.size() == 1) return heads.front().loss;
  nlohmann::ordered_json losses = nlohmann::ordered_json::object();
  for (const Head& head : heads) losses[head.output] = head.loss;
  return losses;
}

std::string losses_text(const std::vector<Head>& heads) {
  if (heads.size() == 1) return heads.front().loss;
  std::string text;
  for (const Head& head : heads) text += (text.empty() ? "" : ", ") + head.output + " " + head.loss;
  return text;
}

struct RunSummary {
  const RunPlan& plan;
  const Model& model;
  const std::vector<Head>& heads;
  const Dataset& data;
  std::int64_t train_samples;
  const History& history;
  const TestScores& test;
  double train_seconds;
};

std::string metrics_json(const RunSummary& r) {
  nlohmann::ordered_json per_class;
  const nlohmann::ordered_json matrix = confusion_json(r.test.confusion, r.data, &per_class);
  const RunConfig& c = r.plan.config;
  nlohmann::ordered_json j;
  j["experiment"] = c.experiment;
  j["dataset"] = c.dataset;
  j["model"] = find_experiment(c.experiment).model_id;
  j["parameters"] = r.model.count_params();
  j["device"] = r.model.device().str();
  j["epochs"] = r.plan.epochs;
  j["resumed_from_epoch"] = r.plan.resume ? r.plan.resume->epoch : 0;
  j["batch_size"] = c.batch_size;
  j["loss"] = losses_json(r.heads);
  j["optimizer"] = {{"name", "Adam"}, {"learning_rate", c.learning_rate}};
  j["seed"] = c.seed;
  j["validation_split"] = c.validation_split;
  j["train_samples"] = r.train_samples;
  j["test_samples"] = r.data.x_test.dim(0);
  j["train_seconds"] = r.train_seconds;
  for (const std::string& key : r.test.keys) j["test_" + key] = r.test.logs.at(key);
  j["history"] = nlohmann::ordered_json::parse(history_json(r.history));
  j["confusion_output"] = class_head(r.heads).output;
  j["class_names"] = r.data.class_names;
  j["per_class_accuracy"] = per_class;
  j["confusion_matrix"] = matrix;
  return j.dump(2) + "\n";
}

// model.png next to the results; a missing Graphviz costs the picture, not the run.
void write_model_picture(const Model& model, const std::string& path) {
  try {
    plot_model(model, path);
  } catch (const Error& e) {
    std::fprintf(stderr, "kiln: warning: %s not written: %s\n", path.c_str(), e.what());
  }
}

void write_run_files(const RunSummary& r) {
  const std::string& dir = r.plan.dir;
  const std::string title = dataset_title(r.plan.config.dataset);
  const Experiment& experiment = find_experiment(r.plan.config.experiment);
  save_model(r.model, run_file(dir, "model.h5"));
  save_weights(r.model, run_file(dir, "weights.h5"));
  write_model_picture(r.model, run_file(dir, "model.png"));
  write_file_atomically(run_file(dir, "history.csv"), history_csv(r.history));
  plot_history(run_file(dir, "history.png"), r.history, experiment.title + " on " + title);
  write_file_atomically(run_file(dir, "confusion_matrix.csv"),
                        confusion_csv(r.test.confusion, r.data.class_names));
  const std::string head = r.heads.size() == 1 ? "" : class_head(r.heads).output + " ";
  plot_confusion_matrix(
      run_file(dir, "confusion_matrix.png"), r.test.confusion, r.data.class_names,
      fmt::format("{} test set: {}accuracy {:.2f}%", title, head, 100 * r.test.class_accuracy));
  std::size_t wrong = 0;
  const std::vector<Misclassified> shown = misclassified(r.data.y_test, r.test.predicted, &wrong);
  plot_misclassified(
      run_file(dir, "misclassified.png"), r.data.x_test, shown,
      fmt::format("Misclassified {} test images: {} shown of {}", title, shown.size(), wrong));
  write_file_atomically(run_file(dir, "metrics.json"), metrics_json(r));
}

void print_header(const RunPlan& plan, const Model& model, const std::vector<Head>& heads,
                  std::int64_t train_samples, std::int64_t test_samples) {
  const RunConfig& c = plan.config;
  std::printf(
      "Training %s (%lld parameters) on %s: %lld training and %lld test images, device %s\n",
      find_experiment(c.experiment).description.c_str(),
      static_cast<long long>(model.count_params()), dataset_title(c.dataset).c_str(),
      static_cast<long long>(train_samples), static_cast<long long>(test_samples),
      model.device().str().c_str());
  std::printf("epochs %d, batch size %lld, loss %s, Adam lr %g, seed %llu, validation split %g\n",
              plan.epochs, static_cast<long long>(c.batch_size), losses_text(heads).c_str(),
              c.learning_rate, static_cast<unsigned long long>(c.seed), c.validation_split);
  if (plan.resume)
    std::printf("Resuming %s at epoch %d\n", plan.dir.c_str(), plan.resume->epoch + 1);
  if (distributed::active()) {
    const int ranks = distributed::world_size();
    std::printf("data-parallel: %d rank%s (world size %d), %lld images of each batch per rank\n",
                ranks, ranks == 1 ? "" : "s", ranks, static_cast<long long>(c.batch_size / ranks));
  }
  std::fflush(stdout);
}

// The experiment's model on `device`, compiled with its heads and Adam at the run's rate.
std::unique_ptr<Model> compiled_model(const Experiment& experiment, const RunConfig& config,
                                      int classes, Device device, std::vector<Head>* heads) {
  set_random_seed(config.seed);
  std::unique_ptr<Model> model = build_model(experiment, classes);
  model->to(device);
  *heads = experiment_heads(experiment, *model, config.loss);
  AdamOptions adam;
  adam.learning_rate = config.learning_rate;
  model->compile(head_compile_options(*heads, std::make_shared<Adam>(adam)));
  return model;
}

// Fits the model, adding each epoch to `history` and writing checkpoints as the run asks;
// returns the seconds it took.
double train(Model& model, const RunPlan& plan, const TensorMap& x, const TensorMap& y,
             History& history) {
  const RunConfig& config = plan.config;
  const std::string checkpoint_path = run_file(plan.dir, "checkpoint.h5");
  FitOptions fit;
  fit.batch_size = config.batch_size;
  fit.epochs = plan.epochs;
  fit.validation_split = config.validation_split;
  fit.seed = config.seed;
  fit.initial_epoch = plan.resume ? plan.resume->epoch : 0;
  fit.on_epoch_end = [&](int epoch, const std::map<std::string, double>& logs) {
    append_epoch(history, logs, model.output_names());
    const int done = epoch + 1;
    if (config.checkpoint_every > 0 && distributed::rank() == 0 &&  // rank 0 alone writes files
        (done % config.checkpoint_every == 0 || done == plan.epochs)) {
      save_checkpoint(checkpoint_path, model, config, done, history);
      std::printf("Checkpoint: %s (epoch %d)\n", checkpoint_path.c_str(), done);
      std::fflush(stdout);
    }
  };
  const auto start = std::chrono::steady_clock::now();
  model.fit(x, y, fit);
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

}  // namespace

int run_train(const TrainOptions& options) {
  const RunPlan plan = make_plan(options);
  const RunConfig& config = plan.config;
  const Experiment& experiment = find_experiment(config.experiment);
  check_experiment_dataset(experiment, config.dataset);
  Dataset data = load_dataset(config.dataset, data_dir_or_default(options.data_dir));
  data.x_test = first_samples(data.x_test, options.test_limit);
  data.y_test = first_samples(data.y_test, options.test_limit);
  const int classes = static_cast<int>(data.class_names.size());
  // Under mpirun each rank takes its own GPU (or its share of the cores); rank 0 alone writes.
  const bool writer = distributed::rank() == 0;
  const Device device = distributed::active() && options.device == "auto"
                            ? distributed::rank_device()
                            : resolve_device(options.device);
  if (writer) make_run_dir(plan.dir);

  std::vector<Head> heads;
  const std::unique_ptr<Model> model = compiled_model(experiment, config, classes, device, &heads);
  const TensorMap x_train = input_map(*model, first_samples(data.x_train, config.limit));
  const TensorMap y_train = head_targets(heads, first_samples(data.y_train, config.limit), classes);
  const std::int64_t train_samples = x_train.begin()->second.dim(0);
  History history;
  if (plan.resume) {
    restore_checkpoint(run_file(plan.dir, "checkpoint.h5"), *model);
    history = plan.resume->history;
  }
  if (writer) print_header(plan, *model, heads, train_samples, data.x_test.dim(0));
  const double seconds = train(*model, plan, x_train, y_train, history);

  const TestScores test =  // every rank: evaluate shares the test set among them
      score_test(*model, heads, data.x_test, data.y_test, classes, config.batch_size);
  if (!writer) return 0;
  print_scores(test);
  write_run_files({plan, *model, heads, data, train_samples, history, test, seconds});
  std::printf("Run directory: %s\n", plan.dir.c_str());
  return 0;
}

}  // namespace kiln::cli
