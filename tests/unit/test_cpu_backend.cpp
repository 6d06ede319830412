// The CPU backend's kernels against the naive references of reference.h on random inputs, in
// float32 and float64: convolution (stride, 'same' padding with top/left > 0 and asymmetric
// bottom/right, 1x1, chunked batches), pooling (ties, padding), GEMM, activations, softmax,
// losses, reductions, optimizers, data movement and dropout masks.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "backend/backend.h"
#include "backend/cpu/cpu_backend.h"
#include "core/counter_rng.h"
#include "kiln/error.h"
#include "kiln/tensor.h"
#include "unit/reference.h"

namespace kiln {
namespace {

using backend::Conv2dGeometry;
using backend::Pointwise;
using backend::Pool2dGeometry;
using backend::PoolMode;
using reference::Values;

backend::Backend& cpu() { return backend::cpu_backend(); }

Values random_values(std::size_t count, std::uint64_t seed, double low = -1.0, double high = 1.0) {
  std::mt19937_64 engine(seed);
  std::uniform_real_distribution<double> uniform(low, high);
  Values values(count);
  for (double& v : values) v = uniform(engine);
  return values;
}

// Small integers, so windows hold ties.
Values tied_values(std::size_t count, std::uint64_t seed) {
  std::mt19937_64 engine(seed);
  std::uniform_int_distribution<int> pick(0, 2);
  Values values(count);
  for (double& v : values) v = pick(engine);
  return values;
}

template <class T>
Tensor make(const Values& values, const Shape& shape) {
  return Tensor::from_vector(std::vector<T>(values.begin(), values.end()), shape);
}

// The tensor's elements as doubles (for inputs: the values the kernel really saw).
Values values_of(const Tensor& t) {
  if (t.dtype() == DType::f32) {
    const std::vector<float> v = t.to_vector<float>();
    return Values(v.begin(), v.end());
  }
  return t.to_vector<double>();
}

template <class T>
double tolerance() {
  return std::is_same_v<T, float> ? 1e-5 : 1e-10;
}

// |actual - expected| <= tol + tol * |expected| for every element.
void expect_close(const Values& actual, const Values& expected, double tol,
                  const std::string& what = "") {
  ASSERT_EQ(actual.size(), expected.size()) << what;
  int reported = 0;
  for (std::size_t i = 0; i < actual.size(); ++i) {
    const double limit = tol + tol * std::abs(expected[i]);
    if (!(std::abs(actual[i] - expected[i]) <= limit) && reported++ < 5) {
      ADD_FAILURE() << what << " element " << i << ": got " << actual[i] << ", expected "
                    << expected[i] << " (tolerance " << limit << ")";
    }
  }
}

template <class T>
class CpuBackendTyped : public ::testing::Test {};
using FloatTypes = ::testing::Types<float, double>;
TYPED_TEST_SUITE(CpuBackendTyped, FloatTypes);

// ---- convolution

// Keras output size and leading padding: 'valid' or 'same'.
struct Axis {
  std::int64_t out = 0, pad = 0;
};

Axis axis(std::int64_t in, std::int64_t k, std::int64_t stride, bool same) {
  if (!same) return {(in - k) / stride + 1, 0};
  const std::int64_t out = (in + stride - 1) / stride;
  const std::int64_t total = std::max<std::int64_t>((out - 1) * stride + k - in, 0);
  return {out, total / 2};
}

Conv2dGeometry conv_geometry(std::int64_t n, std::int64_t h, std::int64_t w, std::int64_t c,
                             std::int64_t kh, std::int64_t kw, std::int64_t o, std::int64_t sh,
                             std::int64_t sw, bool same) {
  const Axis ay = axis(h, kh, sh, same), ax = axis(w, kw, sw, same);
  Conv2dGeometry g;
  g.n = n, g.h = h, g.w = w, g.c = c, g.kh = kh, g.kw = kw, g.o = o;
  g.oh = ay.out, g.ow = ax.out, g.stride_h = sh, g.stride_w = sw;
  g.pad_top = ay.pad, g.pad_left = ax.pad;
  return g;
}

std::vector<Conv2dGeometry> conv_cases() {
  return {
      conv_geometry(2, 7, 6, 3, 3, 3, 4, 1, 1, false),  // valid, odd sizes
      conv_geometry(1, 5, 5, 2, 3, 3, 3, 1, 1, true),   // same: pad 1 all round
      conv_geometry(2, 9, 8, 3, 3, 3, 5, 2, 2, false),  // stride 2
      conv_geometry(2, 8, 7, 3, 3, 3, 2, 2, 2,
                    true),  // same stride 2: top 0/bottom 1, left 1/right 1
      conv_geometry(1, 6, 5, 2, 4, 4, 3, 1, 1, true),     // same even kernel: top 1/bottom 2
      conv_geometry(3, 4, 5, 6, 1, 1, 7, 1, 1, false),    // 1x1: plain GEMM path
      conv_geometry(2, 5, 5, 3, 1, 1, 2, 2, 2, false),    // 1x1 stride 2: skipped inputs get 0
      conv_geometry(1, 7, 9, 1, 2, 3, 1, 1, 2, true),     // non-square kernel and strides
      conv_geometry(2, 28, 28, 1, 3, 3, 8, 1, 1, false),  // the seed model's first conv
      conv_geometry(2, 13, 13, 8, 3, 3, 16, 1, 1, false),
  };
}

std::string describe(const Conv2dGeometry& g) {
  return "conv n" + std::to_string(g.n) + " " + std::to_string(g.h) + "x" + std::to_string(g.w) +
         "x" + std::to_string(g.c) + " k" + std::to_string(g.kh) + "x" + std::to_string(g.kw) +
         " o" + std::to_string(g.o) + " s" + std::to_string(g.stride_h) + "," +
         std::to_string(g.stride_w) + " pad " + std::to_string(g.pad_top) + "," +
         std::to_string(g.pad_left);
}

// Values k / 4 for integers k in [-4, 4]: products and sums of a few million of them are exact
// in float32, so long reductions can be compared exactly.
Values quarter_values(std::size_t count, std::uint64_t seed) {
  std::mt19937_64 engine(seed);
  std::uniform_int_distribution<int> pick(-4, 4);
  Values values(count);
  for (double& v : values) v = pick(engine) / 4.0;
  return values;
}

using ValueSource = Values (*)(std::size_t, std::uint64_t);

Values uniform_values(std::size_t count, std::uint64_t seed) { return random_values(count, seed); }

template <class T>
void check_conv(const Conv2dGeometry& g, std::uint64_t seed, ValueSource source = uniform_values) {
  const Tensor x =
      make<T>(source(static_cast<std::size_t>(g.n * g.h * g.w * g.c), seed), {g.n, g.h, g.w, g.c});
  const Tensor w = make<T>(source(static_cast<std::size_t>(g.kh * g.kw * g.c * g.o), seed + 1),
                           {g.kh, g.kw, g.c, g.o});
  const Tensor dy = make<T>(source(static_cast<std::size_t>(g.n * g.oh * g.ow * g.o), seed + 2),
                            {g.n, g.oh, g.ow, g.o});
  // Outputs start as garbage: every kernel must assign, not accumulate.
  Tensor y = Tensor::full({g.n, g.oh, g.ow, g.o}, 7.0, dtype_of<T>());
  Tensor dx = Tensor::full({g.n, g.h, g.w, g.c}, 7.0, dtype_of<T>());
  Tensor dw = Tensor::full({g.kh, g.kw, g.c, g.o}, 7.0, dtype_of<T>());
  cpu().conv2d_forward(g, x, w, y);
  cpu().conv2d_backward_data(g, dy, w, dx);
  cpu().conv2d_backward_filter(g, x, dy, dw);
  const std::string what = describe(g);
  expect_close(values_of(y), reference::conv2d_forward(g, values_of(x), values_of(w)),
               tolerance<T>(), what + " forward");
  expect_close(values_of(dx), reference::conv2d_backward_data(g, values_of(dy), values_of(w)),
               tolerance<T>(), what + " backward data");
  expect_close(values_of(dw), reference::conv2d_backward_filter(g, values_of(x), values_of(dy)),
               tolerance<T>(), what + " backward filter");
}

TYPED_TEST(CpuBackendTyped, ConvolutionMatchesReference) {
  std::uint64_t seed = 100;
  for (const Conv2dGeometry& g : conv_cases()) check_conv<TypeParam>(g, seed += 10);
}

// Large enough images that the batch is split into several im2col chunks (with the 8 MB column
// budget: 3 + 3 + 2 images in float64, 7 + 1 in float32), so chunk offsets and the beta = 1
// accumulation of the filter gradient are exercised. The filter gradient sums 8192 products,
// too many for float32 rounding to stay within 1e-5 on random data, so the inputs are quarters
// and every result is exact.
TYPED_TEST(CpuBackendTyped, ConvolutionAcrossBatchChunks) {
  check_conv<TypeParam>(conv_geometry(8, 34, 34, 32, 3, 3, 3, 1, 1, false), 7, quarter_values);
}

// ---- pooling

Pool2dGeometry pool_geometry(std::int64_t n, std::int64_t h, std::int64_t w, std::int64_t c,
                             std::int64_t ph, std::int64_t pw, std::int64_t sh, std::int64_t sw,
                             bool same) {
  const Axis ay = axis(h, ph, sh, same), ax = axis(w, pw, sw, same);
  Pool2dGeometry g;
  g.n = n, g.h = h, g.w = w, g.c = c, g.ph = ph, g.pw = pw;
  g.oh = ay.out, g.ow = ax.out, g.stride_h = sh, g.stride_w = sw;
  g.pad_top = ay.pad, g.pad_left = ax.pad;
  return g;
}

std::vector<Pool2dGeometry> pool_cases() {
  return {
      pool_geometry(2, 6, 6, 3, 2, 2, 2, 2, false),    // plain 2x2
      pool_geometry(2, 26, 26, 4, 2, 2, 2, 2, false),  // seed model: 26 -> 13
      pool_geometry(2, 11, 11, 4, 2, 2, 2, 2, false),  // seed model: 11 -> 5 (floor)
      pool_geometry(1, 5, 5, 2, 3, 3, 1, 1, true),     // same: pad 1 all round
      pool_geometry(2, 5, 5, 3, 2, 2, 2, 2, true),     // same: bottom/right padding only
      pool_geometry(1, 5, 6, 2, 4, 4, 1, 1, true),     // same even window: top 1/bottom 2
      pool_geometry(2, 6, 7, 3, 3, 3, 2, 2, true),     // same stride 2: top 0, left 1
      pool_geometry(1, 7, 7, 5, 3, 3, 2, 2, false),    // overlapping windows
      pool_geometry(1, 7, 8, 1, 3, 2, 1, 3, true),     // non-square window and strides
  };
}

std::string describe(PoolMode mode, const Pool2dGeometry& g) {
  const char* names[] = {"max", "min", "avg"};
  return std::string(names[static_cast<int>(mode)]) + " pool n" + std::to_string(g.n) + " " +
         std::to_string(g.h) + "x" + std::to_string(g.w) + "x" + std::to_string(g.c) + " p" +
         std::to_string(g.ph) + "x" + std::to_string(g.pw) + " s" + std::to_string(g.stride_h) +
         "," + std::to_string(g.stride_w) + " pad " + std::to_string(g.pad_top) + "," +
         std::to_string(g.pad_left);
}

template <class T>
void check_pool(PoolMode mode, const Pool2dGeometry& g, const Values& x_values,
                std::uint64_t seed) {
  const Tensor x = make<T>(x_values, {g.n, g.h, g.w, g.c});
  const Tensor dy = make<T>(random_values(static_cast<std::size_t>(g.n * g.oh * g.ow * g.c), seed),
                            {g.n, g.oh, g.ow, g.c});
  Tensor y = Tensor::full({g.n, g.oh, g.ow, g.c}, 7.0, dtype_of<T>());
  Tensor dx = Tensor::full({g.n, g.h, g.w, g.c}, 7.0, dtype_of<T>());
  cpu().pool2d_forward(mode, g, x, y);
  cpu().pool2d_backward(mode, g, x, y, dy, dx);
  const std::string what = describe(mode, g);
  expect_close(values_of(y), reference::pool2d_forward(mode, g, values_of(x)), tolerance<T>(),
               what + " forward");
  expect_close(values_of(dx), reference::pool2d_backward(mode, g, values_of(x), values_of(dy)),
               tolerance<T>(), what + " backward");
}

TYPED_TEST(CpuBackendTyped, PoolingMatchesReference) {
  std::uint64_t seed = 500;
  for (PoolMode mode : {PoolMode::max, PoolMode::min, PoolMode::avg}) {
    for (const Pool2dGeometry& g : pool_cases()) {
      const auto count = static_cast<std::size_t>(g.n * g.h * g.w * g.c);
      check_pool<TypeParam>(mode, g, random_values(count, seed), seed + 1);
      // Ties: the gradient must go to the first winner in row-major order.
      check_pool<TypeParam>(mode, g, tied_values(count, seed + 2), seed + 3);
      // All inputs positive (or all negative): a padded zero must never win.
      check_pool<TypeParam>(mode, g, random_values(count, seed + 4, 1.0, 2.0), seed + 5);
      check_pool<TypeParam>(mode, g, random_values(count, seed + 6, -2.0, -1.0), seed + 7);
      seed += 10;
    }
  }
}

TYPED_TEST(CpuBackendTyped, MaxPoolGradientGoesToFirstOfEqualValues) {
  const Pool2dGeometry g = pool_geometry(1, 2, 2, 1, 2, 2, 2, 2, false);
  const Tensor x = make<TypeParam>({3, 3, 3, 3}, {1, 2, 2, 1});
  const Tensor dy = make<TypeParam>({5}, {1, 1, 1, 1});
  Tensor y = Tensor::zeros({1, 1, 1, 1}, dtype_of<TypeParam>());
  Tensor dx = Tensor::full({1, 2, 2, 1}, 9.0, dtype_of<TypeParam>());
  cpu().pool2d_forward(PoolMode::max, g, x, y);
  cpu().pool2d_backward(PoolMode::max, g, x, y, dy, dx);
  EXPECT_EQ(values_of(y), (Values{3}));
  EXPECT_EQ(values_of(dx), (Values{5, 0, 0, 0}));
}

// ---- matrices

TYPED_TEST(CpuBackendTyped, GemmAllTransposes) {
  const std::int64_t m = 5, n = 7, k = 3;
  std::uint64_t seed = 900;
  for (bool ta : {false, true}) {
    for (bool tb : {false, true}) {
      const Values a = random_values(m * k, seed++), b = random_values(k * n, seed++);
      const Values c0 = random_values(m * n, seed++);
      const Tensor at = make<TypeParam>(a, ta ? Shape{k, m} : Shape{m, k});
      const Tensor bt = make<TypeParam>(b, tb ? Shape{n, k} : Shape{k, n});
      Tensor c = make<TypeParam>(c0, {m, n});
      cpu().gemm(ta, tb, 0.75, at, bt, -0.5, c);
      expect_close(values_of(c),
                   reference::gemm(ta, tb, m, n, k, 0.75, values_of(at), values_of(bt), -0.5,
                                   values_of(make<TypeParam>(c0, {m, n}))),
                   tolerance<TypeParam>(), "gemm");
    }
  }
}

TYPED_TEST(CpuBackendTyped, GemmBetaZeroIgnoresOldOutput) {
  const Tensor a = make<TypeParam>({1, 2, 3, 4}, {2, 2});
  const Tensor b = make<TypeParam>({1, 0, 0, 1}, {2, 2});
  Tensor c = Tensor::full({2, 2}, 99.0, dtype_of<TypeParam>());
  cpu().gemm(false, false, 1.0, a, b, 0.0, c);
  EXPECT_EQ(values_of(c), (Values{1, 2, 3, 4}));
}

TYPED_TEST(CpuBackendTyped, BiasForwardAndBackward) {
  const std::int64_t rows = 3 * 4, cols = 5;
  const Values y0 = random_values(rows * cols, 1), bias = random_values(cols, 2);
  Tensor y = make<TypeParam>(y0, {3, 4, cols});
  cpu().add_bias(y, make<TypeParam>(bias, {cols}));
  Values expected = values_of(make<TypeParam>(y0, {rows, cols}));
  const Values b = values_of(make<TypeParam>(bias, {cols}));
  for (std::int64_t r = 0; r < rows; ++r)
    for (std::int64_t j = 0; j < cols; ++j) expected[r * cols + j] += b[j];
  expect_close(values_of(y), expected, tolerance<TypeParam>(), "add_bias");

  const Tensor dy = make<TypeParam>(random_values(rows * cols, 3), {3, 4, cols});
  Tensor db = Tensor::full({cols}, 7.0, dtype_of<TypeParam>());
  cpu().bias_backward(dy, db);
  Values sums(cols, 0.0);
  const Values g = values_of(dy);
  for (std::int64_t r = 0; r < rows; ++r)
    for (std::int64_t j = 0; j < cols; ++j) sums[j] += g[r * cols + j];
  expect_close(values_of(db), sums, tolerance<TypeParam>(), "bias_backward");
}

TYPED_TEST(CpuBackendTyped, BiasBackwardOverManyRowsInParallel) {
  const std::int64_t rows = 20000, cols = 3;
  const Tensor dy = make<TypeParam>(random_values(rows * cols, 4), {rows, cols});
  Tensor db = Tensor::zeros({cols}, dtype_of<TypeParam>());
  cpu().bias_backward(dy, db);
  Values sums(cols, 0.0);
  const Values g = values_of(dy);
  for (std::int64_t r = 0; r < rows; ++r)
    for (std::int64_t j = 0; j < cols; ++j) sums[j] += g[r * cols + j];
  expect_close(values_of(db), sums, tolerance<TypeParam>(), "bias_backward");
}

// ---- activations and softmax

TYPED_TEST(CpuBackendTyped, PointwiseForwardAndBackward) {
  const std::int64_t n = 257;
  const Tensor x = make<TypeParam>(random_values(n, 11, -4.0, 4.0), {n});
  const Tensor dy = make<TypeParam>(random_values(n, 12), {n});
  for (Pointwise f : {Pointwise::relu, Pointwise::sigmoid, Pointwise::tanh}) {
    Tensor y = Tensor::zeros({n}, dtype_of<TypeParam>());
    Tensor dx = Tensor::zeros({n}, dtype_of<TypeParam>());
    cpu().pointwise_forward(f, x, y);
    cpu().pointwise_backward(f, y, dy, dx);
    Values expected_y(n), expected_dx(n);
    const Values xs = values_of(x), gs = values_of(dy);
    for (std::int64_t i = 0; i < n; ++i) {
      expected_y[i] = reference::pointwise(f, xs[i]);
      expected_dx[i] = gs[i] * reference::pointwise_derivative(f, xs[i]);
    }
    const std::string what = "pointwise " + std::to_string(static_cast<int>(f));
    expect_close(values_of(y), expected_y, tolerance<TypeParam>(), what + " forward");
    expect_close(values_of(dx), expected_dx, tolerance<TypeParam>(), what + " backward");
  }
}

TYPED_TEST(CpuBackendTyped, SigmoidIsStableForLargeInputs) {
  const Tensor x = make<TypeParam>({-1000, -40, 0, 40, 1000}, {5});
  Tensor y = Tensor::zeros({5}, dtype_of<TypeParam>());
  cpu().pointwise_forward(Pointwise::sigmoid, x, y);
  const Values v = values_of(y);
  EXPECT_EQ(v[0], 0.0);
  EXPECT_EQ(v[2], 0.5);
  EXPECT_EQ(v[4], 1.0);
  for (double value : v) EXPECT_FALSE(std::isnan(value));
}

TYPED_TEST(CpuBackendTyped, SoftmaxForwardAndBackward) {
  const std::int64_t rows = 6, cols = 10;
  Values logits = random_values(rows * cols, 21, -5.0, 5.0);
  logits[3] = 900.0;  // must not overflow
  const Tensor x = make<TypeParam>(logits, {2, 3, cols});
  const Tensor dy = make<TypeParam>(random_values(rows * cols, 22), {2, 3, cols});
  Tensor y = Tensor::zeros({2, 3, cols}, dtype_of<TypeParam>());
  Tensor dx = Tensor::zeros({2, 3, cols}, dtype_of<TypeParam>());
  cpu().softmax_forward(x, y);
  cpu().softmax_backward(y, dy, dx);
  const Values expected_y = reference::softmax(values_of(x), rows, cols);
  expect_close(values_of(y), expected_y, tolerance<TypeParam>(), "softmax");
  expect_close(values_of(dx), reference::softmax_backward(values_of(y), values_of(dy), rows, cols),
               tolerance<TypeParam>(), "softmax backward");
}

// ---- losses

TYPED_TEST(CpuBackendTyped, SoftmaxCrossEntropyWithOneHotAndLabels) {
  const std::int64_t rows = 7, cols = 10;
  Values logits = random_values(rows * cols, 31, -6.0, 6.0);
  logits[12] = 1000.0;  // a confident row: no overflow, loss ~ 0 or huge but finite
  logits[25] = -1000.0;
  std::vector<std::int32_t> labels(rows);
  Values one_hot(rows * cols, 0.0);
  for (std::int64_t r = 0; r < rows; ++r) {
    labels[r] = static_cast<std::int32_t>((r * 3 + 1) % cols);
    one_hot[r * cols + labels[r]] = 1.0;
  }
  const Tensor z = make<TypeParam>(logits, {rows, cols});
  const Tensor dloss = make<TypeParam>(random_values(rows, 32, 0.5, 1.5), {rows});
  const Values expected_loss = reference::softmax_cross_entropy(values_of(z), one_hot, rows, cols);
  const Values expected_grad =
      reference::softmax_cross_entropy_grad(values_of(z), one_hot, values_of(dloss), rows, cols);
  const Values expected_probs = reference::softmax(values_of(z), rows, cols);
  for (const Tensor& target :
       {make<TypeParam>(one_hot, {rows, cols}), Tensor::from_vector(labels, {rows})}) {
    Tensor probs = Tensor::zeros({rows, cols}, dtype_of<TypeParam>());
    Tensor loss = Tensor::full({rows}, 7.0, dtype_of<TypeParam>());
    Tensor grad = Tensor::full({rows, cols}, 7.0, dtype_of<TypeParam>());
    cpu().softmax_cross_entropy_forward(z, target, probs, loss);
    cpu().softmax_cross_entropy_backward(probs, target, dloss, grad);
    const std::string what = std::string("softmax CE ") + dtype_name(target.dtype());
    expect_close(values_of(probs), expected_probs, tolerance<TypeParam>(), what + " probs");
    expect_close(values_of(loss), expected_loss, tolerance<TypeParam>(), what + " loss");
    expect_close(values_of(grad), expected_grad, tolerance<TypeParam>(), what + " grad");
  }
}

TYPED_TEST(CpuBackendTyped, SoftmaxCrossEntropyWithSoftTargets) {
  const std::int64_t rows = 4, cols = 5;
  const Tensor z = make<TypeParam>(random_values(rows * cols, 41, -3.0, 3.0), {rows, cols});
  // Rows whose weights do not sum to 1 exercise the "times sum_k target" term.
  const Tensor t = make<TypeParam>(random_values(rows * cols, 42, 0.0, 1.0), {rows, cols});
  const Tensor dloss = make<TypeParam>(random_values(rows, 43, 0.5, 1.5), {rows});
  Tensor probs = Tensor::zeros({rows, cols}, dtype_of<TypeParam>());
  Tensor loss = Tensor::zeros({rows}, dtype_of<TypeParam>());
  Tensor grad = Tensor::zeros({rows, cols}, dtype_of<TypeParam>());
  cpu().softmax_cross_entropy_forward(z, t, probs, loss);
  cpu().softmax_cross_entropy_backward(probs, t, dloss, grad);
  expect_close(values_of(loss),
               reference::softmax_cross_entropy(values_of(z), values_of(t), rows, cols),
               tolerance<TypeParam>(), "soft CE loss");
  expect_close(values_of(grad),
               reference::softmax_cross_entropy_grad(values_of(z), values_of(t), values_of(dloss),
                                                     rows, cols),
               tolerance<TypeParam>(), "soft CE grad");
}

TYPED_TEST(CpuBackendTyped, SigmoidCrossEntropy) {
  const std::int64_t n = 64;
  Values logits = random_values(n, 51, -8.0, 8.0);
  logits[0] = 800.0;
  logits[1] = -800.0;
  const Tensor z = make<TypeParam>(logits, {8, 8});
  const Tensor t = make<TypeParam>(random_values(n, 52, 0.0, 1.0), {8, 8});
  const Tensor dloss = make<TypeParam>(random_values(n, 53), {8, 8});
  Tensor loss = Tensor::zeros({8, 8}, dtype_of<TypeParam>());
  Tensor grad = Tensor::zeros({8, 8}, dtype_of<TypeParam>());
  cpu().sigmoid_cross_entropy_forward(z, t, loss);
  cpu().sigmoid_cross_entropy_backward(z, t, dloss, grad);
  const Values zs = values_of(z), ts = values_of(t), ds = values_of(dloss);
  Values expected_loss(n), expected_grad(n);
  for (std::int64_t i = 0; i < n; ++i) {
    expected_loss[i] = reference::sigmoid_cross_entropy(zs[i], ts[i]);
    expected_grad[i] = reference::sigmoid_cross_entropy_grad(zs[i], ts[i], ds[i]);
  }
  expect_close(values_of(loss), expected_loss, tolerance<TypeParam>(), "sigmoid CE loss");
  expect_close(values_of(grad), expected_grad, tolerance<TypeParam>(), "sigmoid CE grad");
}

// ---- elementwise, reductions

TYPED_TEST(CpuBackendTyped, FillAxpyMultiply) {
  const std::int64_t n = 100;
  const Values a = random_values(n, 61), b = random_values(n, 62);
  Tensor x = make<TypeParam>(a, {10, 10});
  Tensor y = make<TypeParam>(b, {n});
  cpu().axpy(-2.5, x, y);
  Tensor product = Tensor::zeros({n}, dtype_of<TypeParam>());
  cpu().multiply(x, make<TypeParam>(b, {n}), product);
  const Values xa = values_of(x), yb = values_of(make<TypeParam>(b, {n}));
  Values expected_axpy(n), expected_product(n);
  for (std::int64_t i = 0; i < n; ++i) {
    expected_axpy[i] = yb[i] - 2.5 * xa[i];
    expected_product[i] = xa[i] * yb[i];
  }
  expect_close(values_of(y), expected_axpy, tolerance<TypeParam>(), "axpy");
  expect_close(values_of(product), expected_product, tolerance<TypeParam>(), "multiply");
  cpu().fill(x, 0.25);
  EXPECT_EQ(values_of(x), Values(n, 0.25));
}

TYPED_TEST(CpuBackendTyped, SumAndArgmax) {
  const std::int64_t rows = 300, cols = 200;
  const Tensor x = make<TypeParam>(random_values(rows * cols, 71), {rows, cols});
  Tensor total = Tensor::zeros({1}, dtype_of<TypeParam>());
  cpu().sum(x, total);
  double expected = 0.0;
  const Values v = values_of(x);
  for (double value : v) expected += value;
  EXPECT_NEAR(total.item(), expected, tolerance<TypeParam>() * (1.0 + std::abs(expected)));

  Tensor best = Tensor::zeros({rows}, DType::i32);
  cpu().argmax(x, best);
  const std::vector<std::int32_t> got = best.to_vector<std::int32_t>();
  for (std::int64_t r = 0; r < rows; ++r) {
    std::int64_t expected_index = 0;
    for (std::int64_t j = 1; j < cols; ++j) {
      if (v[r * cols + j] > v[r * cols + expected_index]) expected_index = j;
    }
    ASSERT_EQ(got[r], expected_index) << "row " << r;
  }
}

TYPED_TEST(CpuBackendTyped, ArgmaxFirstMaximumWins) {
  const Tensor x = make<TypeParam>({1, 3, 3, 0, 5, 5, 5, 5, -1}, {3, 3});
  Tensor best = Tensor::zeros({3}, DType::i32);
  cpu().argmax(x, best);
  EXPECT_EQ(best.to_vector<std::int32_t>(), (std::vector<std::int32_t>{1, 1, 0}));
}

TEST(CpuBackend, CastBetweenAllDtypes) {
  const std::vector<float> source = {0.0f, 1.9f, -1.9f, 254.6f, 300.0f, -7.0f};
  const Tensor f32 = Tensor::from_vector(source, {6});
  Tensor i32 = Tensor::zeros({6}, DType::i32);
  cpu().cast(f32, i32, 1.0);
  EXPECT_EQ(i32.to_vector<std::int32_t>(), (std::vector<std::int32_t>{0, 1, -1, 254, 300, -7}));
  Tensor u8 = Tensor::zeros({6}, DType::u8);
  cpu().cast(f32, u8, 1.0);
  EXPECT_EQ(u8.to_vector<std::uint8_t>(), (std::vector<std::uint8_t>{0, 1, 0, 254, 255, 0}));

  const Tensor pixels = Tensor::from_vector(std::vector<std::uint8_t>{0, 51, 255}, {3});
  Tensor scaled = Tensor::zeros({3}, DType::f32);
  cpu().cast(pixels, scaled, 1.0 / 255.0);
  EXPECT_EQ(scaled.to_vector<float>(), (std::vector<float>{0.0f, 0.2f, 1.0f}));

  // Every pair of dtypes round-trips small non-negative integers.
  const std::vector<double> small = {0, 1, 2, 100};
  for (DType from : {DType::f32, DType::f64, DType::u8, DType::i32}) {
    for (DType to : {DType::f32, DType::f64, DType::u8, DType::i32}) {
      const Tensor src = Tensor::from_vector(small, {4}).astype(from);
      Tensor out = Tensor::zeros({4}, to);
      cpu().cast(src, out, 1.0);
      EXPECT_EQ(out.astype(DType::f64).to_vector<double>(), small)
          << dtype_name(from) << " -> " << dtype_name(to);
    }
  }
  Tensor half = Tensor::zeros({4}, DType::f64);
  cpu().cast(Tensor::from_vector(std::vector<std::int32_t>{0, 1, 2, 100}, {4}), half, 0.5);
  EXPECT_EQ(half.to_vector<double>(), (std::vector<double>{0, 0.5, 1, 50}));
}

TEST(CpuBackend, FillIntegerTensors) {
  Tensor labels = Tensor::zeros({5}, DType::i32);
  cpu().fill(labels, 3.0);
  EXPECT_EQ(labels.to_vector<std::int32_t>(), std::vector<std::int32_t>(5, 3));
  Tensor bytes = Tensor::zeros({3}, DType::u8);
  cpu().fill(bytes, 200.0);
  EXPECT_EQ(bytes.to_vector<std::uint8_t>(), std::vector<std::uint8_t>(3, 200));
}

TEST(CpuBackend, FloatingKernelsRejectIntegerTensors) {
  Tensor a = Tensor::zeros({4}, DType::i32);
  Tensor b = Tensor::zeros({4}, DType::i32);
  EXPECT_THROW(cpu().pointwise_forward(Pointwise::relu, a, b), Error);
  EXPECT_THROW(cpu().axpy(1.0, a, b), Error);
  Tensor m = Tensor::zeros({2, 2}, DType::u8);
  EXPECT_THROW(cpu().gemm(false, false, 1.0, m, m, 0.0, m), Error);
}

TEST(CpuBackend, GemmRejectsShapesThatDoNotMultiply) {
  const Tensor a = Tensor::zeros({2, 3});
  const Tensor b = Tensor::zeros({2, 4});
  Tensor c = Tensor::zeros({2, 4});
  EXPECT_THROW(cpu().gemm(false, false, 1.0, a, b, 0.0, c), Error);
  Tensor ct = Tensor::zeros({3, 4});
  EXPECT_NO_THROW(cpu().gemm(true, false, 1.0, a, b, 0.0, ct));
}

// ---- data movement

TYPED_TEST(CpuBackendTyped, CopyColumnsAssignAndAccumulate) {
  // src (3, 5) columns [1, 4) -> dst (3, 6) columns [2, 5)
  const Values s = random_values(15, 81), d = random_values(18, 82);
  const Tensor src = make<TypeParam>(s, {3, 5});
  for (bool accumulate : {false, true}) {
    Tensor dst = make<TypeParam>(d, {3, 6});
    cpu().copy_columns(src, 5, 1, dst, 6, 2, 3, 3, accumulate);
    Values expected = values_of(make<TypeParam>(d, {3, 6}));
    const Values sv = values_of(src);
    for (int r = 0; r < 3; ++r)
      for (int j = 0; j < 3; ++j) {
        const double from = sv[r * 5 + 1 + j];
        expected[r * 6 + 2 + j] = accumulate ? expected[r * 6 + 2 + j] + from : from;
      }
    expect_close(values_of(dst), expected, tolerance<TypeParam>(),
                 accumulate ? "copy_columns +=" : "copy_columns =");
  }
}

TEST(CpuBackend, GatherRowsOfBytesAndFloats) {
  std::vector<std::uint8_t> images(4 * 3 * 2);
  for (std::size_t i = 0; i < images.size(); ++i) images[i] = static_cast<std::uint8_t>(i);
  const Tensor src = Tensor::from_vector(images, {4, 3, 2});
  const Tensor index = Tensor::from_vector(std::vector<std::int32_t>{3, 0, 3}, {3});
  Tensor dst = Tensor::zeros({3, 3, 2}, DType::u8);
  cpu().gather_rows(src, index, dst);
  const std::vector<std::uint8_t> got = dst.to_vector<std::uint8_t>();
  const std::vector<std::uint8_t> expected = {18, 19, 20, 21, 22, 23, 0,  1,  2,
                                              3,  4,  5,  18, 19, 20, 21, 22, 23};
  EXPECT_EQ(got, expected);

  const Tensor labels = Tensor::from_vector(std::vector<float>{0.5f, 1.5f, 2.5f}, {3});
  Tensor picked = Tensor::zeros({2}, DType::f32);
  cpu().gather_rows(labels, Tensor::from_vector(std::vector<std::int32_t>{2, 1}, {2}), picked);
  EXPECT_EQ(picked.to_vector<float>(), (std::vector<float>{2.5f, 1.5f}));
}

TYPED_TEST(CpuBackendTyped, OneHot) {
  const Tensor labels = Tensor::from_vector(std::vector<std::int32_t>{2, 0, 3}, {3});
  Tensor out = Tensor::full({3, 4}, 7.0, dtype_of<TypeParam>());
  cpu().one_hot(labels, out);
  EXPECT_EQ(values_of(out), (Values{0, 0, 1, 0, 1, 0, 0, 0, 0, 0, 0, 1}));
}

// ---- randomness

TYPED_TEST(CpuBackendTyped, DropoutMaskIsDeterministicAndKeepsOneMinusRate) {
  const std::int64_t n = 100000;
  const double rate = 0.3;
  Tensor a = Tensor::zeros({n}, dtype_of<TypeParam>());
  Tensor b = Tensor::zeros({n}, dtype_of<TypeParam>());
  Tensor c = Tensor::zeros({n}, dtype_of<TypeParam>());
  cpu().dropout_mask(a, rate, 1234);
  cpu().dropout_mask(b, rate, 1234);
  cpu().dropout_mask(c, rate, 1235);
  const Values va = values_of(a), vc = values_of(c);
  EXPECT_EQ(va, values_of(b));
  EXPECT_NE(va, vc);
  const auto kept_value = static_cast<double>(static_cast<TypeParam>(1.0 / (1.0 - rate)));
  std::int64_t kept = 0;
  for (std::int64_t i = 0; i < n; ++i) {
    const bool keep = rng::uniform01(1234, static_cast<std::uint64_t>(i)) >= rate;
    ASSERT_EQ(va[i], keep ? kept_value : 0.0) << "element " << i;
    kept += keep ? 1 : 0;
  }
  // Binomial(n, 0.7): standard deviation ~145; allow 5 of them.
  EXPECT_NEAR(static_cast<double>(kept), (1.0 - rate) * n, 5 * std::sqrt(n * rate * (1 - rate)));
}

// ---- optimizers

TYPED_TEST(CpuBackendTyped, AdamMatchesHandComputation) {
  // Two tensors, two steps, computed by hand with the Keras formula in double.
  std::vector<Tensor> params = {make<TypeParam>({1.0, -2.0, 0.5}, {3}),
                                make<TypeParam>({0.25}, {1})};
  const std::vector<Values> grads_by_step[2] = {{{0.1, -0.2, 0.0}, {3.0}},
                                                {{-0.3, 0.1, 0.05}, {-1.0}}};
  std::vector<Tensor> m = {Tensor::zeros({3}, dtype_of<TypeParam>()),
                           Tensor::zeros({1}, dtype_of<TypeParam>())};
  std::vector<Tensor> v = {Tensor::zeros({3}, dtype_of<TypeParam>()),
                           Tensor::zeros({1}, dtype_of<TypeParam>())};
  std::vector<Values> p_ref = {{1.0, -2.0, 0.5}, {0.25}};
  std::vector<Values> m_ref = {{0, 0, 0}, {0}}, v_ref = {{0, 0, 0}, {0}};
  backend::AdamStep step;
  step.learning_rate = 0.01;
  for (int t = 1; t <= 2; ++t) {
    step.step = t;
    std::vector<Tensor> grads = {make<TypeParam>(grads_by_step[t - 1][0], {3}),
                                 make<TypeParam>(grads_by_step[t - 1][1], {1})};
    cpu().adam_update(params, grads, m, v, step);
    const double factor = 0.01 * std::sqrt(1 - std::pow(0.999, t)) / (1 - std::pow(0.9, t));
    for (std::size_t i = 0; i < 2; ++i) {
      for (std::size_t j = 0; j < p_ref[i].size(); ++j) {
        const double g = grads_by_step[t - 1][i][j];
        m_ref[i][j] = 0.9 * m_ref[i][j] + 0.1 * g;
        v_ref[i][j] = 0.999 * v_ref[i][j] + 0.001 * g * g;
        p_ref[i][j] -= factor * m_ref[i][j] / (std::sqrt(v_ref[i][j]) + 1e-7);
      }
    }
  }
  for (std::size_t i = 0; i < 2; ++i) {
    expect_close(values_of(params[i]), p_ref[i], tolerance<TypeParam>(), "adam p");
    expect_close(values_of(m[i]), m_ref[i], tolerance<TypeParam>(), "adam m");
    expect_close(values_of(v[i]), v_ref[i], tolerance<TypeParam>(), "adam v");
  }
}

TYPED_TEST(CpuBackendTyped, SgdPlainMomentumAndNesterov) {
  for (bool nesterov : {false, true}) {
    std::vector<Tensor> params = {make<TypeParam>({1.0, -1.0}, {2})};
    std::vector<Tensor> velocity = {make<TypeParam>({0.5, 0.0}, {2})};
    const std::vector<Tensor> grads = {make<TypeParam>({0.2, -0.4}, {2})};
    backend::SgdStep step;
    step.learning_rate = 0.1;
    step.momentum = 0.9;
    step.nesterov = nesterov;
    cpu().sgd_update(params, grads, velocity, step);
    const Values vel = {0.9 * 0.5 - 0.1 * 0.2, 0.9 * 0.0 + 0.1 * 0.4};
    const Values p = nesterov ? Values{1.0 + 0.9 * vel[0] - 0.02, -1.0 + 0.9 * vel[1] + 0.04}
                              : Values{1.0 + vel[0], -1.0 + vel[1]};
    expect_close(values_of(velocity[0]), vel, tolerance<TypeParam>(), "sgd velocity");
    expect_close(values_of(params[0]), p, tolerance<TypeParam>(), "sgd p");
  }
  std::vector<Tensor> params = {make<TypeParam>({1.0}, {1})};
  const std::vector<Tensor> grads = {make<TypeParam>({0.5}, {1})};
  backend::SgdStep plain;
  plain.learning_rate = 0.1;
  cpu().sgd_update(params, grads, {}, plain);
  expect_close(values_of(params[0]), {0.95}, tolerance<TypeParam>(), "sgd plain");
}

TYPED_TEST(CpuBackendTyped, AdamOverManyParametersInParallel) {
  const std::int64_t n = 100000;
  std::vector<Tensor> params = {make<TypeParam>(random_values(n, 91), {n})};
  const std::vector<Tensor> grads = {make<TypeParam>(random_values(n, 92), {n})};
  std::vector<Tensor> m = {Tensor::zeros({n}, dtype_of<TypeParam>())};
  std::vector<Tensor> v = {Tensor::zeros({n}, dtype_of<TypeParam>())};
  const Values p0 = values_of(params[0]), g = values_of(grads[0]);
  cpu().adam_update(params, grads, m, v, backend::AdamStep{});
  Values expected(n);
  const double factor = 1e-3 * std::sqrt(1 - 0.999) / (1 - 0.9);
  for (std::int64_t i = 0; i < n; ++i) {
    const double mi = 0.1 * g[i], vi = 0.001 * g[i] * g[i];
    expected[i] = p0[i] - factor * mi / (std::sqrt(vi) + 1e-7);
  }
  expect_close(values_of(params[0]), expected, tolerance<TypeParam>(), "adam large");
}

}  // namespace
}  // namespace kiln
