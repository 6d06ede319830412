// Tape semantics: reuse adds up, NoGrad records nothing, unrelated sources get zeros, one use.
#include <gtest/gtest.h>

#include "kiln/error.h"
#include "kiln/ops.h"
#include "kiln/tape.h"

namespace kiln {
namespace {

TEST(Tape, ValueUsedTwiceAddsGradients) {
  const Tensor x = Tensor::from_vector<double>({1.0, -2.0, 3.0}, {3});
  GradientTape tape;
  const Tensor y = sum(add(scale(x, 3.0), scale(x, 4.0)));  // 7 * sum(x)
  const auto g = tape.gradient(y, {x});
  EXPECT_EQ(g[0].to_vector<double>(), (std::vector<double>{7.0, 7.0, 7.0}));
}

TEST(Tape, NoGradRecordsNothing) {
  const Tensor x = Tensor::from_vector<double>({1.0, 2.0}, {2});
  GradientTape tape;
  {
    NoGrad guard;
    (void)scale(x, 2.0);
  }
  EXPECT_EQ(tape.size(), 0u);
  (void)scale(x, 2.0);
  EXPECT_EQ(tape.size(), 1u);
}

TEST(Tape, UnrelatedSourceGetsZerosAndTapeIsSingleUse) {
  const Tensor x = Tensor::from_vector<double>({1.0, 2.0}, {2});
  const Tensor z = Tensor::from_vector<double>({5.0}, {1});
  GradientTape tape;
  const Tensor y = sum(x);
  const auto g = tape.gradient(y, {x, z});
  EXPECT_EQ(g[1].to_vector<double>(), (std::vector<double>{0.0}));
  EXPECT_THROW(tape.gradient(y, {x}), Error);
}

TEST(Tape, NonScalarTargetNeedsSeed) {
  const Tensor x = Tensor::from_vector<double>({1.0, 2.0}, {2});
  GradientTape tape;
  const Tensor y = scale(x, 2.0);
  EXPECT_THROW(tape.gradient(y, {x}), Error);
}

TEST(Tape, AccumulateAddsIntoVariables) {
  auto v = std::make_shared<Variable>("w", Tensor::from_vector<double>({1.0, 2.0}, {2}));
  for (int i = 0; i < 2; ++i) {
    GradientTape tape;
    tape.accumulate(sum(scale(v->value(), 3.0)), {v});
  }
  EXPECT_EQ(v->grad().to_vector<double>(), (std::vector<double>{6.0, 6.0}));
  v->zero_grad();
  EXPECT_EQ(v->grad().to_vector<double>(), (std::vector<double>{0.0, 0.0}));
}

TEST(Tape, NestedTapeRecordsInnermostOnly) {
  const Tensor x = Tensor::from_vector<double>({2.0}, {1});
  GradientTape outer;
  {
    GradientTape inner;
    (void)scale(x, 2.0);
    EXPECT_EQ(inner.size(), 1u);
  }
  EXPECT_EQ(outer.size(), 0u);
}

}  // namespace
}  // namespace kiln
