// Optimizer::apply and variables outside the loss (kiln/optimizers.h): Keras skips a variable whose
// gradient is None; kiln refuses it, and instead gives every variable fit trains a zeroed gradient,
// under which Adam and SGD leave a variable outside the loss where it is.
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "kiln/error.h"
#include "kiln/ops.h"
#include "kiln/optimizers.h"
#include "kiln/tape.h"

namespace kiln {
namespace {

std::shared_ptr<Variable> variable(const std::string& name, std::vector<float> values) {
  const auto size = static_cast<std::int64_t>(values.size());
  return std::make_shared<Variable>(name, Tensor::from_vector(values, {size}));
}

// One step of `optimizer` on loss = sum(used * used), with `unused` outside the loss; the
// gradients are zeroed first, as fit does (Note [Gradient buffers] in src/model/training.cpp).
void step(Optimizer& optimizer, const std::shared_ptr<Variable>& used,
          const std::shared_ptr<Variable>& unused) {
  const std::vector<std::shared_ptr<Variable>> variables{used, unused};
  for (const auto& v : variables) v->zero_grad();
  {
    GradientTape tape;
    tape.accumulate(sum(multiply(used->value(), used->value())), variables);
  }
  NoGrad no_grad;
  optimizer.apply(variables);
}

TEST(OptimizerApply, AVariableWithoutAGradientIsAnErrorAndNothingMoves) {
  const auto with_grad = variable("with_grad", {1.0f, 2.0f});
  with_grad->grad() = Tensor::from_vector(std::vector<float>{0.5f, -0.5f}, {2});
  const auto without = variable("without", {3.0f});
  Adam adam;
  try {
    adam.apply({with_grad, without});
    FAIL() << "apply accepted a variable without a gradient";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("variable 'without' has no gradient"), std::string::npos)
        << e.what();
  }
  EXPECT_EQ(with_grad->value().to_vector<float>(), (std::vector<float>{1.0f, 2.0f}));
  EXPECT_EQ(adam.iterations(), 0);
}

TEST(OptimizerApply, AZeroedGradientLeavesAVariableOutsideTheLossWhereItIs) {
  const std::vector<float> start{0.25f, -4.0f, 7.0f};
  for (const bool use_adam : {true, false}) {
    const auto used = variable("used", {1.0f, -2.0f});
    const auto unused = variable("unused", start);
    std::unique_ptr<Optimizer> optimizer;
    if (use_adam) {
      optimizer = std::make_unique<Adam>(AdamOptions{0.1});
    } else {
      optimizer = std::make_unique<SGD>(SGDOptions{.learning_rate = 0.1, .momentum = 0.9});
    }
    for (int i = 0; i < 3; ++i) step(*optimizer, used, unused);
    EXPECT_EQ(unused->value().to_vector<float>(), start) << optimizer->name();
    EXPECT_EQ(unused->grad().to_vector<float>(), std::vector<float>(3, 0.0f));
    // The variable in the loss moved toward 0: 3 steps of at most lr each (Adam), or less (SGD).
    const std::vector<float> moved = used->value().to_vector<float>();
    EXPECT_LT(moved[0], 1.0f) << optimizer->name();
    EXPECT_GT(moved[1], -2.0f) << optimizer->name();
  }
}

}  // namespace
}  // namespace kiln
