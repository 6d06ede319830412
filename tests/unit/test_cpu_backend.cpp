// The CPU backend's kernels against the naive references of reference.h on random inputs, in
// float32 and float64: convolution (stride, 'same' padding with top/left > 0 and asymmetric
// bottom/right, 1x1, chunked batches), pooling (ties, padding, stored winners), GEMM,
// activations, softmax, losses, reductions, optimizers, data movement and dropout masks; and the
// NaN rules of backend.h against hand-written values (pooling, argmax, relu, softmax).
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <string>
#include <utility>
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

// values with about one element in `every` replaced by NaN.
Values with_nans(Values values, std::uint64_t seed, int every) {
  std::mt19937_64 engine(seed);
  std::uniform_int_distribution<int> pick(0, every - 1);
  for (double& v : values) {
    if (pick(engine) == 0) v = std::nan("");
  }
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

// |actual - expected| <= tol + tol * |expected| for every element; NaN matches only NaN.
void expect_close(const Values& actual, const Values& expected, double tol,
                  const std::string& what = "") {
  ASSERT_EQ(actual.size(), expected.size()) << what;
  int reported = 0;
  for (std::size_t i = 0; i < actual.size(); ++i) {
    const double limit = tol + tol * std::abs(expected[i]);
    const bool both_nan = std::isnan(actual[i]) && std::isnan(expected[i]);
    if (!both_nan && !(std::abs(actual[i] - expected[i]) <= limit) && reported++ < 5) {
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

// The positions (iy * w + ix within the image) of the reference's winners, -1 where a window
// has none.
std::vector<std::int32_t> reference_winners(PoolMode mode, const Pool2dGeometry& g,
                                            const Values& x) {
  std::vector<std::int32_t> winners;
  for (std::int64_t b = 0; b < g.n; ++b)
    for (std::int64_t oy = 0; oy < g.oh; ++oy)
      for (std::int64_t ox = 0; ox < g.ow; ++ox)
        for (std::int64_t k = 0; k < g.c; ++k) {
          const std::int64_t at = reference::pool_winner(mode, g, x, b, oy, ox, k);
          winners.push_back(at < 0 ? -1 : static_cast<std::int32_t>((at / g.c) % (g.h * g.w)));
        }
  return winners;
}

// Forward with winners (checked against the reference's), forward without them (inference: the
// same y), and backward from the winners; avg gets undefined winners in the backward pass.
template <class T>
void check_pool(PoolMode mode, const Pool2dGeometry& g, const Values& x_values,
                std::uint64_t seed) {
  const Shape y_shape = {g.n, g.oh, g.ow, g.c};
  const Tensor x = make<T>(x_values, {g.n, g.h, g.w, g.c});
  const Tensor dy =
      make<T>(random_values(static_cast<std::size_t>(g.n * g.oh * g.ow * g.c), seed), y_shape);
  Tensor y = Tensor::full(y_shape, 7.0, dtype_of<T>());
  Tensor winners = Tensor::full(y_shape, 7.0, DType::i32);
  Tensor dx = Tensor::full({g.n, g.h, g.w, g.c}, 7.0, dtype_of<T>());
  cpu().pool2d_forward(mode, g, x, y, winners);
  const std::string what = describe(mode, g);
  expect_close(values_of(y), reference::pool2d_forward(mode, g, values_of(x)), tolerance<T>(),
               what + " forward");
  if (mode == PoolMode::avg) {
    EXPECT_EQ(winners.to_vector<std::int32_t>(),
              std::vector<std::int32_t>(static_cast<std::size_t>(winners.numel()), 7))
        << what << ": avg must leave winners alone";
  } else {
    EXPECT_EQ(winners.to_vector<std::int32_t>(), reference_winners(mode, g, values_of(x)))
        << what << " winners";
  }

  Tensor inference = Tensor::full(y_shape, 7.0, dtype_of<T>());
  Tensor no_winners;
  cpu().pool2d_forward(mode, g, x, inference, no_winners);
  expect_close(values_of(inference), values_of(y), 0.0, what + " forward without winners");

  cpu().pool2d_backward(mode, g, mode == PoolMode::avg ? Tensor() : winners, dy, dx);
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
      // NaNs among ties: the first NaN of a window wins.
      check_pool<TypeParam>(mode, g, with_nans(tied_values(count, seed + 8), seed + 9, 6),
                            seed + 10);
      seed += 20;
    }
  }
}

TYPED_TEST(CpuBackendTyped, MaxPoolGradientGoesToFirstOfEqualValues) {
  const Pool2dGeometry g = pool_geometry(1, 2, 2, 1, 2, 2, 2, 2, false);
  const Tensor x = make<TypeParam>({3, 3, 3, 3}, {1, 2, 2, 1});
  const Tensor dy = make<TypeParam>({5}, {1, 1, 1, 1});
  Tensor y = Tensor::zeros({1, 1, 1, 1}, dtype_of<TypeParam>());
  Tensor winners = Tensor::full({1, 1, 1, 1}, 9.0, DType::i32);
  Tensor dx = Tensor::full({1, 2, 2, 1}, 9.0, dtype_of<TypeParam>());
  cpu().pool2d_forward(PoolMode::max, g, x, y, winners);
  cpu().pool2d_backward(PoolMode::max, g, winners, dy, dx);
  EXPECT_EQ(values_of(y), (Values{3}));
  EXPECT_EQ(winners.to_vector<std::int32_t>(), (std::vector<std::int32_t>{0}));
  EXPECT_EQ(values_of(dx), (Values{5, 0, 0, 0}));
}

// One 3x3 window over a 3x3 image with 8 channels: channel k holds a NaN at window position
// 0 (first), 4 (middle) or 8 (last) for k % 4 = 0, 1, 2, and none for k % 4 = 3. Elsewhere the
// values are {1, 2, 9, 3, 4, 5, -9, 6, 7}: without a NaN the max is at position 2, the min at 6.
// Channels with k % 4 = 0 or 1 also hold a second NaN after the first, which must not win.
TYPED_TEST(CpuBackendTyped, MaxMinPoolNaNWinsWhereverItIs) {
  const double nan = std::nan("");
  const std::int64_t c = 8;
  const Pool2dGeometry g = pool_geometry(1, 3, 3, c, 3, 3, 1, 1, false);
  const Values numbers = {1, 2, 9, 3, 4, 5, -9, 6, 7};
  const std::int32_t nan_at[] = {0, 4, 8, -1};
  const std::int32_t second_nan_at[] = {7, 6, -1, -1};
  Values x_values(9 * c);
  for (std::int64_t p = 0; p < 9; ++p) {
    for (std::int64_t k = 0; k < c; ++k) {
      const bool is_nan = p == nan_at[k % 4] || p == second_nan_at[k % 4];
      x_values[p * c + k] = is_nan ? nan : numbers[p];
    }
  }
  const Tensor x = make<TypeParam>(x_values, {1, 3, 3, c});
  Values dy_values(c);
  for (std::int64_t k = 0; k < c; ++k) dy_values[k] = 10.0 + k;
  const Tensor dy = make<TypeParam>(dy_values, {1, 1, 1, c});
  for (PoolMode mode : {PoolMode::max, PoolMode::min}) {
    const std::int32_t number_winner = mode == PoolMode::max ? 2 : 6;
    Tensor y = Tensor::zeros({1, 1, 1, c}, dtype_of<TypeParam>());
    Tensor winners = Tensor::zeros({1, 1, 1, c}, DType::i32);
    Tensor dx = Tensor::full({1, 3, 3, c}, 7.0, dtype_of<TypeParam>());
    Tensor y_inference = Tensor::zeros({1, 1, 1, c}, dtype_of<TypeParam>());
    Tensor no_winners;
    cpu().pool2d_forward(mode, g, x, y, winners);
    cpu().pool2d_forward(mode, g, x, y_inference, no_winners);
    cpu().pool2d_backward(mode, g, winners, dy, dx);
    const Values got_y = values_of(y), got_inference = values_of(y_inference);
    const Values got_dx = values_of(dx);
    const std::vector<std::int32_t> got_winners = winners.to_vector<std::int32_t>();
    for (std::int64_t k = 0; k < c; ++k) {
      const std::int32_t expected = nan_at[k % 4] >= 0 ? nan_at[k % 4] : number_winner;
      const std::string what =
          std::string(mode == PoolMode::max ? "max" : "min") + " channel " + std::to_string(k);
      for (double got : {got_y[k], got_inference[k]}) {
        if (nan_at[k % 4] >= 0) {
          EXPECT_TRUE(std::isnan(got)) << what << ": got " << got;
        } else {
          EXPECT_EQ(got, numbers[number_winner]) << what;
        }
      }
      EXPECT_EQ(got_winners[k], expected) << what;
      for (std::int64_t p = 0; p < 9; ++p) {
        EXPECT_EQ(got_dx[p * c + k], p == expected ? dy_values[k] : 0.0)
            << what << " position " << p;
      }
    }
  }
}

// Overlapping 2x2 windows, stride 1, over a 3x3 image whose centre is NaN: every window holds
// the NaN, so every output is NaN and the centre gets the sum of all four gradients.
TYPED_TEST(CpuBackendTyped, MaxPoolNaNWinningSeveralWindowsGetsTheirSum) {
  const double nan = std::nan("");
  const Pool2dGeometry g = pool_geometry(1, 3, 3, 1, 2, 2, 1, 1, false);
  const Tensor x = make<TypeParam>({9, 8, 7, 6, nan, 5, 4, 3, 2}, {1, 3, 3, 1});
  const Tensor dy = make<TypeParam>({1, 2, 4, 8}, {1, 2, 2, 1});
  Tensor y = Tensor::zeros({1, 2, 2, 1}, dtype_of<TypeParam>());
  Tensor winners = Tensor::zeros({1, 2, 2, 1}, DType::i32);
  Tensor dx = Tensor::full({1, 3, 3, 1}, 7.0, dtype_of<TypeParam>());
  cpu().pool2d_forward(PoolMode::max, g, x, y, winners);
  cpu().pool2d_backward(PoolMode::max, g, winners, dy, dx);
  for (double v : values_of(y)) EXPECT_TRUE(std::isnan(v)) << v;
  EXPECT_EQ(winners.to_vector<std::int32_t>(), (std::vector<std::int32_t>{4, 4, 4, 4}));
  EXPECT_EQ(values_of(dx), (Values{0, 0, 0, 0, 15, 0, 0, 0, 0}));
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

// relu passes NaN (and -0) through, as PyTorch does; sigmoid and tanh of NaN are NaN; relu's
// gradient is 0 where its output is NaN. Long enough for the vectorised loops, with NaNs at
// positions that land in different vector lanes and in the remainder loop.
TYPED_TEST(CpuBackendTyped, PointwiseNaN) {
  const double nan = std::nan("");
  const std::int64_t n = 19;
  Values x_values(n);
  for (std::int64_t i = 0; i < n; ++i) x_values[i] = i % 3 == 0 ? nan : (i % 3 == 1 ? -2.0 : 3.0);
  x_values[n - 2] = -0.0;
  const Tensor x = make<TypeParam>(x_values, {n});
  Tensor y = Tensor::zeros({n}, dtype_of<TypeParam>());
  cpu().pointwise_forward(Pointwise::relu, x, y);
  const Values relu = values_of(y);
  for (std::int64_t i = 0; i < n; ++i) {
    if (std::isnan(x_values[i])) {
      EXPECT_TRUE(std::isnan(relu[i])) << "relu element " << i << ": got " << relu[i];
    } else {
      EXPECT_EQ(relu[i], x_values[i] < 0.0 ? 0.0 : x_values[i]) << "relu element " << i;
    }
  }
  EXPECT_TRUE(std::signbit(relu[n - 2])) << "relu(-0) is -0";

  Tensor dx = Tensor::full({n}, 7.0, dtype_of<TypeParam>());
  cpu().pointwise_backward(Pointwise::relu, y, Tensor::full({n}, 5.0, dtype_of<TypeParam>()), dx);
  const Values grad = values_of(dx);
  for (std::int64_t i = 0; i < n; ++i) {
    EXPECT_EQ(grad[i], x_values[i] > 0.0 ? 5.0 : 0.0) << "relu backward element " << i;
  }

  for (Pointwise f : {Pointwise::sigmoid, Pointwise::tanh}) {
    cpu().pointwise_forward(f, x, y);
    const Values out = values_of(y);
    for (std::int64_t i = 0; i < n; i += 3) {
      EXPECT_TRUE(std::isnan(out[i])) << "activation " << static_cast<int>(f) << " element " << i;
    }
  }
}

// The fused epilogue runs the same relu: y = relu(y + bias) keeps NaN.
TYPED_TEST(CpuBackendTyped, BiasReluPassesNaN) {
  const double nan = std::nan("");
  const std::int64_t rows = 3, cols = 6;
  Values y_values(rows * cols, -1.0);
  y_values[0] = nan;
  y_values[9] = nan;
  y_values[17] = nan;
  Tensor y = make<TypeParam>(y_values, {rows, cols});
  const Tensor bias = make<TypeParam>({0.5, 0.5, 0.5, 2.0, 2.0, 2.0}, {cols});
  cpu().bias_activation_forward(y, bias, Pointwise::relu);
  const Values out = values_of(y);
  for (std::int64_t i = 0; i < rows * cols; ++i) {
    if (std::isnan(y_values[i])) {
      EXPECT_TRUE(std::isnan(out[i])) << "element " << i << ": got " << out[i];
    } else {
      EXPECT_EQ(out[i], i % cols < 3 ? 0.0 : 1.0) << "element " << i;
    }
  }
}

// A row with a NaN is NaN throughout; the other rows are untouched by it.
TYPED_TEST(CpuBackendTyped, SoftmaxRowWithNaNIsNaN) {
  const double nan = std::nan("");
  const Tensor x = make<TypeParam>({1, nan, 2, 0, 0, 0, nan, 1, 1}, {3, 3});
  Tensor y = Tensor::zeros({3, 3}, dtype_of<TypeParam>());
  cpu().softmax_forward(x, y);
  const Values out = values_of(y);
  for (std::int64_t j : {0, 1, 2, 6, 7, 8}) EXPECT_TRUE(std::isnan(out[j])) << "element " << j;
  for (std::int64_t j : {3, 4, 5}) EXPECT_NEAR(out[j], 1.0 / 3.0, 1e-7) << "element " << j;
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

// Rows: NaN first; NaNs in the middle after the maximum; no NaN (first of equal maxima); all
// NaN; NaN against +inf; a wide row with its NaN late.
TYPED_TEST(CpuBackendTyped, ArgmaxFirstNaNWins) {
  const double nan = std::nan("");
  const double inf = std::numeric_limits<double>::infinity();
  const std::int64_t cols = 40;
  // Each row's first elements, then its filler up to `cols`.
  const std::vector<std::pair<Values, double>> rows = {
      {{nan, 1, 5, 2}, -1.0},      {{1, 7, nan, nan}, -1.0},    {{1, 5, 5, 2}, -1.0},
      {{nan, nan, nan, nan}, nan}, {{-inf, inf, 3, nan}, -1.0},
  };
  Values x_values;
  for (const auto& [head, filler] : rows) {
    Values row = head;
    row.resize(cols, filler);
    x_values.insert(x_values.end(), row.begin(), row.end());
  }
  Values wide(cols, 0.5);
  wide[3] = 9.0;
  wide[35] = nan;
  wide[38] = nan;
  x_values.insert(x_values.end(), wide.begin(), wide.end());
  const std::int64_t count = static_cast<std::int64_t>(rows.size()) + 1;
  const Tensor x = make<TypeParam>(x_values, {count, cols});
  Tensor best = Tensor::full({count}, 99.0, DType::i32);
  cpu().argmax(x, best);
  EXPECT_EQ(best.to_vector<std::int32_t>(), (std::vector<std::int32_t>{0, 2, 1, 0, 3, 35}));
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
  const backend::AdamStep step = backend::AdamStep::on(Device::cpu(), 0.01);
  for (int t = 1; t <= 2; ++t) {
    std::vector<Tensor> grads = {make<TypeParam>(grads_by_step[t - 1][0], {3}),
                                 make<TypeParam>(grads_by_step[t - 1][1], {1})};
    cpu().adam_update(params, grads, m, v, step);
    EXPECT_EQ(step.step.item(), t);  // the update advanced the counter itself
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
  cpu().adam_update(params, grads, m, v, backend::AdamStep::on(Device::cpu()));
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
