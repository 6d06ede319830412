// conv2d / dense with a fused activation (ops/fused_ops.h): the same values and gradients as the
// op followed by the activation, central-difference gradients, the CPU's one-pass kernels against
// the backend's composed defaults, and Keras layers taking the fused path.
#include <cmath>
#include <limits>

#include "backend/backend.h"
#include "gradcheck.h"
#include "kiln/layers.h"
#include "ops/fused_ops.h"

namespace kiln {
namespace {

using backend::Pointwise;
using testing::expect_gradients_match;
using testing::random_f64;

constexpr Pointwise kFused[] = {Pointwise::relu, Pointwise::tanh};

Tensor apply(Pointwise f, const Tensor& x) { return f == Pointwise::relu ? relu(x) : tanh(x); }

std::vector<double> values(const Tensor& t) {
  if (t.dtype() == DType::f64) return t.to_vector<double>();
  const std::vector<float> v = t.to_vector<float>();
  return {v.begin(), v.end()};
}

void expect_close(const std::string& what, const Tensor& a, const Tensor& b, double tolerance) {
  ASSERT_EQ(a.shape(), b.shape()) << what;
  const std::vector<double> x = values(a), y = values(b);
  for (std::size_t i = 0; i < x.size(); ++i) {
    ASSERT_NEAR(x[i], y[i], tolerance * (1.0 + std::abs(y[i]))) << what << " at " << i;
  }
}

// Values and all gradients of fused(inputs) against unfused(inputs), in float64.
void expect_same_as_unfused(const std::string& what, const testing::OpOfInputs& fused,
                            const testing::OpOfInputs& unfused, const std::vector<Tensor>& inputs) {
  std::vector<Tensor> grads[2];
  Tensor outputs[2];
  const testing::OpOfInputs* ops[2] = {&fused, &unfused};
  for (int k = 0; k < 2; ++k) {
    GradientTape tape;
    outputs[k] = (*ops[k])(inputs);
    grads[k] = tape.gradient(outputs[k], inputs, random_f64(outputs[k].shape(), 5));
  }
  expect_close(what + " output", outputs[0], outputs[1], 1e-12);
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    expect_close(what + " gradient " + std::to_string(i), grads[0][i], grads[1][i], 1e-12);
  }
}

TEST(FusedOps, Conv2dMatchesConvThenActivation) {
  const Shape shapes[][2] = {
      {{2, 5, 5, 2}, {3, 3, 2, 3}}, {{1, 6, 7, 3}, {2, 2, 3, 4}}, {{3, 4, 4, 1}, {3, 3, 1, 2}}};
  std::uint64_t seed = 40;
  for (const auto& [x, kernel] : shapes) {
    for (Pointwise f : kFused) {
      const std::vector<Tensor> in{random_f64(x, seed++), random_f64(kernel, seed++),
                                   random_f64({kernel[3]}, seed++)};
      expect_same_as_unfused(
          "conv2d " + shape_str(x),
          [f](const std::vector<Tensor>& v) {
            return ops::conv2d_activation(v[0], v[1], v[2], 1, Padding::same(), f);
          },
          [f](const std::vector<Tensor>& v) {
            return apply(f, conv2d(v[0], v[1], v[2], 1, Padding::same()));
          },
          in);
    }
  }
}

TEST(FusedOps, DenseMatchesDenseThenActivation) {
  std::uint64_t seed = 60;
  for (const auto& [n, in, out] :
       std::vector<std::tuple<int, int, int>>{{1, 3, 2}, {4, 5, 3}, {6, 7, 1}}) {
    for (Pointwise f : kFused) {
      const std::vector<Tensor> v{random_f64({n, in}, seed++), random_f64({in, out}, seed++),
                                  random_f64({out}, seed++)};
      expect_same_as_unfused(
          "dense",
          [f](const std::vector<Tensor>& t) { return ops::dense_activation(t[0], t[1], t[2], f); },
          [f](const std::vector<Tensor>& t) { return apply(f, dense(t[0], t[1], t[2])); }, v);
    }
  }
}

TEST(FusedOps, CentralDifferenceGradients) {
  std::uint64_t seed = 80;
  for (Pointwise f : kFused) {
    expect_gradients_match("conv2d fused, no bias",
                           [f](const std::vector<Tensor>& v) {
                             return ops::conv2d_activation(v[0], v[1], Tensor(), 2,
                                                           Padding::valid(), f);
                           },
                           {random_f64({2, 5, 6, 2}, seed++), random_f64({3, 3, 2, 3}, seed++)});
    expect_gradients_match(
        "dense fused",
        [f](const std::vector<Tensor>& v) { return ops::dense_activation(v[0], v[1], v[2], f); },
        {random_f64({5, 4}, seed++), random_f64({4, 3}, seed++), random_f64({3}, seed++)});
  }
}

// The CPU's one-pass kernels against the Backend defaults (add_bias + pointwise, and
// pointwise_backward + bias_backward), in float32 on a (rows, 70) matrix.
TEST(FusedOps, CpuKernelsMatchComposedDefaults) {
  backend::Backend& cpu = backend::backend_for(Device::cpu());
  const Shape shape{300, 7, 10};
  for (Pointwise f : {Pointwise::relu, Pointwise::sigmoid, Pointwise::tanh}) {
    for (bool with_bias : {false, true}) {
      const Tensor z = Tensor::uniform(shape, -2, 2, 1);
      const Tensor bias = with_bias ? Tensor::uniform({10}, -1, 1, 2) : Tensor();
      Tensor fused = z.clone(), composed = z.clone();
      cpu.bias_activation_forward(fused, bias, f);
      cpu.Backend::bias_activation_forward(composed, bias, f);
      expect_close("forward", fused, composed, 1e-6);

      const Tensor dy = Tensor::uniform(shape, -1, 1, 3);
      Tensor dz[2] = {Tensor::empty(shape), Tensor::empty(shape)};
      Tensor dbias[2] = {with_bias ? Tensor::empty({10}) : Tensor(),
                         with_bias ? Tensor::empty({10}) : Tensor()};
      cpu.bias_activation_backward(f, fused, dy, dz[0], dbias[0]);
      cpu.Backend::bias_activation_backward(f, fused, dy, dz[1], dbias[1]);
      expect_close("dz", dz[0], dz[1], 1e-6);
      if (with_bias) expect_close("dbias", dbias[0], dbias[1], 1e-5);
    }
  }
}

backend::Conv2dGeometry geometry(const Shape& x, const Shape& kernel, Size2 strides,
                                 const Padding& padding) {
  const Tensor input = Tensor::zeros(x), weights = Tensor::zeros(kernel);
  const WindowAxis rows = window_axis(x[1], kernel[0], strides.h, padding, true);
  const WindowAxis cols = window_axis(x[2], kernel[1], strides.w, padding, false);
  backend::Conv2dGeometry g;
  g.n = x[0], g.h = x[1], g.w = x[2], g.c = x[3];
  g.kh = kernel[0], g.kw = kernel[1], g.o = kernel[3];
  g.oh = rows.output, g.ow = cols.output;
  g.stride_h = strides.h, g.stride_w = strides.w;
  g.pad_top = rows.pad_before, g.pad_left = cols.pad_before;
  return g;
}

// The CPU's chunked conv2d (bias seeding the GEMM, activation and its slope applied per chunk
// of images) against the Backend defaults, which run the plain kernels on the whole batch. 30
// images of 28x28x64 outputs take three chunks; the 1x1 case takes the no-column path.
TEST(FusedOps, CpuConvolutionMatchesComposedDefaults) {
  struct Case {
    Shape x, kernel;
    Size2 strides;
    Padding padding;
  };
  const Case cases[] = {{{30, 30, 30, 1}, {3, 3, 1, 64}, 1, Padding::valid()},
                        {{5, 9, 8, 3}, {3, 2, 3, 4}, 2, Padding::same()},
                        {{4, 6, 6, 5}, {1, 1, 5, 3}, 1, Padding::valid()}};
  backend::Backend& cpu = backend::backend_for(Device::cpu());
  std::uint64_t seed = 100;
  for (const Case& c : cases) {
    const backend::Conv2dGeometry g = geometry(c.x, c.kernel, c.strides, c.padding);
    const Shape out_shape{g.n, g.oh, g.ow, g.o};
    const Tensor x = Tensor::uniform(c.x, -1, 1, seed++),
                 w = Tensor::uniform(c.kernel, -1, 1, seed++);
    const Tensor dy = Tensor::uniform(out_shape, -1, 1, seed++);
    for (std::optional<Pointwise> f : {std::optional<Pointwise>(), std::optional(Pointwise::relu),
                                       std::optional(Pointwise::tanh)}) {
      for (bool with_bias : {false, true}) {
        const Tensor bias = with_bias ? Tensor::uniform({g.o}, -1, 1, seed++) : Tensor();
        const std::string what =
            shape_str(c.x) + (f ? " activated" : "") + (with_bias ? " bias" : "");
        Tensor y[2] = {Tensor::empty(out_shape), Tensor::empty(out_shape)};
        cpu.conv2d_forward_fused(g, x, w, bias, f, y[0]);
        cpu.Backend::conv2d_forward_fused(g, x, w, bias, f, y[1]);
        expect_close(what + " forward", y[0], y[1], 1e-5);

        Tensor dx[2] = {Tensor::empty(c.x), Tensor::empty(c.x)};
        Tensor dw[2] = {Tensor::empty(c.kernel), Tensor::empty(c.kernel)};
        Tensor db[2] = {with_bias ? Tensor::empty({g.o}) : Tensor(),
                        with_bias ? Tensor::empty({g.o}) : Tensor()};
        cpu.conv2d_backward_fused(g, x, w, y[0], dy, f, dx[0], dw[0], db[0]);
        cpu.Backend::conv2d_backward_fused(g, x, w, y[0], dy, f, dx[1], dw[1], db[1]);
        expect_close(what + " dx", dx[0], dx[1], 1e-5);
        expect_close(what + " dw", dw[0], dw[1], 1e-4);
        if (with_bias) expect_close(what + " dbias", db[0], db[1], 1e-4);
      }
    }
  }
}

TEST(FusedOps, ReluPassesNaNThrough) {
  // PyTorch and TensorFlow propagate NaN through relu; so does kiln, fused or not.
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const Tensor x = Tensor::from_vector<float>({nan, -1.0f, 2.0f}, {1, 3});
  EXPECT_TRUE(std::isnan(relu(x).to_vector<float>()[0]));
  const Tensor y = ops::dense_activation(x, Tensor::full({3, 1}, 1.0), Tensor(), Pointwise::relu);
  EXPECT_TRUE(std::isnan(y.to_vector<float>()[0]));
}

TEST(FusedOps, KerasLayersRecordOneNodeAndNoPreActivation) {
  const LayerRef conv = Conv2D(4, 3, {.activation = "relu"});
  const LayerRef dense = Dense(3, {.activation = "tanh"});
  const LayerRef logits = Dense(3, {.activation = "sigmoid"});  // not fused: the loss needs logits
  const Tensor images = Tensor::uniform({2, 5, 5, 1}, -1, 1, 7);
  const Tensor rows = Tensor::uniform({2, 6}, -1, 1, 8);
  GradientTape tape;
  conv->call({images}, true);
  EXPECT_EQ(tape.size(), 1u);
  dense->call({rows}, true);
  EXPECT_EQ(tape.size(), 2u);
  logits->call({rows}, true);
  EXPECT_EQ(tape.size(), 4u);
}

}  // namespace
}  // namespace kiln
