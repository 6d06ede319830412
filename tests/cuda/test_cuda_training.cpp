// Whole training runs on cuda:0 against the CPU, through the public Model API: Model::fit of a
// small Conv/Dense model, of a Dense-only one (cuBLASLt's fused path) and of a Conv-only one
// (cuDNN's graph API path), five Adam steps of the
// seed model, and the two-headed odd/even model
// (fit, evaluate, predict). The same weights go into both, TF32 is off, and after the steps the
// gradients of the last step must agree to 1e-5 relative (DESIGN.md's fp32 tolerance), the
// weights to kAdamWeightTolerance (Note [Adam amplifies rounding]), and the logged losses and
// accuracies too. The first of these is the test that GPU training could not pass before
// Tensor::item() copied to the host before converting to float64 (the CUDA backend has no
// float64 kernels).
//
// Note [Adam amplifies rounding]
// ~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~
// Adam moves each weight by lr * m / (sqrt(v) + eps): per element, the gradient divided by its
// own magnitude. Where an element's gradient is itself tiny — a sum that nearly cancels, near
// eps = 1e-7 — a rounding difference of a few ulps between two correct fp32 computations becomes
// a difference of a sizeable fraction of lr in that weight's step. Measured on the seed model,
// batch 8, CUDA emulation (cuBLAS / cuDNN stand-ins accumulate in double) against the CPU
// (OpenBLAS, float): every gradient agrees to <= 8e-7 at steps 1 and 5 (the CPU against itself
// with 1 and 2 threads: <= 7e-7), while the weights after the first Adam step differ by up to
// 1.0e-5 and after five by 1.4e-5 (dense/kernel, max-norm relative). So gradients are held to
// 1e-5 and weights after Adam to 5e-5.
// Measured again for issue 17 (DESIGN.md's 1e-5 against this 5e-5), every test of this file on
// the emulated build of 8375ddc, thread order forward and reverse (KILN_CUDA_NO_CACHE=1), the
// same in both: weights after Adam at most 1.37e-5 (seed model, five steps) and 1.18e-5 (the
// two-headed model's num_out/kernel after its fit); the fits of the small Conv/Dense, Dense-only
// and Conv-only models stay under 3.3e-7; gradients at most 9.0e-7. 1e-5 would fail the first
// two on rounding alone, so 5e-5 stays: 3.6 times the largest measured error.
#include <memory>
#include <string>
#include <vector>

#include "cuda_test_util.h"
#include "kiln/model.h"

namespace kiln::cuda_test {
namespace {

constexpr double kGradientTolerance = 1e-5;
constexpr double kAdamWeightTolerance = 5e-5;  // Note [Adam amplifies rounding]

// The same model twice, with the same weights: one on the CPU, one moved to cuda:0.
template <class M>
struct Twins {
  std::unique_ptr<M> cpu, cuda;
};

template <class Make>
auto twins(Make make) {
  clear_session();
  Twins<typename decltype(make())::element_type> t{make(), nullptr};
  clear_session();
  t.cuda = make();
  const auto source = t.cpu->weights();
  const auto target = t.cuda->weights();
  for (std::size_t i = 0; i < source.size(); ++i) target[i]->value().copy_from(source[i]->value());
  t.cuda->to(cuda0());
  return t;
}

// The weights after training, and the gradients of the last step (which the variables keep).
void expect_same_weights(const Model& on_cuda, const Model& on_cpu) {
  const auto gpu_weights = on_cuda.weights();
  const auto cpu_weights = on_cpu.weights();
  ASSERT_EQ(gpu_weights.size(), cpu_weights.size());
  for (std::size_t i = 0; i < gpu_weights.size(); ++i) {
    EXPECT_EQ(gpu_weights[i]->value().device(), cuda0()) << gpu_weights[i]->name();
    ASSERT_TRUE(gpu_weights[i]->grad().defined()) << gpu_weights[i]->name();
    EXPECT_CLOSE(gpu_weights[i]->grad(), cpu_weights[i]->grad(), kGradientTolerance)
        << "gradient of " << gpu_weights[i]->name();
    EXPECT_CLOSE(gpu_weights[i]->value(), cpu_weights[i]->value(), kAdamWeightTolerance)
        << gpu_weights[i]->name();
  }
}

void expect_same_history(const History& on_cuda, const History& on_cpu) {
  EXPECT_EQ(on_cuda.keys, on_cpu.keys);
  for (const std::string& key : on_cpu.keys) {
    const std::vector<double>& expected = on_cpu.values.at(key);
    const std::vector<double>& actual = on_cuda.values.at(key);
    ASSERT_EQ(actual.size(), expected.size()) << key;
    for (std::size_t i = 0; i < actual.size(); ++i) {
      EXPECT_NEAR(actual[i], expected[i], 1e-5 * std::max(1.0, std::abs(expected[i]))) << key;
    }
  }
}

// Two quiet epochs of `batch_size`, shuffled with `seed`.
FitOptions two_epochs(std::int64_t batch_size, std::uint64_t seed) {
  FitOptions options;
  options.batch_size = batch_size;
  options.epochs = 2;
  options.verbose = 0;
  options.seed = seed;
  return options;
}

// Compiles both twins for sparse classification, fits them on (x, y) and expects the CUDA run's
// history, weights, gradients and predictions to agree with the CPU's.
template <class M>
void fit_both_and_compare(const Twins<M>& t, const Tensor& x, const Tensor& y,
                          const FitOptions& options) {
  for (Model* model : {static_cast<Model*>(t.cpu.get()), static_cast<Model*>(t.cuda.get())}) {
    model->compile(std::make_shared<Adam>(), "sparse_categorical_crossentropy", {"accuracy"});
  }
  const History cpu_history = t.cpu->fit(x, y, options);
  const History cuda_history = t.cuda->fit(x, y, options);
  expect_same_history(cuda_history, cpu_history);
  expect_same_weights(*t.cuda, *t.cpu);
  EXPECT_CLOSE(t.cuda->predict(x, 32), t.cpu->predict(x, 32), kGradientTolerance);
}

std::unique_ptr<Sequential> tiny_conv_model() {
  auto model = std::make_unique<Sequential>(std::vector<LayerRef>{
      InputLayer({10, 10, 1}), Conv2D(6, 3, {.activation = "relu"}), MaxPooling2D(2), Flatten(),
      Dense(16, {.activation = "tanh"}), Dense(10, {.activation = "softmax"})});
  return model;
}

Tensor labels(std::int64_t n, std::int64_t classes, std::uint64_t seed) {
  std::vector<std::int32_t> values(static_cast<std::size_t>(n));
  const std::vector<float> u = random({n}, seed, 0.0, 1.0).to_vector<float>();
  for (std::size_t i = 0; i < values.size(); ++i) {
    values[i] = static_cast<std::int32_t>(u[i] * static_cast<float>(classes)) %
                static_cast<std::int32_t>(classes);
  }
  return Tensor::from_vector(values, {n});
}

TEST(CudaTraining, FitOfATinyConvDenseModelMatchesTheCpu) {
  KILN_SKIP_WITHOUT_GPU();
  const Tf32Scope strict(false);
  auto [on_cpu, on_cuda] = twins(tiny_conv_model);
  for (Model* model : {static_cast<Model*>(on_cpu.get()), static_cast<Model*>(on_cuda.get())}) {
    model->compile(std::make_shared<Adam>(), "sparse_categorical_crossentropy", {"accuracy"});
  }
  const Tensor x = random({80, 10, 10, 1}, 90, 0.0, 1.0);
  const Tensor y = labels(80, 10, 91);
  FitOptions options;
  options.batch_size = 16;  // five steps
  options.verbose = 0;
  options.seed = 7;
  const History cpu_history = on_cpu->fit(x, y, options);
  const History cuda_history = on_cuda->fit(x, y, options);
  expect_same_history(cuda_history, cpu_history);
  expect_same_weights(*on_cuda, *on_cpu);

  const auto cpu_eval = on_cpu->evaluate(x, y, 32);
  const auto cuda_eval = on_cuda->evaluate(x, y, 32);
  EXPECT_NEAR(cuda_eval.at("loss"), cpu_eval.at("loss"), 1e-5 * cpu_eval.at("loss"));
  EXPECT_EQ(cuda_eval.at("accuracy"), cpu_eval.at("accuracy"));
  EXPECT_CLOSE(on_cuda->predict(x, 32), on_cpu->predict(x, 32), kGradientTolerance);
}

// Dense layers with ReLU, none (with and without a bias) and tanh: on cuda:0 the first three run
// through cuBLASLt's epilogues (Note [Dense through cuBLASLt] in cuda/cublaslt_dense.cpp), tanh
// and the softmax head's GEMM take the composed path — and training agrees with the CPU.
std::unique_ptr<Sequential> dense_model() {
  return std::make_unique<Sequential>(std::vector<LayerRef>{
      InputLayer({13}), Dense(24, {.activation = "relu"}), Dense(17, {.use_bias = false}),
      Dense(9, {.activation = "relu", .use_bias = false}), Dense(11),
      Dense(6, {.activation = "tanh"}), Dense(5, {.activation = "softmax"})});
}

TEST(CudaTraining, FitOfADenseModelThroughCublasLtMatchesTheCpu) {
  KILN_SKIP_WITHOUT_GPU();
  const Tf32Scope strict(false);
  const cuda::CublasLtStats before = cuda::cublaslt_stats();
  // Four full steps and a partial one of 11 per epoch.
  fit_both_and_compare(twins(dense_model), random({75, 13}, 93), labels(75, 5, 94),
                       two_epochs(16, 5));
  EXPECT_GT(cuda::cublaslt_stats().matmuls, before.matmuls);
}

// Conv2D layers with ReLU and none, with and without a bias, Keras 'same' padding that is
// asymmetric (even kernels, stride 2) and tanh: on cuda:0 all but tanh run the convolution with
// its bias and ReLU in one cuDNN graph API call (Note [Fused convolution plans] in
// cuda/cudnn_graph_conv.cpp), with no padded copy of the input — and training, with a partial
// last batch, agrees with the CPU.
std::unique_ptr<Sequential> fused_conv_model() {
  return std::make_unique<Sequential>(std::vector<LayerRef>{
      InputLayer({9, 9, 2}),
      Conv2D(5, 2, {.strides = 2, .padding = Padding::same(), .activation = "relu"}),
      Conv2D(4, 3, {.padding = Padding::same(), .use_bias = false}),
      Conv2D(6, 2, {.padding = Padding::same(), .activation = "relu", .use_bias = false}),
      Conv2D(3, 3, {.strides = 2, .padding = Padding::same()}),
      Conv2D(4, 1, {.activation = "tanh"}), Flatten(), Dense(4, {.activation = "softmax"})});
}

TEST(CudaTraining, FitOfAConvModelThroughTheCudnnGraphApiMatchesTheCpu) {
  KILN_SKIP_WITHOUT_GPU();
  const Tf32Scope strict(false);
  const cuda::CudnnGraphStats before = cuda::cudnn_graph_stats();
  // Three full steps and a partial one of 3 per epoch.
  fit_both_and_compare(twins(fused_conv_model), random({27, 9, 9, 2}, 95), labels(27, 4, 96),
                       two_epochs(8, 3));
  const cuda::CudnnGraphStats after = cuda::cudnn_graph_stats();
  // Four fused layers; the steady steps replay a captured CUDA graph (Note [Captured steps] in
  // src/model/step_graph.cpp), which the counter sees once, at the capture.
  EXPECT_GE(after.executions, before.executions + 4 * 3);
  EXPECT_EQ(after.plans_refused, before.plans_refused);
}

TEST(CudaTraining, SeedModelFiveAdamStepsMatchTheCpu) {
  KILN_SKIP_WITHOUT_GPU();
  const Tf32Scope strict(false);
  auto [on_cpu, on_cuda] = twins([] { return seed_model(); });
  for (Model* model : {static_cast<Model*>(on_cpu.get()), static_cast<Model*>(on_cuda.get())}) {
    model->compile(std::make_shared<Adam>(), "sparse_categorical_crossentropy");
  }
  const std::int64_t batch = gpu_or_emulated(64, 8);
  for (std::uint64_t step = 0; step < 5; ++step) {
    const TensorMap x{{on_cpu->input_names()[0], random({batch, 28, 28, 1}, 92 + step, 0.0, 1.0)}};
    const TensorMap y{{on_cpu->output_names()[0], labels(batch, 10, 97 + step)}};
    const auto cpu_logs = on_cpu->train_step(x, y).to_host();
    const auto cuda_logs = on_cuda->train_step(x, y).to_host();
    EXPECT_NEAR(cuda_logs.at("loss"), cpu_logs.at("loss"), 1e-5 * cpu_logs.at("loss"))
        << "step " << step;
  }
  expect_same_weights(*on_cuda, *on_cpu);
}

TEST(CudaTraining, TwoHeadedModelFitsEvaluatesAndPredictsAsOnTheCpu) {
  KILN_SKIP_WITHOUT_GPU();
  const Tf32Scope strict(false);
  auto [on_cpu, on_cuda] = twins(odd_even_model);
  CompileOptions options;
  options.optimizer = std::make_shared<Adam>();
  options.loss = {{"num_out", "sparse_categorical_crossentropy"},
                  {"odd_out", "binary_crossentropy"}};
  options.loss_weights = {{"num_out", 1.0}, {"odd_out", 0.5}};
  options.metrics = {{"", {"accuracy"}}};
  on_cpu->compile(options);
  options.optimizer = std::make_shared<Adam>();
  on_cuda->compile(options);
  const std::int64_t n = gpu_or_emulated(64, 16);
  const Tensor digits = labels(n, 10, 110);
  std::vector<float> odd;
  for (std::int32_t d : digits.to_vector<std::int32_t>()) odd.push_back(static_cast<float>(d % 2));
  const TensorMap x{{on_cpu->input_names()[0], random({n, 28, 28, 1}, 111, 0.0, 1.0)}};
  const TensorMap y{{"num_out", digits}, {"odd_out", Tensor::from_vector(odd, {n, 1})}};
  FitOptions fit;
  fit.batch_size = n / 2;
  fit.verbose = 0;
  fit.seed = 3;
  expect_same_history(on_cuda->fit(x, y, fit), on_cpu->fit(x, y, fit));
  expect_same_weights(*on_cuda, *on_cpu);
  const auto cpu_eval = on_cpu->evaluate(x, y, 8);
  const auto cuda_eval = on_cuda->evaluate(x, y, 8);
  for (const auto& [key, value] : cpu_eval) {
    EXPECT_NEAR(cuda_eval.at(key), value, 1e-5 * std::max(1.0, std::abs(value))) << key;
  }
  const TensorMap cpu_pred = on_cpu->predict(x, 8);
  const TensorMap cuda_pred = on_cuda->predict(x, 8);
  for (const auto& [name, value] : cpu_pred) EXPECT_CLOSE(cuda_pred.at(name), value, 1e-5) << name;
}

}  // namespace
}  // namespace kiln::cuda_test
