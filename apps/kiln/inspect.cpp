// `kiln evaluate`, `kiln predict` and `kiln summary`: running a saved model.
#include <cstdio>
#include <memory>

#include "commands.h"
#include "common.h"
#include "kiln/metrics.h"
#include "kiln/model_io.h"
#include "kiln/ops.h"
#include "png_input.h"

namespace kiln::cli {

namespace {

constexpr std::int64_t kImageSide = 28;

std::unique_ptr<Model> load_on(const std::string& path, const std::string& device) {
  std::unique_ptr<Model> model = load_model(path);
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

}  // namespace

int run_evaluate(const EvaluateOptions& o) {
  const Dataset data = load_dataset(o.dataset, data_dir_or_default(o.data_dir));
  std::unique_ptr<Model> model = load_on(o.model, o.device);
  const int classes =
      output_classes(*model, data.x_test, static_cast<int>(data.class_names.size()));
  compile_for_evaluation(*model);
  const auto logs =
      model->evaluate(data.x_test, to_categorical(data.y_test, classes), o.batch_size);
  const Tensor predicted = predicted_labels(probabilities(*model, data.x_test, o.batch_size));
  const Tensor matrix = confusion_matrix(data.y_test, predicted, classes);
  std::printf("Model %s on the %s test set (%lld images)\n", o.model.c_str(),
              dataset_title(o.dataset).c_str(), static_cast<long long>(data.x_test.dim(0)));
  std::printf("Test loss: %s\nTest accuracy: %s\n", format_value(logs.at("loss")).c_str(),
              format_value(logs.at("accuracy")).c_str());
  std::printf("Confusion matrix (rows: true class, columns: predicted class):\n%s",
              format_confusion_matrix(matrix, data.class_names).c_str());
  return 0;
}

int run_predict(const PredictOptions& o) {
  if (o.image.empty() == o.dataset.empty())
    cli_fail("predict: give either --image FILE or --dataset NAME --index I");
  const PredictInput input =
      o.image.empty()
          ? dataset_input(o)
          : PredictInput{read_png_gray(o.image, kImageSide, kImageSide), o.image, {}, -1};
  std::unique_ptr<Model> model = load_on(o.model, o.device);
  const Tensor probs = model->predict(input.image, 1).to(Device::cpu());
  if (probs.rank() != 2 || probs.dim(0) != 1) {
    cli_fail("model {} gives output of shape {} for one image; expected class probabilities",
             o.model, shape_str(probs.shape()));
  }
  const std::vector<float> p = probs.to_vector<float>();
  const int best = argmax(probs).to(Device::cpu()).data<std::int32_t>()[0];
  std::printf("Input: %s", input.description.c_str());
  if (input.truth >= 0)
    std::printf(" (true class %s)", class_label(input.truth, input.class_names).c_str());
  std::printf("\nClass probabilities:\n");
  for (std::size_t c = 0; c < p.size(); ++c) {
    std::printf("  %-16s %.6f\n", class_label(static_cast<int>(c), input.class_names).c_str(),
                p[c]);
  }
  std::printf("Predicted class: %s (probability %.4f)\n",
              class_label(best, input.class_names).c_str(), p[static_cast<std::size_t>(best)]);
  return 0;
}

int run_summary(const SummaryOptions& o) {
  const std::unique_ptr<Model> model = load_model(o.model);
  std::printf("%s", model->summary().c_str());
  return 0;
}

}  // namespace kiln::cli
