// The CPU-side proof that a training step is GPU-shaped: the CPU backend counts every point where
// a GPU would make the host wait (kiln::sync_stats), and a steady-state fit step must reach none
// of them — losses and accuracy stay on the device, the epoch's order is uploaded once, gradient
// buffers are reused, Adam's step counter lives on the device — while an epoch reads its metrics
// back once (Note [Metrics on the device] in src/model/metric_sums.h). And the device path gives
// the numbers the per-step host path gave.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "kiln/error.h"
#include "kiln/model.h"

namespace kiln {
namespace {

Tensor digits(std::int64_t n, std::uint64_t seed) {
  std::vector<std::int32_t> labels(static_cast<std::size_t>(n));
  const std::vector<float> u = Tensor::uniform({n}, 0.0, 1.0, seed).to_vector<float>();
  for (std::size_t i = 0; i < labels.size(); ++i)
    labels[i] = static_cast<std::int32_t>(u[i] * 10) % 10;
  return Tensor::from_vector(labels, {n});
}

std::unique_ptr<Sequential> small_cnn() {
  clear_session();
  auto model = std::make_unique<Sequential>(
      std::vector<LayerRef>{InputLayer({8, 8, 1}), Conv2D(4, 3, {.activation = "relu"}),
                            MaxPooling2D(2), Flatten(), Dense(10, {.activation = "softmax"})});
  model->compile(std::make_shared<Adam>(), "sparse_categorical_crossentropy", {"accuracy"});
  return model;
}

// Two heads: a digit (softmax, one-hot targets) and a flag (sigmoid, binary).
std::unique_ptr<Model> small_two_headed() {
  clear_session();
  const SymbolicTensor input = Input({6});
  const SymbolicTensor hidden = Dense(8, {.activation = "relu"})(input);
  const SymbolicTensor digit = Dense(10, {.activation = "softmax", .name = "digit"})(hidden);
  const SymbolicTensor flag = Dense(1, {.activation = "sigmoid", .name = "flag"})(hidden);
  auto model = std::make_unique<Model>(std::vector<SymbolicTensor>{input},
                                       std::vector<SymbolicTensor>{digit, flag});
  CompileOptions options;
  options.loss = {{"digit", "categorical_crossentropy"}, {"flag", "binary_crossentropy"}};
  options.metrics = {{"", {"accuracy"}}};
  model->compile(options);
  return model;
}

std::uint64_t cpu_waits() { return sync_stats(Device::cpu()).waits; }

// Waits counted after each step of a fit of `epochs` epochs (verbose 0), and in all.
struct Counted {
  std::vector<std::uint64_t> after_step;
  std::uint64_t total = 0;
};

Counted count_waits(Model& model, const TensorMap& x, const TensorMap& y, std::int64_t batch,
                    int epochs) {
  Counted c;
  FitOptions options;
  options.batch_size = batch;
  options.epochs = epochs;
  options.verbose = 0;
  options.on_batch_end = [&](int, std::int64_t) { c.after_step.push_back(cpu_waits()); };
  const std::uint64_t before = cpu_waits();
  model.fit(x, y, options);
  c.total = cpu_waits() - before;
  return c;
}

void expect_steady_steps_wait_for_nothing(const Counted& c, std::int64_t steps, int epochs) {
  ASSERT_EQ(c.after_step.size(), static_cast<std::size_t>(steps * epochs));
  for (std::size_t i = 1; i < c.after_step.size(); ++i) {
    if (static_cast<std::int64_t>(i) % steps == 0) continue;  // the epoch's read precedes it
    EXPECT_EQ(c.after_step[i], c.after_step[i - 1]) << "step " << i % steps + 1;
  }
  // One read of the metrics per epoch (verbose 0 draws no running lines).
  EXPECT_EQ(c.total, static_cast<std::uint64_t>(epochs));
}

TEST(HostWaits, SteadyFitStepsOfTheCnnWaitForNothing) {
  auto model = small_cnn();
  const std::int64_t n = 236, batch = 4;  // a 59-step epoch, as MNIST's at batch 1024
  const TensorMap x{{model->input_names()[0], Tensor::uniform({n, 8, 8, 1}, 0.0, 1.0, 1)}};
  const TensorMap y{{model->output_names()[0], digits(n, 2)}};
  expect_steady_steps_wait_for_nothing(count_waits(*model, x, y, batch, 2), 59, 2);
}

// BatchNormalization moves its statistics inside the step, on the device: still no host wait.
TEST(HostWaits, SteadyFitStepsWithBatchNormalizationWaitForNothing) {
  clear_session();
  Sequential model({InputLayer({8, 8, 1}), ZeroPadding2D(),
                    DepthwiseConv2D(3, {.depth_multiplier = 2}), BatchNormalization(),
                    ReLU({.max_value = 6.0}), Conv2D(4, 1), GlobalAveragePooling2D(),
                    Dense(10, {.activation = "softmax"})});
  model.compile(std::make_shared<Adam>(), "sparse_categorical_crossentropy", {"accuracy"});
  const std::int64_t n = 236, batch = 4;
  const TensorMap x{{model.input_names()[0], Tensor::uniform({n, 8, 8, 1}, 0.0, 1.0, 5)}};
  const TensorMap y{{model.output_names()[0], digits(n, 6)}};
  expect_steady_steps_wait_for_nothing(count_waits(model, x, y, batch, 1), 59, 1);
}

TEST(HostWaits, SteadyFitStepsOfATwoHeadedModelWaitForNothing) {
  auto model = small_two_headed();
  const std::int64_t n = 59 * 3;
  const Tensor labels = digits(n, 3);
  std::vector<float> odd;
  for (std::int32_t d : labels.to_vector<std::int32_t>()) odd.push_back(static_cast<float>(d % 2));
  std::vector<float> hot(static_cast<std::size_t>(n * 10), 0.0f);
  const std::vector<std::int32_t> l = labels.to_vector<std::int32_t>();
  for (std::size_t i = 0; i < l.size(); ++i) hot[i * 10 + static_cast<std::size_t>(l[i])] = 1.0f;
  const TensorMap x{{model->input_names()[0], Tensor::uniform({n, 6}, -1.0, 1.0, 4)}};
  const TensorMap y{{"digit", Tensor::from_vector(hot, {n, 10})},
                    {"flag", Tensor::from_vector(odd, {n, 1})}};
  expect_steady_steps_wait_for_nothing(count_waits(*model, x, y, 3, 1), 59, 1);
}

// fit's device-side sums against the per-step host path (train_step(...).to_host(), averaged in
// double on the host by batch size, as fit did before): the same weights bit for bit (same
// steps), the same epoch means (accuracy exactly; the loss to f32 accumulation, 1e-6).
TEST(HostWaits, DeviceSumsGiveThePerStepHostPathsNumbers) {
  const std::int64_t n = 90, batch = 8;
  auto by_fit = small_cnn();
  auto by_steps = small_cnn();
  const Tensor images = Tensor::uniform({n, 8, 8, 1}, 0.0, 1.0, 5);
  const Tensor labels = digits(n, 6);
  FitOptions options;
  options.batch_size = batch;
  options.shuffle = false;
  options.verbose = 0;
  const History history = by_fit->fit(images, labels, options);

  std::map<std::string, double> sums, counts;
  for (std::int64_t begin = 0; begin < n; begin += batch) {
    const std::int64_t end = std::min(n, begin + batch);
    const TensorMap x{{by_steps->input_names()[0], images.narrow(begin, end).clone()}};
    const TensorMap y{{by_steps->output_names()[0], labels.narrow(begin, end).clone()}};
    for (const auto& [key, value] : by_steps->train_step(x, y).to_host()) {
      sums[key] += value * static_cast<double>(end - begin);
      counts[key] += static_cast<double>(end - begin);
    }
  }
  EXPECT_NEAR(history.values.at("loss")[0], sums["loss"] / counts["loss"],
              1e-6 * std::abs(sums["loss"] / counts["loss"]));
  EXPECT_EQ(history.values.at("accuracy")[0], sums["accuracy"] / counts["accuracy"]);
  const auto a = by_fit->weights();
  const auto b = by_steps->weights();
  for (std::size_t i = 0; i < a.size(); ++i) {
    EXPECT_EQ(a[i]->value().to_vector<float>(), b[i]->value().to_vector<float>()) << a[i]->name();
  }
}

// Note [Gradient buffers]: one flat buffer, allocated at the first step and reused.
TEST(HostWaits, GradientsLiveInOneBufferReusedEveryStep) {
  auto model = small_cnn();
  const TensorMap x{{model->input_names()[0], Tensor::uniform({4, 8, 8, 1}, 0.0, 1.0, 7)}};
  const TensorMap y{{model->output_names()[0], digits(4, 8)}};
  model->train_step(x, y);
  std::vector<const void*> first;
  for (const auto& v : model->weights()) first.push_back(v->grad().raw_data());
  for (std::size_t i = 1; i < first.size(); ++i) {
    EXPECT_EQ(static_cast<const char*>(first[i]) - static_cast<const char*>(first[i - 1]),
              static_cast<std::ptrdiff_t>(model->weights()[i - 1]->value().nbytes()));
  }
  const MemoryStats before = memory_stats(Device::cpu());
  model->train_step(x, y);
  for (std::size_t i = 0; i < first.size(); ++i) {
    EXPECT_EQ(model->weights()[i]->grad().raw_data(), first[i]);
  }
  EXPECT_EQ(memory_stats(Device::cpu()).allocated, before.allocated);
}

// StepLogs carry a step's values to the host on request, and only then.
TEST(HostWaits, StepLogsCarryTheStepsValuesToTheHost) {
  auto model = small_cnn();
  const TensorMap x{{model->input_names()[0], Tensor::uniform({6, 8, 8, 1}, 0.0, 1.0, 9)}};
  const TensorMap y{{model->output_names()[0], digits(6, 10)}};
  const std::uint64_t before = cpu_waits();
  const StepLogs logs = model->train_step(x, y);
  EXPECT_EQ(cpu_waits(), before);  // nothing read yet
  const std::map<std::string, double> values = logs.to_host();
  EXPECT_EQ(cpu_waits(), before + 2);  // loss and accuracy
  EXPECT_GT(values.at("loss"), 0.0);
  const double accuracy = values.at("accuracy") * 6.0;
  EXPECT_EQ(accuracy, std::round(accuracy));  // a count of correct answers out of 6
  EXPECT_EQ(logs.entries.at("accuracy").count, 6.0);
}

// Sparse labels are checked once per fit / evaluate, before any step (a GPU's loss kernel cannot
// stop the program): the error names the call, the output, the first bad label and the range.
TEST(HostWaits, SparseLabelsAreCheckedBeforeTheFirstStep) {
  auto model = small_cnn();
  const Tensor images = Tensor::uniform({5, 8, 8, 1}, 0.0, 1.0, 11);
  const Tensor labels = Tensor::from_vector(std::vector<std::int32_t>{1, 9, 0, 10, 3}, {5});
  const std::vector<float> before = model->weights()[0]->value().to_vector<float>();
  const std::string output = model->output_names()[0];
  FitOptions options;
  options.verbose = 0;
  for (const std::string& call : {std::string("fit"), std::string("evaluate")}) {
    try {
      if (call == "fit")
        model->fit(images, labels, options);
      else
        model->evaluate(images, labels);
      ADD_FAILURE() << call << " accepted the label 10 for 10 classes";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(call + " (output '" + output +
                                           "'): its sparse labels[3] = 10 is out of range [0, 10)"),
                std::string::npos)
          << e.what();
    }
  }
  EXPECT_EQ(model->weights()[0]->value().to_vector<float>(), before);  // no step was taken
}

}  // namespace
}  // namespace kiln
