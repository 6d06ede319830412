// Output heads of the CLI's models (see heads.h).
#include "heads.h"

#include <algorithm>
#include <cstdio>
#include <tuple>

#include "common.h"
#include "kiln/data.h"
#include "kiln/distributed.h"
#include "kiln/metrics.h"

namespace kiln::cli {

namespace {

// Sort key of a log key: (validation, 0 loss / 1 an output's loss / 2 a metric, output index).
std::tuple<int, int, std::size_t> key_rank(const std::string& key,
                                           const std::vector<std::string>& outputs) {
  const bool validation = key.rfind("val_", 0) == 0;
  const std::string base = validation ? key.substr(4) : key;
  if (base == "loss") return {validation, 0, 0};
  std::size_t best = outputs.size();  // the longest output name that prefixes the key
  for (std::size_t i = 0; i < outputs.size(); ++i) {
    const bool longer = best == outputs.size() || outputs[i].size() > outputs[best].size();
    if (base.rfind(outputs[i] + "_", 0) == 0 && longer) best = i;
  }
  if (best == outputs.size()) return {validation, 2, best};
  return {validation, base == outputs[best] + "_loss" ? 1 : 2, best};
}

}  // namespace

std::vector<Head> infer_heads(Model& model, const Tensor& sample_images, int classes) {
  const TensorMap out = model.predict(input_map(model, first_samples(sample_images, 1)), 1);
  std::vector<Head> heads;
  for (const std::string& name : model.output_names()) {
    const Tensor& y = out.at(name);
    const std::int64_t units = y.rank() == 2 ? y.dim(1) : -1;
    const bool class_width = classes > 0 ? units == classes : units > 1;
    if (units != 1 && !class_width) {
      cli_fail(
          "model '{}': output '{}' gives shape {} per image; expected class probabilities "
          "(1, {}) or an odd/even probability (1, 1)",
          model.name(), name, shape_str(y.shape()), classes > 0 ? std::to_string(classes) : "k");
    }
    heads.push_back({name, units == 1 ? kBinaryLoss : "categorical_crossentropy"});
  }
  return heads;
}

CompileOptions head_compile_options(const std::vector<Head>& heads,
                                    std::shared_ptr<Optimizer> optimizer,
                                    const std::map<std::string, double>& loss_weights) {
  CompileOptions options;
  options.optimizer = std::move(optimizer);
  options.loss_weights = loss_weights;
  for (const Head& head : heads) {
    options.loss[head.output] = head.loss;
    options.metrics[head.output] = {"accuracy"};
  }
  return options;
}

TensorMap input_map(const Model& model, const Tensor& images) {
  const std::vector<std::string> inputs = model.input_names();
  if (inputs.size() != 1)
    cli_fail("model '{}' has {} inputs; kiln feeds it images through one", model.name(),
             inputs.size());
  return {{inputs.front(), images}};
}

Tensor odd_targets(const Tensor& labels) {
  const std::vector<std::int32_t> values = labels.to(Device::cpu()).to_vector<std::int32_t>();
  std::vector<float> odd(values.size());
  std::transform(values.begin(), values.end(), odd.begin(),
                 [](std::int32_t label) { return static_cast<float>(label % 2 != 0); });
  return Tensor::from_vector(odd, {static_cast<std::int64_t>(odd.size()), 1});
}

TensorMap head_targets(const std::vector<Head>& heads, const Tensor& labels, int classes) {
  TensorMap targets;
  for (const Head& head : heads) {
    if (head.odd())
      targets[head.output] = odd_targets(labels);
    else if (head.loss == "sparse_categorical_crossentropy")
      targets[head.output] = labels;
    else
      targets[head.output] = to_categorical(labels, classes);
  }
  return targets;
}

const Head& class_head(const std::vector<Head>& heads) {
  const auto found =
      std::find_if(heads.begin(), heads.end(), [](const Head& h) { return !h.odd(); });
  if (found == heads.end()) cli_fail("the model has no class-probability output");
  return *found;
}

std::string head_key(const std::vector<Head>& heads, const Head& head, const std::string& metric) {
  return heads.size() == 1 ? metric : head.output + "_" + metric;
}

TestScores score_test(Model& model, const std::vector<Head>& heads, const Tensor& images,
                      const Tensor& labels, int classes, std::int64_t batch_size) {
  TestScores s;
  s.logs =
      model.evaluate(input_map(model, images), head_targets(heads, labels, classes), batch_size);
  s.keys = keras_key_order(s.logs, model.output_names());
  const Head& head = class_head(heads);
  s.class_accuracy = s.logs.at(head_key(heads, head, "accuracy"));
  if (distributed::rank() != 0) return s;  // the confusion matrix is rank 0's to print
  s.predicted = predicted_labels(predictions(model, images, batch_size).at(head.output));
  s.confusion = confusion_matrix(labels, s.predicted, classes);
  return s;
}

void print_scores(const TestScores& scores) {
  for (const std::string& key : scores.keys)
    std::printf("Test %s: %s\n", key.c_str(), format_value(scores.logs.at(key)).c_str());
  std::fflush(stdout);
}

std::vector<std::string> keras_key_order(const std::map<std::string, double>& logs,
                                         const std::vector<std::string>& outputs) {
  std::vector<std::string> keys;
  for (const auto& entry : logs) keys.push_back(entry.first);
  std::stable_sort(keys.begin(), keys.end(), [&](const std::string& a, const std::string& b) {
    return key_rank(a, outputs) < key_rank(b, outputs);
  });
  return keys;
}

}  // namespace kiln::cli
