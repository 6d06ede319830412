// `kiln train --model FILE`: trains (or fine-tunes) a model read from a file, keeping its weights,
// on MNIST or Fashion-MNIST, and saves it. The loss and optimizer come from the file's
// training_config unless flags give them; the labels are the data set's classes, so the model must
// have one output with one unit per class.
#include <cstdio>
#include <memory>

#include "commands.h"
#include "common.h"
#include "heads.h"
#include "input_scale.h"
#include "kiln/model_io.h"
#include "usage.h"

namespace kiln::cli {

namespace {

constexpr int kDefaultEpochs = 1;               // Keras's fit(epochs=1)
constexpr std::int64_t kDefaultBatchSize = 32;  // Keras's fit(batch_size=32)

bool given(const TrainOptions& o, const std::string& flag) { return o.given.count(flag) != 0; }

bool trainable_loss(const std::string& loss) {
  return loss == "categorical_crossentropy" || loss == "sparse_categorical_crossentropy";
}

// The model's one output, which must give one probability per class.
std::string class_output(const Model& model, const std::string& path, int classes) {
  const std::vector<std::string> outputs = model.output_names();
  if (outputs.size() != 1) {
    cli_fail(
        "train: {} has {} outputs; --model trains models with one output "
        "(class "
        "probabilities)",
        path, outputs.size());
  }
  const Shape shape = model.layer_output_shape(outputs[0]);
  if (shape.size() != 1 || shape[0] != classes) {
    cli_fail(
        "train: {}: output '{}' has shape (None, {}); training on these "
        "labels needs "
        "(None, {}), one unit per class",
        path, outputs[0], fmt::format("{}", fmt::join(shape, ", ")), classes);
  }
  return outputs[0];
}

// --loss when given, else the loss of the file's training_config.
std::string chosen_loss(const TrainOptions& o, const Model& model, const std::string& output) {
  if (given(o, "--loss")) return o.loss;
  std::string loss;
  if (model.compiled()) {
    const auto& losses = model.compile_options().loss;
    const auto it = losses.count(output) != 0 ? losses.find(output) : losses.find("");
    if (it != losses.end()) loss = it->second;
  }
  if (loss.empty()) {
    cli_fail(
        "train: {} has no training_config loss kiln can read; pass --loss "
        "sparse_categorical_crossentropy or categorical_crossentropy",
        o.model);
  }
  if (!trainable_loss(loss)) {
    cli_fail(
        "train: {} was compiled with loss '{}'; kiln trains class "
        "probabilities with "
        "categorical_crossentropy or sparse_categorical_crossentropy: "
        "pass --loss",
        o.model, loss);
  }
  return loss;
}

// --optimizer and --lr when given, else the file's optimizer (Adam(1e-3) when it has none).
std::shared_ptr<Optimizer> chosen_optimizer(const TrainOptions& o, const Model& model) {
  const bool from_file = model.compiled() && model.compile_options().optimizer != nullptr;
  const std::string file_name = from_file ? model.optimizer().name() : "Adam";
  const std::string name = given(o, "--optimizer") ? o.optimizer : file_name;
  if (!given(o, "--optimizer") && !given(o, "--lr") && from_file) {
    return model.compile_options().optimizer;
  }
  const double lr =
      given(o, "--lr") || !from_file ? o.learning_rate : model.optimizer().learning_rate();
  if (name == "sgd" || name == "SGD") return std::make_shared<SGD>(SGDOptions{lr});
  AdamOptions adam;
  if (from_file && file_name == "Adam") {
    adam = dynamic_cast<const Adam&>(model.optimizer()).options();
  }
  adam.learning_rate = lr;
  return std::make_shared<Adam>(adam);
}

void print_header(const TrainOptions& o, const Model& model, const std::string& loss,
                  const Optimizer& optimizer, std::int64_t train_samples, std::int64_t test_samples,
                  const InputScale& scale, const FitOptions& fit) {
  std::printf(
      "Training %s (%lld parameters) on %s: %lld training and %lld "
      "test images, device "
      "%s, input scale %s\n",
      o.model.c_str(), static_cast<long long>(model.count_params()),
      dataset_title(o.dataset).c_str(), static_cast<long long>(train_samples),
      static_cast<long long>(test_samples), model.device().str().c_str(), scale.text().c_str());
  std::printf(
      "epochs %d, batch size %lld, loss %s, %s lr %g, seed %llu, "
      "validation split %g\n",
      fit.epochs, static_cast<long long>(fit.batch_size), loss.c_str(), optimizer.name().c_str(),
      optimizer.learning_rate(), static_cast<unsigned long long>(o.seed), o.validation_split);
  std::fflush(stdout);
}

FitOptions fit_options(const TrainOptions& o) {
  FitOptions fit;
  fit.epochs = o.epochs > 0 ? o.epochs : kDefaultEpochs;
  fit.batch_size = o.batch_size > 0 ? o.batch_size : kDefaultBatchSize;
  fit.validation_split = o.validation_split;
  fit.seed = o.seed;
  return fit;
}

}  // namespace

int run_train_model(const TrainOptions& o) {
  check_output_path(o.output, {".h5"});
  Dataset data = load_dataset(o.dataset, data_dir_or_default(o.data_dir));
  data.x_test = first_samples(data.x_test, o.test_limit);
  data.y_test = first_samples(data.y_test, o.test_limit);
  const int classes = static_cast<int>(data.class_names.size());
  set_random_seed(o.seed);
  std::unique_ptr<Model> model = load_model(o.model);
  const std::string output = class_output(*model, o.model, classes);
  const std::vector<Head> heads{{output, chosen_loss(o, *model, output)}};
  const std::shared_ptr<Optimizer> optimizer = chosen_optimizer(o, *model);
  const InputScale scale = resolve_input_scale(*model, o.input_scale);
  const Tensor x_train =
      scaled_pixels(as_model_input(*model, first_samples(data.x_train, o.limit)), scale);
  const Tensor x_test = scaled_pixels(as_model_input(*model, data.x_test), scale);
  model->to(resolve_device(o.device));
  model->compile(head_compile_options(heads, optimizer));

  const FitOptions fit = fit_options(o);
  print_header(o, *model, heads[0].loss, *optimizer, x_train.dim(0), x_test.dim(0), scale, fit);
  model->fit(input_map(*model, x_train),
             head_targets(heads, first_samples(data.y_train, o.limit), classes), fit);
  print_scores(score_test(*model, heads, x_test, data.y_test, classes, fit.batch_size));
  save_model(*model, o.output);
  std::printf("Saved %s\n", o.output.c_str());
  return 0;
}

}  // namespace kiln::cli
