// float64 gradient checks (central differences) of the ops and weightless layers added for Keras
// files: general ReLU, the merges, channel_affine / inverse_sqrt / moments / batch_normalization
// (BatchNormalization in both modes), zero padding, nearest upsampling, global pooling, Reshape
// and Rescaling. Layers are called directly (Layer::call), on float64 inputs.
#include "gradcheck.h"

#include "kiln/layers.h"

namespace kiln {
namespace {

using testing::expect_gradients_match;
using testing::random_f64;

// Inputs in [low, high) kept at least `gap` away from each of the kinks, so that central
// differences never straddle one.
Tensor away_from(const Shape& shape, std::uint64_t seed, const std::vector<double>& kinks,
                 double low = -3.0, double high = 3.0, double gap = 0.05) {
  Tensor x = random_f64(shape, seed, low, high);
  double* v = x.data<double>();
  for (std::int64_t i = 0; i < x.numel(); ++i) {
    for (double k : kinks) {
      if (std::abs(v[i] - k) < gap) v[i] = k + (v[i] < k ? -gap : gap);
    }
  }
  return x;
}

Tensor call_layer(const LayerRef& layer, const std::vector<Tensor>& inputs, bool training = false) {
  return layer->call(inputs, training);
}

TEST(LayerGradients, GeneralRelu) {
  const std::vector<ReluOptions> cases = {
      {0.0, 6.0, 0.0}, {0.2, std::nullopt, 0.0}, {0.1, 2.0, 0.5}, {0.0, std::nullopt, 1.0}};
  std::uint64_t seed = 200;
  for (const ReluOptions& o : cases) {
    for (const Shape& shape : {Shape{9}, Shape{2, 3, 4}}) {
      const Tensor x =
          away_from(shape, seed++, {0.0, o.threshold, o.max_value.value_or(0.0)}, -1.0, 7.0);
      expect_gradients_match("relu options",
                             [&](const std::vector<Tensor>& in) { return relu(in[0], o); }, {x});
    }
  }
  expect_gradients_match("ReLU layer",
                         [](const std::vector<Tensor>& in) {
                           return call_layer(ReLU({0.05, 1.5, 0.25}), in);
                         },
                         {away_from({2, 5}, 210, {0.25, 1.5})});
  expect_gradients_match(
      "LeakyReLU layer",
      [](const std::vector<Tensor>& in) { return call_layer(LeakyReLU(0.3), in); },
      {away_from({3, 4}, 211, {0.0})});
  expect_gradients_match("Softmax layer",
                         [](const std::vector<Tensor>& in) { return call_layer(Softmax(), in); },
                         {random_f64({3, 5}, 212, -2, 2)});
}

// The activations added for Keras files (built from other ops, or with kernels of their own),
// through the Activation layer; inputs kept off their kinks.
TEST(LayerGradients, KerasActivations) {
  std::uint64_t seed = 215;
  for (const char* name :
       {"relu6", "leaky_relu", "swish", "silu", "hard_sigmoid", "hard_swish", "hard_silu", "elu",
        "selu", "softplus", "softsign", "gelu", "exponential", "mish"}) {
    const Tensor x = away_from({3, 7}, seed++, {-3.0, 0.0, 3.0, 6.0}, -8.0, 8.0);
    expect_gradients_match(
        name, [&](const std::vector<Tensor>& in) { return call_layer(Activation(name), in); }, {x});
  }
}

TEST(LayerGradients, Merges) {
  for (const Shape& shape : {Shape{4}, Shape{2, 3}, Shape{2, 2, 3, 2}}) {
    const std::vector<Tensor> three = {random_f64(shape, 220), random_f64(shape, 221),
                                       random_f64(shape, 222)};
    for (auto factory : {&Add, &Multiply, &Average, &Maximum}) {
      expect_gradients_match(
          "merge of three",
          [&](const std::vector<Tensor>& in) { return call_layer(factory(""), in); }, three);
    }
    expect_gradients_match("Subtract",
                           [](const std::vector<Tensor>& in) { return call_layer(Subtract(), in); },
                           {three[0], three[1]});
  }
}

TEST(LayerGradients, ChannelOps) {
  for (const Shape& shape : {Shape{5, 3}, Shape{2, 3, 2, 4}, Shape{1, 1, 2}}) {
    const std::int64_t c = shape.back();
    expect_gradients_match(
        "channel_affine",
        [](const std::vector<Tensor>& in) { return channel_affine(in[0], in[1], in[2]); },
        {random_f64(shape, 230), random_f64({c}, 231), random_f64({c}, 232)});
    expect_gradients_match(
        "channel_affine without shift",
        [](const std::vector<Tensor>& in) { return channel_affine(in[0], in[1]); },
        {random_f64(shape, 233), random_f64({c}, 234)});
    expect_gradients_match("channel_sum",
                           [](const std::vector<Tensor>& in) { return channel_sum(in[0]); },
                           {random_f64(shape, 235)});
    expect_gradients_match("inverse_sqrt",
                           [](const std::vector<Tensor>& in) { return inverse_sqrt(in[0], 1e-3); },
                           {random_f64(shape, 236, 0.2, 2.0)});
  }
}

// BatchNormalization in training mode: the batch statistics depend on x, so the gradient flows
// through them (the op the layer runs: moments, then batch_normalization).
TEST(LayerGradients, BatchNormalizationTraining) {
  for (const Shape& shape : {Shape{6, 3}, Shape{2, 3, 3, 2}, Shape{3, 2, 1, 4}}) {
    const std::int64_t c = shape.back();
    expect_gradients_match(
        "batch norm, training",
        [](const std::vector<Tensor>& in) {
          const Moments m = moments(in[0]);
          return batch_normalization(in[0], m.mean, m.variance, in[2], in[1], 1e-3);
        },
        {random_f64(shape, 240, -2, 2), random_f64({c}, 241, 0.5, 1.5), random_f64({c}, 242)});
    expect_gradients_match("batch norm, training, no gamma/beta",
                           [](const std::vector<Tensor>& in) {
                             const Moments m = moments(in[0]);
                             return batch_normalization(in[0], m.mean, m.variance, Tensor(),
                                                        Tensor(), 1e-3);
                           },
                           {random_f64(shape, 243, -2, 2)});
  }
}

TEST(LayerGradients, BatchNormalizationInference) {
  for (const Shape& shape : {Shape{4, 3}, Shape{2, 2, 3, 2}}) {
    const std::int64_t c = shape.back();
    expect_gradients_match("batch norm, inference",
                           [](const std::vector<Tensor>& in) {
                             return batch_normalization(in[0], in[3], in[4], in[2], in[1], 1e-3);
                           },
                           {random_f64(shape, 250), random_f64({c}, 251), random_f64({c}, 252),
                            random_f64({c}, 253), random_f64({c}, 254, 0.2, 2.0)});
  }
}

TEST(LayerGradients, SpatialLayers) {
  for (const Shape& shape : {Shape{2, 3, 4, 2}, Shape{1, 1, 1, 3}, Shape{1, 5, 2, 1}}) {
    expect_gradients_match("ZeroPadding2D",
                           [](const std::vector<Tensor>& in) {
                             return call_layer(ZeroPadding2D(Padding::explicit_amounts(1, 2, 0, 3)),
                                               in);
                           },
                           {random_f64(shape, 260)});
    expect_gradients_match(
        "UpSampling2D nearest",
        [](const std::vector<Tensor>& in) { return call_layer(UpSampling2D(Size2(2, 3)), in); },
        {random_f64(shape, 261)});
    expect_gradients_match(
        "GlobalAveragePooling2D",
        [](const std::vector<Tensor>& in) { return call_layer(GlobalAveragePooling2D(), in); },
        {random_f64(shape, 262)});
    expect_gradients_match(
        "GlobalMaxPooling2D",
        [](const std::vector<Tensor>& in) { return call_layer(GlobalMaxPooling2D(true), in); },
        {random_f64(shape, 263)});
    expect_gradients_match("Reshape",
                           [](const std::vector<Tensor>& in) {
                             return call_layer(Reshape({-1, 1}), in);
                           },
                           {random_f64(shape, 264)});
    expect_gradients_match(
        "Rescaling",
        [](const std::vector<Tensor>& in) { return call_layer(Rescaling(1.0 / 127.5, -1.0), in); },
        {random_f64(shape, 265)});
  }
}

TEST(LayerGradients, UpsampleBilinear) {
  for (const Shape& shape : {Shape{2, 3, 4, 2}, Shape{1, 1, 1, 3}, Shape{1, 5, 2, 1}}) {
    for (Size2 size : {Size2(2), Size2(1, 3), Size2(3, 2)}) {
      expect_gradients_match(
          "upsample2d_bilinear",
          [size](const std::vector<Tensor>& in) { return upsample2d_bilinear(in[0], size); },
          {random_f64(shape, 270)});
    }
  }
}

TEST(LayerGradients, DepthwiseConv2d) {
  struct DepthwiseCase {
    Shape x, kernel;
    Size2 strides;
    Padding padding;
  };
  const std::vector<DepthwiseCase> cases = {
      {{2, 5, 5, 2}, {3, 3, 2, 1}, 1, Padding::valid()},
      {{1, 6, 7, 3}, {3, 3, 3, 2}, 2, Padding::same()},
      {{2, 4, 5, 1}, {2, 3, 1, 3}, Size2(1, 2), Padding::explicit_amounts(1, 0, 2, 1)},
      {{1, 3, 3, 2}, {1, 1, 2, 2}, 1, Padding::same()},
  };
  std::uint64_t seed = 280;
  for (const DepthwiseCase& c : cases) {
    const std::int64_t outputs = c.kernel[2] * c.kernel[3];
    expect_gradients_match(
        "depthwise_conv2d " + shape_str(c.x),
        [&](const std::vector<Tensor>& in) {
          return depthwise_conv2d(in[0], in[1], in[2], c.strides, c.padding);
        },
        {random_f64(c.x, seed++), random_f64(c.kernel, seed++), random_f64({outputs}, seed++)});
    // SeparableConv2D's composition: depthwise, then a 1x1 convolution with the bias.
    expect_gradients_match("separable " + shape_str(c.x),
                           [&](const std::vector<Tensor>& in) {
                             return conv2d(
                                 depthwise_conv2d(in[0], in[1], Tensor(), c.strides, c.padding),
                                 in[2], in[3]);
                           },
                           {random_f64(c.x, seed++), random_f64(c.kernel, seed++),
                            random_f64({1, 1, outputs, 2}, seed++), random_f64({2}, seed++)});
  }
}

}  // namespace
}  // namespace kiln
