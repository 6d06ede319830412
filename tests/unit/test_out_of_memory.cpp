// Out of memory on the CPU: an allocation that cannot fit raises kiln::OutOfMemoryError naming the
// requested bytes and the layer being run (forward or backward pass); nothing is leaked and a
// model that fits runs afterwards. The same on a GPU: tests/cuda/test_cuda_allocator.cpp.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <functional>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "autograd/record.h"
#include "kiln/allocator.h"
#include "kiln/error.h"
#include "kiln/model.h"
#include "kiln/numerics.h"

namespace kiln {
namespace {

// 2^22 rows and columns of zeros around a 28x28 image: a 3x3 Conv2D with 8 filters then has a
// (26 + 2^23)^2 x 8 output per image, petabytes, while its kernel stays 72 numbers. Petabytes
// exceed every machine's address space (2^47 bytes), so the system refuses at once whatever its
// overcommit setting, and nothing is touched.
constexpr std::int64_t kHugePad = std::int64_t{1} << 22;
constexpr std::int64_t kBatch = 2;

std::size_t huge_output_bytes() {
  const auto side = static_cast<std::size_t>(26 + 2 * kHugePad);
  return static_cast<std::size_t>(kBatch) * side * side * 8 * sizeof(float);
}

std::unique_ptr<Sequential> impossible_model() {
  clear_session();
  return std::make_unique<Sequential>(std::vector<LayerRef>{
      InputLayer({28, 28, 1}),
      Conv2D(8, 3, {.padding = Padding::symmetric(kHugePad, kHugePad), .name = "too_big"})});
}

std::unique_ptr<Sequential> small_model() {
  clear_session();
  auto model = std::make_unique<Sequential>(
      std::vector<LayerRef>{InputLayer({28, 28, 1}), Conv2D(8, 3, {.activation = "relu"}),
                            Flatten(), Dense(10, {.activation = "softmax"})});
  model->compile(std::make_shared<Adam>(), "sparse_categorical_crossentropy");
  return model;
}

// One fit step on `n` images; returns the loss.
double train_one_step(Model& model, std::int64_t n) {
  const Tensor x = Tensor::uniform({n, 28, 28, 1}, 0.0, 1.0, 7);
  std::vector<std::int32_t> labels(static_cast<std::size_t>(n));
  for (std::size_t i = 0; i < labels.size(); ++i) labels[i] = static_cast<std::int32_t>(i % 10);
  FitOptions options;
  options.batch_size = n;
  options.verbose = 0;
  const History history = model.fit(x, Tensor::from_vector(labels, {n}), options);
  return history.values.at("loss").at(0);
}

TEST(OutOfMemory, ForwardPassNamesLayerAndRequestedBytes) {
  auto model = impossible_model();
  EXPECT_EQ(model->count_params(), 3 * 3 * 8 + 8);  // the kernel itself is small
  const Tensor x = Tensor::zeros({kBatch, 28, 28, 1});
  const std::size_t allocated_before = memory_stats(Device::cpu()).allocated;
  try {
    model->call(x);
    FAIL() << "a " << huge_output_bytes() << "-byte output was allocated";
  } catch (const OutOfMemoryError& e) {
    const std::string message = e.what();
    EXPECT_EQ(e.requested_bytes(), huge_output_bytes());
    EXPECT_EQ(e.layer(), "too_big");
    EXPECT_NE(message.find("out of memory on cpu: tried to allocate " +
                           std::to_string(huge_output_bytes()) + " bytes"),
              std::string::npos)
        << message;
    EXPECT_NE(message.find("are allocated and"), std::string::npos) << message;
    EXPECT_NE(message.find("reserved by kiln"), std::string::npos) << message;
    EXPECT_NE(message.find("while running the forward pass of layer 'too_big' (Conv2D)"),
              std::string::npos)
        << message;
  }
  EXPECT_EQ(memory_stats(Device::cpu()).allocated, allocated_before);
}

TEST(OutOfMemory, IsAKilnErrorSoOldHandlersStillCatchIt) {
  auto model = impossible_model();
  EXPECT_THROW(model->call(Tensor::zeros({kBatch, 28, 28, 1})), Error);
}

TEST(OutOfMemory, ProcessCarriesOnWithAModelThatFits) {
  {
    auto model = impossible_model();
    EXPECT_THROW(model->call(Tensor::zeros({kBatch, 28, 28, 1})), OutOfMemoryError);
  }
  const std::size_t allocated_before = memory_stats(Device::cpu()).allocated;
  {
    auto model = small_model();
    EXPECT_TRUE(std::isfinite(train_one_step(*model, 4)));
  }
  EXPECT_EQ(memory_stats(Device::cpu()).allocated, allocated_before);
}

// A layer whose forward pass copies its input and whose backward pass is `backward` (d output ->
// d input): a stand-in for a layer that needs much more memory going back than going forward.
class CustomBackward final : public Layer {
 public:
  using Step = std::function<Tensor(const Tensor&)>;
  CustomBackward(const std::string& name, Step backward)
      : Layer("custom_backward", name), backward_(std::move(backward)) {}
  std::string type() const override { return "CustomBackward"; }
  Shape output_shape(const std::vector<Shape>& inputs) const override { return inputs.at(0); }
  std::string config_json() const override { return "{}"; }

 protected:
  Tensor forward(const std::vector<Tensor>& inputs, bool) override {
    Tensor y = inputs[0].clone();
    Step step = backward_;
    autograd::record("custom_backward", {inputs[0]}, y,
                     [step](const Tensor& dy, const std::vector<bool>&) {
                       return std::vector<Tensor>{step(dy)};
                     });
    return y;
  }

 private:
  Step backward_;
};

std::unique_ptr<Sequential> model_with_backward(const CustomBackward::Step& backward) {
  clear_session();
  return std::make_unique<Sequential>(
      std::vector<LayerRef>{InputLayer({4}), Dense(3),
                            LayerRef(std::make_shared<CustomBackward>("hog", backward)), Dense(2)});
}

// Forward and backward through `model` on a (5, 4) batch: d sum(output) / d weights.
void forward_and_backward(Model& model) {
  GradientTape tape;
  const Tensor loss = sum(model.call(Tensor::full({5, 4}, 0.5), true));
  std::vector<Tensor> sources;
  for (const auto& weight : model.weights()) sources.push_back(weight->value());
  tape.gradient(loss, sources);
}

TEST(OutOfMemory, BackwardPassNamesLayer) {
  const std::size_t huge = std::size_t{1} << 50;
  auto model = model_with_backward([huge](const Tensor& dy) {
    Tensor workspace = Tensor::empty({static_cast<std::int64_t>(huge)}, DType::u8);
    return dy;
  });
  const std::size_t allocated_before = memory_stats(Device::cpu()).allocated;
  try {
    forward_and_backward(*model);
    FAIL() << "a " << huge << "-byte workspace was allocated";
  } catch (const OutOfMemoryError& e) {
    const std::string message = e.what();
    EXPECT_EQ(e.requested_bytes(), huge);
    EXPECT_EQ(e.layer(), "hog");
    EXPECT_NE(message.find(std::to_string(huge) + " bytes"), std::string::npos) << message;
    EXPECT_NE(message.find("while running the backward pass of layer 'hog' (CustomBackward)"),
              std::string::npos)
        << message;
  }
  EXPECT_EQ(memory_stats(Device::cpu()).allocated, allocated_before);
}

// Turns the non-finite guard on for a scope.
class CheckNumerics {
 public:
  CheckNumerics() { set_check_numerics(true); }
  ~CheckNumerics() { set_check_numerics(false); }
  CheckNumerics(const CheckNumerics&) = delete;
  CheckNumerics& operator=(const CheckNumerics&) = delete;
};

TEST(LayerScope, CheckNumericsNamesLayerInBackwardPass) {
  auto model = model_with_backward(
      [](const Tensor& dy) { return scale(dy, std::numeric_limits<double>::quiet_NaN()); });
  const CheckNumerics guard;
  try {
    forward_and_backward(*model);
    ADD_FAILURE() << "expected the guard to stop in the backward pass of 'hog'";
  } catch (const Error& e) {
    const std::string message = e.what();
    EXPECT_NE(message.find("op 'scale' in layer 'hog' produced 15 non-finite value(s)"),
              std::string::npos)
        << message;
  }
}

TEST(OutOfMemory, OpsOutsideLayersNameNoLayer) {
  try {
    Tensor huge = Tensor::empty({std::int64_t{1} << 50}, DType::u8);
    FAIL() << "a 2^50-byte tensor was allocated";
  } catch (const OutOfMemoryError& e) {
    EXPECT_EQ(e.layer(), "");
    EXPECT_EQ(std::string(e.what()).find("while running"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace kiln
