// Ops against the naive references (tests/unit/reference.h) through the public API, including
// Keras's 'same' padding arithmetic, and the argument errors each op raises.
#include <gtest/gtest.h>

#include "kiln/error.h"
#include "kiln/ops.h"
#include "kiln/tape.h"
#include "reference.h"

namespace kiln {
namespace {

std::vector<double> values(const Tensor& t) { return t.astype(DType::f64).to_vector<double>(); }

void expect_near_all(const std::vector<double>& got, const std::vector<double>& want, double tol) {
  ASSERT_EQ(got.size(), want.size());
  for (std::size_t i = 0; i < got.size(); ++i) {
    ASSERT_NEAR(got[i], want[i], tol * (1.0 + std::abs(want[i]))) << "element " << i;
  }
}

TEST(Ops, WindowAxisFollowsKerasSame) {
  // TensorFlow: out = ceil(in / stride); total pad = max((out-1)*s + k - in, 0); top = total / 2.
  const WindowAxis a = window_axis(5, 3, 2, Padding::same(), true);
  EXPECT_EQ(a.output, 3);
  EXPECT_EQ(a.pad_before, 1);
  EXPECT_EQ(a.pad_after, 1);
  const WindowAxis b = window_axis(6, 3, 2, Padding::same(), true);
  EXPECT_EQ(b.output, 3);
  EXPECT_EQ(b.pad_before, 0);
  EXPECT_EQ(b.pad_after, 1);
  EXPECT_EQ(window_axis(28, 3, 1, Padding::valid(), true).output, 26);
  EXPECT_EQ(window_axis(11, 2, 2, Padding::valid(), true).output, 5);
}

TEST(Ops, Conv2dMatchesReferenceAcrossGeometries) {
  struct Case {
    Shape x, k;
    Size2 s;
    Padding p;
  };
  const std::vector<Case> cases = {
      {{1, 28, 28, 1}, {3, 3, 1, 4}, 1, Padding::valid()},
      {{2, 7, 9, 3}, {3, 3, 3, 5}, 2, Padding::same()},
      {{3, 6, 6, 2}, {2, 2, 2, 3}, 2, Padding::same()},
      {{1, 5, 4, 2}, {3, 2, 2, 2}, Size2(2, 1), Padding::explicit_amounts(2, 1, 0, 1)},
  };
  std::uint64_t seed = 1;
  for (const Case& c : cases) {
    const Tensor x = Tensor::uniform(c.x, -1, 1, seed++);
    const Tensor k = Tensor::uniform(c.k, -1, 1, seed++);
    const Tensor b = Tensor::uniform({c.k[3]}, -1, 1, seed++);
    const Tensor y = conv2d(x, k, b, c.s, c.p);
    backend::Conv2dGeometry g;
    g.n = c.x[0], g.h = c.x[1], g.w = c.x[2], g.c = c.x[3];
    g.kh = c.k[0], g.kw = c.k[1], g.o = c.k[3];
    const WindowAxis r = window_axis(g.h, g.kh, c.s.h, c.p, true),
                     q = window_axis(g.w, g.kw, c.s.w, c.p, false);
    g.oh = r.output, g.ow = q.output, g.stride_h = c.s.h, g.stride_w = c.s.w;
    g.pad_top = r.pad_before, g.pad_left = q.pad_before;
    EXPECT_EQ(y.shape(), (Shape{g.n, g.oh, g.ow, g.o}));
    std::vector<double> want = reference::conv2d_forward(g, values(x), values(k));
    const std::vector<double> bias = values(b);
    for (std::size_t i = 0; i < want.size(); ++i)
      want[i] += bias[i % static_cast<std::size_t>(g.o)];
    expect_near_all(values(y), want, 1e-5);
  }
}

TEST(Ops, PoolingMatchesReference) {
  const Tensor x = Tensor::uniform({2, 7, 5, 3}, -1, 1, 9);
  for (auto mode : {backend::PoolMode::max, backend::PoolMode::min, backend::PoolMode::avg}) {
    auto* op = mode == backend::PoolMode::max   ? &max_pool2d
               : mode == backend::PoolMode::min ? &min_pool2d
                                                : &avg_pool2d;
    const Tensor y = (*op)(x, 3, Size2(2), Padding::same());
    backend::Pool2dGeometry g;
    g.n = 2, g.h = 7, g.w = 5, g.c = 3, g.ph = 3, g.pw = 3, g.stride_h = 2, g.stride_w = 2;
    const WindowAxis r = window_axis(7, 3, 2, Padding::same(), true),
                     q = window_axis(5, 3, 2, Padding::same(), false);
    g.oh = r.output, g.ow = q.output, g.pad_top = r.pad_before, g.pad_left = q.pad_before;
    EXPECT_EQ(y.shape(), (Shape{2, 4, 3, 3}));
    expect_near_all(values(y), reference::pool2d_forward(mode, g, values(x)), 1e-6);
  }
}

// Through the tape, max / min route the gradient via the winners the forward pass stored; the
// inputs hold ties, so only the first winner of each window may get it. Under NoGrad no winners
// are kept and the output is the same.
TEST(Ops, PoolingGradientThroughTheTapeMatchesReference) {
  std::vector<double> xs(2 * 7 * 5 * 3);
  for (std::size_t i = 0; i < xs.size(); ++i) xs[i] = static_cast<double>((i * 7 + i / 4) % 3);
  const Tensor x = Tensor::from_vector(xs, {2, 7, 5, 3});
  const Tensor dy = Tensor::uniform({2, 4, 3, 3}, -1, 1, 10, DType::f64);
  backend::Pool2dGeometry g;
  g.n = 2, g.h = 7, g.w = 5, g.c = 3, g.ph = 3, g.pw = 3, g.stride_h = 2, g.stride_w = 2;
  const WindowAxis r = window_axis(7, 3, 2, Padding::same(), true);
  const WindowAxis q = window_axis(5, 3, 2, Padding::same(), false);
  g.oh = r.output, g.ow = q.output, g.pad_top = r.pad_before, g.pad_left = q.pad_before;
  for (auto mode : {backend::PoolMode::max, backend::PoolMode::min, backend::PoolMode::avg}) {
    auto* op = mode == backend::PoolMode::max   ? &max_pool2d
               : mode == backend::PoolMode::min ? &min_pool2d
                                                : &avg_pool2d;
    GradientTape tape;
    const Tensor y = (*op)(x, 3, Size2(2), Padding::same());
    const Tensor dx = tape.gradient(y, {x}, dy)[0];
    expect_near_all(values(dx), reference::pool2d_backward(mode, g, values(x), values(dy)), 1e-12);
    NoGrad guard;
    EXPECT_EQ(values((*op)(x, 3, Size2(2), Padding::same())), values(y));
  }
}

TEST(Ops, SoftmaxDenseConcatenate) {
  const Tensor x = Tensor::from_vector<float>({1, 2, 3, -1, 0, 1000}, {2, 3});
  const std::vector<float> p = softmax(x).to_vector<float>();
  EXPECT_NEAR(p[0], std::exp(1.0) / (std::exp(1.0) + std::exp(2.0) + std::exp(3.0)), 1e-6);
  EXPECT_NEAR(p[5], 1.0, 1e-6);  // stable for large logits
  const Tensor a = Tensor::from_vector<float>({1, 2, 3, 4}, {2, 2});
  const Tensor w = Tensor::from_vector<float>({1, 0, 1, 0, 1, 1}, {2, 3});
  const Tensor b = Tensor::from_vector<float>({0.5, 0, -1}, {3});
  EXPECT_EQ(dense(a, w, b).to_vector<float>(), (std::vector<float>{1.5, 2, 2, 3.5, 4, 6}));
  const Tensor c = concatenate({a, Tensor::from_vector<float>({9, 8}, {2, 1})}, -1);
  EXPECT_EQ(c.to_vector<float>(), (std::vector<float>{1, 2, 9, 3, 4, 8}));
  EXPECT_EQ(argmax(x).to_vector<std::int32_t>(), (std::vector<std::int32_t>{2, 2}));
}

TEST(Ops, LossesMatchHandComputation) {
  const Tensor logits = Tensor::from_vector<double>({2.0, 1.0, 0.1, 0.5, 2.5, 0.3}, {2, 3});
  const Tensor labels = Tensor::from_vector<std::int32_t>({0, 1}, {2});
  const auto ce = [](double a, double b, double c, double pick) {
    return -(pick - std::log(std::exp(a) + std::exp(b) + std::exp(c)));
  };
  const double want = (ce(2.0, 1.0, 0.1, 2.0) + ce(0.5, 2.5, 0.3, 2.5)) / 2;
  EXPECT_NEAR(sparse_categorical_crossentropy(labels, softmax(logits)).item(), want, 1e-12);
  EXPECT_NEAR(categorical_crossentropy(one_hot(labels, 3, DType::f64), logits, true).item(), want,
              1e-12);
  const Tensor z = Tensor::from_vector<double>({-30.0, 0.0, 4.0}, {3, 1});
  const Tensor t = Tensor::from_vector<double>({1.0, 0.0, 1.0}, {3, 1});
  const double bce =
      (30.0 + std::log1p(std::exp(-30.0)) + std::log(2.0) + std::log1p(std::exp(-4.0))) / 3;
  EXPECT_NEAR(binary_crossentropy(t, sigmoid(z)).item(), bce, 1e-12);
}

TEST(Ops, BadArgumentsRaiseNamedErrors) {
  const Tensor x = Tensor::zeros({1, 5, 5, 2});
  const Tensor k = Tensor::zeros({3, 3, 2, 4});
  auto expect_error = [](const std::function<void()>& f, const std::string& needle) {
    try {
      f();
      ADD_FAILURE() << "no error; expected one mentioning " << needle;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    }
  };
  expect_error(
      [&] {
        conv2d(Tensor::zeros({5, 5, 2}), k);
      },
      "conv2d: expected input of rank 4, found shape (5, 5, 2)");
  expect_error([&] { conv2d(x, k, Tensor(), 0); }, "conv2d: strides must be >= 1");
  expect_error(
      [&] {
        conv2d(x, Tensor::zeros({3, 3, 3, 4}));
      },
      "(1, 5, 5, 2) has 2 channels but kernel (3, 3, 3, 4)");
  expect_error([&] { conv2d(x, Tensor::zeros({7, 7, 2, 1})); }, "larger than the padded input");
  expect_error([&] { max_pool2d(x, 0); }, "max_pool2d: window size must be >= 1");
  expect_error([&] { min_pool2d(x, 6); }, "min_pool2d: pool size 6x6 is larger");
  expect_error([&] { avg_pool2d(x, 2, Size2(-1)); }, "avg_pool2d: strides must be >= 1");
  // Winners are int32 positions within an image (no channels, so nothing is allocated).
  const Tensor huge = Tensor::zeros({1, 65536, 32768, 0});
  expect_error([&] { max_pool2d(huge, 2); },
               "max_pool2d: input (1, 65536, 32768, 0) has 65536x32768");
  expect_error([&] { min_pool2d(huge, 2); }, "fewer than 2^31");
  expect_error(
      [&] {
        dense(Tensor::zeros({2, 3}), Tensor::zeros({4, 5}));
      },
      "dense: input (2, 3) has 3 features but kernel (4, 5)");
  expect_error(
      [&] {
        concatenate({Tensor::zeros({2, 3}), Tensor::zeros({3, 3})}, -1);
      },
      "concatenate: shapes (2, 3) (input 0) and (3, 3)");
  expect_error(
      [&] {
        sparse_categorical_crossentropy(Tensor::from_vector<std::int32_t>({0, 3}, {2}),
                                        Tensor::zeros({2, 3}), true);
      },
      "y_true[1] = 3 is out of range [0, 3)");
  expect_error(
      [&] {
        categorical_crossentropy(Tensor::zeros({2, 3}), Tensor::zeros({2, 3}));
      },
      "softmax activation");
  expect_error([&] { conv2d(x, k, Tensor(), 1, Padding::explicit_amounts(-1, 0, 0, 0)); },
               "padding amounts must be >= 0");
  EXPECT_THROW(Padding::parse("sideways"), Error);
  EXPECT_EQ(Padding::parse("1,2").left, 2);
}

}  // namespace
}  // namespace kiln
