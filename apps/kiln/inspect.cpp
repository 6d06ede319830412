// `kiln evaluate`, `kiln predict`, `kiln summary` and `kiln plot-model`: running and showing a
// saved model, with one output or several (the odd/even model's num_out and odd_out heads).
#include <cstdio>
#include <map>
#include <memory>

#include "commands.h"
#include "common.h"
#include "heads.h"
#include "input_scale.h"
#include "kiln/distributed.h"
#include "kiln/metrics.h"
#include "kiln/model_io.h"
#include "kiln/ops.h"
#include "kiln/plot_model.h"
#include "image_input.h"

namespace kiln::cli {

namespace {

constexpr std::int64_t kImageSide = 28;

template <class Options>
std::unique_ptr<Model> load_on(const Options& o, const std::string& device) {
  std::unique_ptr<Model> model = load_model(o.model, {.weights = o.weights, .verify = o.verify});
  if (o.verify) std::printf("Self-test passed: %s\n", o.model.c_str());
  model->to(resolve_device(device));
  return model;
}

struct PredictInput {
  Tensor image;  // (1, 28, 28, 1)
  std::string description;
  std::vector<std::string> class_names;  // empty: indices
  int truth = -1;
};

PredictInput dataset_input(const PredictOptions& o) {
  const Dataset data = load_dataset(o.dataset, data_dir_or_default(o.data_dir));
  const std::int64_t n = data.x_test.dim(0);
  if (o.index < 0 || o.index >= n) {
    cli_fail("--index {} is out of range: the {} test set has {} images (0..{})", o.index,
             dataset_title(o.dataset), n, n - 1);
  }
  const std::int64_t pixels = data.x_test.numel() / n;
  std::vector<float> values(data.x_test.data<float>() + o.index * pixels,
                            data.x_test.data<float>() + (o.index + 1) * pixels);
  Shape shape = data.x_test.shape();
  shape[0] = 1;
  PredictInput input{Tensor::from_vector(values, shape),
                     fmt::format("{} test image {}", dataset_title(o.dataset), o.index),
                     data.class_names, data.y_test.data<std::int32_t>()[o.index]};
  return input;
}

std::string class_label(int index, const std::vector<std::string>& names) {
  const std::string number = std::to_string(index);
  if (names.empty() || static_cast<std::size_t>(index) >= names.size() || names[index] == number)
    return number;
  return number + " (" + names[index] + ")";
}

// Loss weights the model was trained with, when its file has a training_config.
std::map<std::string, double> trained_loss_weights(const Model& model) {
  return model.compiled() ? model.compile_options().loss_weights : std::map<std::string, double>{};
}

// The class probabilities of one head; `named` adds the output's name (models with several).
void print_class_head(const Head& head, const Tensor& probs, const PredictInput& input,
                      bool named) {
  const std::vector<float> p = probs.to_vector<float>();
  const int best = argmax(probs).to(Device::cpu()).data<std::int32_t>()[0];
  if (named)
    std::printf("Output %s, class probabilities:\n", head.output.c_str());
  else
    std::printf("Class probabilities:\n");
  for (std::size_t c = 0; c < p.size(); ++c) {
    std::printf("  %-16s %.6f\n", class_label(static_cast<int>(c), input.class_names).c_str(),
                p[c]);
  }
  std::printf("Predicted class: %s (probability %.4f)\n",
              class_label(best, input.class_names).c_str(), p[static_cast<std::size_t>(best)]);
}

// The odd head's sigmoid: the probability that the digit is odd.
void print_odd_head(const Head& head, const Tensor& probs, const PredictInput& input) {
  const float odd = probs.to_vector<float>().front();
  std::printf("Output %s, probability of odd: %.6f\n", head.output.c_str(), odd);
  std::printf("Predicted: %s", odd > 0.5f ? "odd" : "even");
  if (input.truth >= 0) std::printf(" (true: %s)", input.truth % 2 != 0 ? "odd" : "even");
  std::printf("\n");
}

}  // namespace

int run_evaluate(const EvaluateOptions& o) {
  Dataset data = load_dataset(o.dataset, data_dir_or_default(o.data_dir));
  data.x_test = first_samples(data.x_test, o.limit);
  data.y_test = first_samples(data.y_test, o.limit);
  std::unique_ptr<Model> model = load_on(o, o.device);
  const InputScale scale = resolve_input_scale(*model, o.input_scale);
  data.x_test = scaled_pixels(as_model_input(*model, data.x_test), scale);
  const int classes = static_cast<int>(data.class_names.size());
  const std::vector<Head> heads = infer_heads(*model, data.x_test, classes);
  model->compile(
      head_compile_options(heads, std::make_shared<Adam>(), trained_loss_weights(*model)));
  const TestScores scores =  // every rank: evaluate shares the test set among them
      score_test(*model, heads, data.x_test, data.y_test, classes, o.batch_size);
  if (distributed::rank() != 0) return 0;  // rank 0 alone prints
  std::printf("Model %s on the %s test set (%lld images), input scale %s\n", o.model.c_str(),
              dataset_title(o.dataset).c_str(), static_cast<long long>(data.x_test.dim(0)),
              scale.text().c_str());
  print_scores(scores);
  const std::string of = heads.size() == 1 ? "" : " of output " + class_head(heads).output;
  std::printf("Confusion matrix%s (rows: true class, columns: predicted class):\n%s", of.c_str(),
              format_confusion_matrix(scores.confusion, data.class_names).c_str());
  return 0;
}

int run_predict(const PredictOptions& o) {
  if (o.image.empty() == o.dataset.empty())
    cli_fail("predict: give either --image FILE or --dataset NAME --index I");
  const PredictInput input =
      o.image.empty()
          ? dataset_input(o)
          : PredictInput{read_grey_input(o.image, kImageSide, kImageSide), o.image, {}, -1};
  std::unique_ptr<Model> model = load_on(o, o.device);
  const InputScale scale = resolve_input_scale(*model, o.input_scale);
  const Tensor image = scaled_pixels(as_model_input(*model, input.image), scale);
  const std::vector<Head> heads =
      infer_heads(*model, image, static_cast<int>(input.class_names.size()));
  const TensorMap outputs = predictions(*model, image, 1);
  std::printf("Input: %s", input.description.c_str());
  if (input.truth >= 0)
    std::printf(" (true class %s)", class_label(input.truth, input.class_names).c_str());
  std::printf(", input scale %s\n", scale.text().c_str());
  for (const Head& head : heads) {
    if (head.odd())
      print_odd_head(head, outputs.at(head.output), input);
    else
      print_class_head(head, outputs.at(head.output), input, heads.size() > 1);
  }
  return 0;
}

int run_summary(const SummaryOptions& o) {
  const std::unique_ptr<Model> model = load_model(o.model);
  std::printf("%s", model->summary().c_str());
  return 0;
}

int run_plot_model(const PlotModelOptions& o) {
  if (o.model.empty()) cli_fail("plot-model: give the model file (MODEL.h5 or --model MODEL.h5)");
  const std::unique_ptr<Model> model = load_model(o.model);
  plot_model(*model, o.out);
  std::printf("Wrote %s (%zu layers of model '%s')\n", o.out.c_str(), model->layers().size(),
              model->name().c_str());
  return 0;
}

}  // namespace kiln::cli
