// Captured training steps on cuda:0 (Note [Captured steps] in src/model/step_graph.cpp): fit
// with CUDA graphs against fit without, from the same weights — the same weights after every
// step replayed (Adam's bias correction advancing on the device), the same logs, no host wait in
// a steady step, the graph's private pool given back (Note [Graph pools] in
// cuda/caching_allocator.cpp), and every way capture is turned off or fails.
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "cuda_test_util.h"
#include "kiln/layers.h"
#include "kiln/model.h"

namespace kiln::cuda_test {
namespace {

// 1e-6 relative, the bar; on the emulation the two runs are the same kernels on the
// same numbers, so they agree exactly.
constexpr double kCapturedTolerance = 1e-6;

std::uint64_t replays() { return sync_stats(cuda0()).graph_replays; }
std::uint64_t waits() { return sync_stats(cuda0()).waits; }

std::unique_ptr<Sequential> small_cnn(std::vector<LayerRef> extra = {}) {
  clear_session();
  std::vector<LayerRef> layers{InputLayer({8, 8, 1}), Conv2D(4, 3, {.activation = "relu"}),
                               MaxPooling2D(2), Flatten()};
  for (LayerRef& layer : extra) layers.push_back(layer);
  layers.push_back(Dense(10, {.activation = "softmax"}));
  auto model = std::make_unique<Sequential>(layers);
  model->to(cuda0());
  return model;
}

struct Data {
  Tensor x, y;
};

Data digits(std::int64_t n, std::uint64_t seed) {
  std::vector<std::int32_t> labels(static_cast<std::size_t>(n));
  const std::vector<float> u = random({n}, seed, 0.0, 1.0).to_vector<float>();
  for (std::size_t i = 0; i < labels.size(); ++i)
    labels[i] = static_cast<std::int32_t>(u[i] * 10) % 10;
  return {random({n, 8, 8, 1}, seed + 1, 0.0, 1.0), Tensor::from_vector(labels, {n})};
}

struct FitRun {
  History history;
  std::uint64_t replays = 0;
  std::vector<std::uint64_t> waits_after_step;
};

FitRun fit(Model& model, const Data& data, std::int64_t batch, bool graphs, int epochs = 1) {
  FitOptions options;
  options.batch_size = batch;
  options.epochs = epochs;
  options.verbose = 0;
  options.cuda_graphs = graphs;
  FitRun run;
  options.on_batch_end = [&](int, std::int64_t) { run.waits_after_step.push_back(waits()); };
  const std::uint64_t before = replays();
  run.history = model.fit(data.x, data.y, options);
  run.replays = replays() - before;
  return run;
}

void compile_adam(Model& model) {
  model.compile(std::make_shared<Adam>(), "sparse_categorical_crossentropy", {"accuracy"});
}

void expect_same_weights(const Model& a, const Model& b, double tolerance) {
  const auto wa = a.weights();
  const auto wb = b.weights();
  ASSERT_EQ(wa.size(), wb.size());
  for (std::size_t i = 0; i < wa.size(); ++i) {
    EXPECT_CLOSE(wa[i]->value(), wb[i]->value(), tolerance) << wa[i]->name();
  }
}

void expect_same_history(const History& a, const History& b) {
  ASSERT_EQ(a.keys, b.keys);
  for (const std::string& key : a.keys) {
    ASSERT_EQ(a.values.at(key).size(), b.values.at(key).size()) << key;
    for (std::size_t i = 0; i < a.values.at(key).size(); ++i) {
      EXPECT_NEAR(a.values.at(key)[i], b.values.at(key)[i], 1e-6) << key << " epoch " << i;
    }
  }
}

// 20 full batches and a partial one per epoch, two epochs: the first full batch is the warm-up,
// the second is captured, the other 18 and all 20 of the second epoch replay it; each partial
// batch runs eagerly. Replays must advance Adam's t on the device — with a frozen t the bias
// correction of step 2 would repeat and the weights part from the eager run's at once.
TEST(CudaGraphs, CapturedStepsGiveTheEagerRunsWeights) {
  KILN_SKIP_WITHOUT_GPU();
  Tf32Scope exact(false);
  const Data data = digits(20 * 8 + 3, 1);
  auto captured = small_cnn();
  auto eager = small_cnn();
  compile_adam(*captured);
  compile_adam(*eager);
  const FitRun with = fit(*captured, data, 8, true, 2);
  const FitRun without = fit(*eager, data, 8, false, 2);
  EXPECT_EQ(with.replays, 19u + 20u);
  EXPECT_EQ(without.replays, 0u);
  EXPECT_EQ(captured->optimizer().iterations(), 42);
  EXPECT_EQ(eager->optimizer().iterations(), 42);
  expect_same_weights(*captured, *eager, kCapturedTolerance);
  expect_same_history(with.history, without.history);
  // The host's step count and the device's agree: an eager step after the fit stays in step.
  const TensorMap x{{captured->input_names()[0], data.x.narrow(0, 8).to(cuda0())}};
  const TensorMap y{{captured->output_names()[0], data.y.narrow(0, 8).to(cuda0())}};
  captured->train_step(x, y);
  eager->train_step(x, y);
  expect_same_weights(*captured, *eager, kCapturedTolerance);
}

// BatchNormalization moves its statistics inside the step: the replays move them as the eager
// steps do (weights() includes the moving mean and variance).
TEST(CudaGraphs, ReplaysMoveBatchNormalizationsStatistics) {
  KILN_SKIP_WITHOUT_GPU();
  Tf32Scope exact(false);
  const Data data = digits(6 * 8, 7);
  auto captured = small_cnn({BatchNormalization()});
  auto eager = small_cnn({BatchNormalization()});
  compile_adam(*captured);
  compile_adam(*eager);
  EXPECT_EQ(fit(*captured, data, 8, true).replays, 5u);
  fit(*eager, data, 8, false);
  expect_same_weights(*captured, *eager, kCapturedTolerance);
}

// The sync counter on CUDA: after the first step (which may benchmark the convolution), no step
// waits for the device, captured or not — the partial batch included (its algorithms are adopted,
// Note [Choosing algorithms]). The one wait of the epoch is the read of its metrics.
TEST(CudaGraphs, SteadyStepsWaitForNothing) {
  KILN_SKIP_WITHOUT_GPU();
  const Data data = digits(10 * 8 + 5, 2);
  for (const bool graphs : {true, false}) {
    auto model = small_cnn();
    compile_adam(*model);
    const std::uint64_t before = waits();
    const FitRun run = fit(*model, data, 8, graphs);
    ASSERT_EQ(run.waits_after_step.size(), 11u);
    for (std::size_t i = 1; i < run.waits_after_step.size(); ++i) {
      EXPECT_EQ(run.waits_after_step[i], run.waits_after_step[i - 1])
          << "step " << i + 1 << (graphs ? " (graphs)" : " (eager)");
    }
    EXPECT_EQ(waits() - run.waits_after_step.back(), 1u) << "the epoch's one read";
    EXPECT_LE(run.waits_after_step.front() - before, 3u);  // at most the convolution's Finds
  }
}

// Once the graph goes (at the end of fit), its private pool goes too: what fit leaves allocated
// (the gradient buffer, Adam's slots, its step and rate) is the same with graphs as without.
TEST(CudaGraphs, TheGraphsPoolIsGivenBackAfterFit) {
  KILN_SKIP_WITHOUT_GPU();
  const Data data = digits(6 * 8, 3);
  std::vector<std::size_t> left;
  for (const bool graphs : {true, false}) {
    auto model = small_cnn();
    compile_adam(*model);
    const std::size_t before = memory_stats(cuda0()).allocated;
    EXPECT_EQ(fit(*model, data, 8, graphs).replays, graphs ? 5u : 0u);
    left.push_back(memory_stats(cuda0()).allocated - before);
  }
  EXPECT_EQ(left[0], left[1]);
  EXPECT_GT(left[0], 0u);
}

TEST(CudaGraphs, TheEnvironmentTurnsThemOff) {
  KILN_SKIP_WITHOUT_GPU();
  const Data data = digits(4 * 8, 4);
  auto model = small_cnn();
  compile_adam(*model);
  ::setenv("KILN_CUDA_GRAPHS", "0", 1);
  const FitRun run = fit(*model, data, 8, true);
  ::unsetenv("KILN_CUDA_GRAPHS");
  EXPECT_EQ(run.replays, 0u);
  EXPECT_EQ(fit(*model, data, 8, true).replays, 3u);
}

// Steps that read host values, or draw new random numbers, every step run eagerly, silently.
TEST(CudaGraphs, OptimizersAndLayersThatChangePerStepOnTheHostRunEagerly) {
  KILN_SKIP_WITHOUT_GPU();
  const Data data = digits(4 * 8, 5);
  auto with_sgd = small_cnn();
  with_sgd->compile(std::make_shared<SGD>(), "sparse_categorical_crossentropy", {"accuracy"});
  auto with_dropout = small_cnn({Dropout(0.25)});
  compile_adam(*with_dropout);
  testing::internal::CaptureStderr();
  EXPECT_EQ(fit(*with_sgd, data, 8, true).replays, 0u);
  EXPECT_EQ(fit(*with_dropout, data, 8, true).replays, 0u);
  EXPECT_EQ(testing::internal::GetCapturedStderr(), "");
}

// A layer that reads its input back on the host: a wait the capture cannot record.
class HostPeek final : public Layer {
 public:
  HostPeek() : Layer("host_peek", "") {}
  std::string type() const override { return "HostPeek"; }
  Shape output_shape(const std::vector<Shape>& inputs) const override { return inputs[0]; }
  std::string config_json() const override { return "{}"; }
  double last_sum = 0;

 private:
  Tensor forward(const std::vector<Tensor>& inputs, bool /*training*/) override {
    last_sum = 0;
    for (float v : inputs[0].to_vector<float>()) last_sum += v;
    return inputs[0];
  }
};

// The capture fails on the host read; fit says so once, names the reason, and goes on eagerly
// with the weights the eager run gets (the optimizer forgot the update counted while capturing).
TEST(CudaGraphs, ACaptureThatFailsFallsBackToEagerStepsWithOneWarning) {
  KILN_SKIP_WITHOUT_GPU();
  Tf32Scope exact(false);
  const Data data = digits(5 * 8, 6);
  auto captured = small_cnn({LayerRef(std::make_shared<HostPeek>())});
  auto eager = small_cnn({LayerRef(std::make_shared<HostPeek>())});
  compile_adam(*captured);
  compile_adam(*eager);
  testing::internal::CaptureStderr();
  const FitRun with = fit(*captured, data, 8, true);
  const std::string warnings = testing::internal::GetCapturedStderr();
  const FitRun without = fit(*eager, data, 8, false);
  EXPECT_EQ(with.replays, 0u);
  const std::string warning = "kiln: warning: could not capture the training step";
  const std::size_t at = warnings.find(warning);
  EXPECT_NE(at, std::string::npos) << warnings;
  EXPECT_EQ(warnings.find(warning, at + 1), std::string::npos) << "more than one warning";
  EXPECT_EQ(captured->optimizer().iterations(), 5);
  expect_same_weights(*captured, *eager, kCapturedTolerance);
  expect_same_history(with.history, without.history);
}

}  // namespace
}  // namespace kiln::cuda_test
