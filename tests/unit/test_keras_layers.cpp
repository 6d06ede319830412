// The layers added for Keras files: hand-computed values, BatchNormalization's two modes and its
// non-trainable moving statistics (summary counts, training steps), configs as Keras writes them
// (read and written back), .h5 round trips, and the errors bad shapes and configs give.
#include <gtest/gtest.h>

#include <cmath>

#include <fmt/format.h>

#include "kiln/error.h"
#include "kiln/model.h"
#include "kiln/model_io.h"
#include "temp_dir.h"

namespace kiln {
namespace {

class KerasLayers : public testing::TempDirTest {
 protected:
  void SetUp() override {
    TempDirTest::SetUp();
    clear_session();
    set_random_seed(1337);
  }
};

std::vector<float> run(const LayerRef& layer, const std::vector<Tensor>& inputs,
                       bool training = false) {
  return layer->call(inputs, training).to_vector<float>();
}

Tensor values(const std::vector<float>& v, const Shape& shape) {
  return Tensor::from_vector(v, shape);
}

Shape layer_call_shape(const LayerRef& layer, const Tensor& x) {
  const Shape s = layer->call({x}, false).shape();
  return Shape(s.begin() + 1, s.end());
}

// The message of the Error `f` throws ("" when it throws none).
template <class F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

TEST_F(KerasLayers, ActivationLayersByHand) {
  const Tensor x = values({-2.0f, -0.5f, 0.0f, 0.25f, 1.0f, 3.0f, 7.0f}, {1, 7});
  EXPECT_EQ(run(ReLU({.max_value = 6.0}), {x}), (std::vector<float>{0, 0, 0, 0.25f, 1, 3, 6}));
  // slope 0.5 below the threshold 1 (measured from it), capped at 2.5 above it.
  EXPECT_EQ(run(ReLU({0.5, 2.5, 1.0}), {x}),
            (std::vector<float>{-1.5f, -0.75f, -0.5f, -0.375f, 0.0f, 2.5f, 2.5f}));
  EXPECT_EQ(run(LeakyReLU(0.25), {x}), (std::vector<float>{-0.5f, -0.125f, 0, 0.25f, 1, 3, 7}));
  EXPECT_EQ(run(Rescaling(0.5, -1.0), {x}),
            (std::vector<float>{-2.0f, -1.25f, -1.0f, -0.875f, -0.5f, 0.5f, 2.5f}));
  const std::vector<float> p = run(Softmax(), {values({0.0f, std::log(3.0f)}, {1, 2})});
  EXPECT_NEAR(p[0], 0.25, 1e-7);
  EXPECT_NEAR(p[1], 0.75, 1e-7);
}

TEST_F(KerasLayers, MergesByHand) {
  const Tensor a = values({1, -2, 3}, {1, 3}), b = values({4, -5, 3}, {1, 3}),
               c = values({-1, 0, 9}, {1, 3});
  EXPECT_EQ(run(Add(), {a, b, c}), (std::vector<float>{4, -7, 15}));
  EXPECT_EQ(run(Subtract(), {a, b}), (std::vector<float>{-3, 3, 0}));
  EXPECT_EQ(run(Multiply(), {a, b, c}), (std::vector<float>{-4, 0, 81}));
  EXPECT_EQ(run(Average(), {a, b}), (std::vector<float>{2.5f, -3.5f, 3}));
  EXPECT_EQ(run(Maximum(), {a, b, c}), (std::vector<float>{4, 0, 9}));
}

TEST_F(KerasLayers, MaximumSendsTiesToTheFirstInput) {
  Tensor a = values({2, 1, 5}, {1, 3}), b = values({2, 3, 4}, {1, 3});
  std::vector<Tensor> grads;
  {
    GradientTape tape;
    grads = tape.gradient(sum(maximum(a, b)), {a, b});
  }
  EXPECT_EQ(grads[0].to_vector<float>(), (std::vector<float>{1, 0, 1}));
  EXPECT_EQ(grads[1].to_vector<float>(), (std::vector<float>{0, 1, 0}));
}

TEST_F(KerasLayers, SpatialLayersByHand) {
  const Tensor x = values({1, 2, 3, 4}, {1, 2, 2, 1});
  EXPECT_EQ(run(ZeroPadding2D(Padding::explicit_amounts(1, 0, 0, 1)), {x}),
            (std::vector<float>{0, 0, 0, 1, 2, 0, 3, 4, 0}));
  EXPECT_EQ(run(UpSampling2D(Size2(1, 2)), {x}), (std::vector<float>{1, 1, 2, 2, 3, 3, 4, 4}));
  EXPECT_EQ(run(GlobalAveragePooling2D(), {x}), (std::vector<float>{2.5f}));
  EXPECT_EQ(run(GlobalMaxPooling2D(), {x}), (std::vector<float>{4}));
  EXPECT_EQ(GlobalMaxPooling2D(true)->output_shape({{5, 6, 3}}), (Shape{1, 1, 3}));
  EXPECT_EQ(GlobalAveragePooling2D()->output_shape({{5, 6, 3}}), (Shape{3}));
  EXPECT_EQ(Reshape({-1, 4})->output_shape({{2, 3, 4}}), (Shape{6, 4}));
  EXPECT_EQ(layer_call_shape(Reshape({2, 2}), x), (Shape{2, 2}));
}

// Half-pixel centres: output x of 4 reads (x + 0.5) / 2 - 0.5 = -0.25, 0.25, 0.75, 1.25 of the
// 2-pixel row, clamped at the edges.
TEST_F(KerasLayers, BilinearUpSamplingByHand) {
  const Tensor x = values({0, 1, 10, 20}, {1, 2, 2, 1});
  EXPECT_EQ(run(UpSampling2D(Size2(1, 2), "bilinear"), {x}),
            (std::vector<float>{0, 0.25f, 0.75f, 1, 10, 12.5f, 17.5f, 20}));
  const std::vector<float> tall = run(UpSampling2D(Size2(2, 1), "bilinear"), {x});
  EXPECT_EQ(tall, (std::vector<float>{0, 1, 2.5f, 5.75f, 7.5f, 15.25f, 10, 20}));
}

// Two channels, depth multiplier 2: output channel k * 2 + j is channel k times kernel[.., k, j].
TEST_F(KerasLayers, DepthwiseConvolutionByHand) {
  LayerRef layer = DepthwiseConv2D(Size2(1, 2), {.depth_multiplier = 2, .use_bias = false});
  layer->build({{1, 3, 2}}, Device::cpu());
  ASSERT_EQ(layer->weights()[0]->value().shape(), (Shape{1, 2, 2, 2}));
  // kernel[0, kx, k, j]: tap 0 then tap 1, each (k, j) row-major.
  layer->weights()[0]->value() = values({1, 2, 3, 4, 10, 20, 30, 40}, {1, 2, 2, 2});
  const Tensor x = values({1, 100, 2, 200, 3, 300}, {1, 1, 3, 2});  // channel 0: 1 2 3; 1: 100 ..
  // position 0: channel 0 -> 1*1 + 2*10, 1*2 + 2*20; channel 1 -> 100*3 + 200*30, 100*4 + 200*40
  EXPECT_EQ(run(layer, {x}), (std::vector<float>{21, 42, 6300, 8400, 32, 64, 9600, 12800}));
  LayerRef separable = SeparableConv2D(3, 2, {.depth_multiplier = 2});
  separable->build({{4, 4, 5}}, Device::cpu());
  EXPECT_EQ(separable->weights()[0]->value().shape(), (Shape{2, 2, 5, 2}));
  EXPECT_EQ(separable->weights()[1]->value().shape(), (Shape{1, 1, 10, 3}));
  EXPECT_EQ(separable->weights()[2]->value().shape(), (Shape{3}));
  EXPECT_EQ(separable->output_shape({{4, 4, 5}}), (Shape{3, 3, 3}));
}

TEST_F(KerasLayers, BatchNormalizationWeightsAreKerasOrderAndMovingStatsNotTrainable) {
  LayerRef bn = BatchNormalization();
  bn->build({{3}}, Device::cpu());
  ASSERT_EQ(bn->weights().size(), 4u);
  const char* names[] = {"gamma:0", "beta:0", "moving_mean:0", "moving_variance:0"};
  const bool trainable[] = {true, true, false, false};
  const float initial[] = {1, 0, 0, 1};
  for (std::size_t i = 0; i < 4; ++i) {
    EXPECT_EQ(bn->weights()[i]->name(), bn->name() + "/" + names[i]);
    EXPECT_EQ(bn->weights()[i]->trainable(), trainable[i]) << names[i];
    EXPECT_EQ(bn->weights()[i]->value().to_vector<float>(), std::vector<float>(3, initial[i]));
  }
  LayerRef plain = BatchNormalization({.center = false, .scale = false});
  plain->build({{3}}, Device::cpu());
  EXPECT_EQ(plain->weights().size(), 2u);
}

// Two samples per channel: mean and biased variance by hand, y = (x - mean) / sqrt(var + eps).
TEST_F(KerasLayers, BatchNormalizationTrainingAndInferenceByHand) {
  LayerRef bn = BatchNormalization({.momentum = 0.9, .epsilon = 0.01});
  const Tensor x = values({1, 10, 3, 30}, {2, 2});  // channel 0: 1, 3; channel 1: 10, 30
  const std::vector<float> y = run(bn, {x}, true);
  const float s0 = 1.0f / std::sqrt(1.0f + 0.01f), s1 = 1.0f / std::sqrt(100.0f + 0.01f);
  const std::vector<float> expected = {-s0, -10 * s1, s0, 10 * s1};
  for (std::size_t i = 0; i < 4; ++i) EXPECT_NEAR(y[i], expected[i], 1e-6) << i;
  // moving = 0.9 moving + 0.1 batch: mean (2, 20), biased variance (1, 100).
  const std::vector<float> mean = bn->weights()[2]->value().to_vector<float>();
  const std::vector<float> var = bn->weights()[3]->value().to_vector<float>();
  EXPECT_NEAR(mean[0], 0.2, 1e-6);
  EXPECT_NEAR(mean[1], 2.0, 1e-6);
  EXPECT_NEAR(var[0], 0.9 + 0.1, 1e-6);
  EXPECT_NEAR(var[1], 0.9 + 10.0, 1e-5);
  // Inference uses the moving statistics and leaves them alone.
  const std::vector<float> z = run(bn, {x}, false);
  EXPECT_NEAR(z[0], (1 - 0.2) / std::sqrt(1.0 + 0.01), 1e-6);
  EXPECT_NEAR(z[3], (30 - 2.0) / std::sqrt(10.9 + 0.01), 1e-5);
  EXPECT_EQ(bn->weights()[2]->value().to_vector<float>(), mean);
}

std::unique_ptr<Model> small_bn_model() {
  return std::make_unique<Sequential>(std::vector<LayerRef>{
      InputLayer({6, 6, 2}), Conv2D(4, 3), BatchNormalization(), ReLU({.max_value = 6.0}),
      GlobalAveragePooling2D(), Dense(3, {.activation = "softmax"})});
}

TEST_F(KerasLayers, SummaryCountsTheMovingStatisticsAsNonTrainable) {
  auto model = small_bn_model();
  const std::string summary = model->summary();
  // conv 3*3*2*4 + 4 = 76, batch norm 4 * 4 = 16 (8 of them moving statistics), dense 4*3 + 3 = 15
  EXPECT_NE(summary.find("Total params: 107\n"), std::string::npos) << summary;
  EXPECT_NE(summary.find("Trainable params: 99\n"), std::string::npos) << summary;
  EXPECT_NE(summary.find("Non-trainable params: 8\n"), std::string::npos) << summary;
  EXPECT_EQ(model->trainable_weights().size(), model->weights().size() - 2);
}

TEST_F(KerasLayers, TrainStepUpdatesGammaAndMovingStatistics) {
  auto model = small_bn_model();
  model->compile(std::make_shared<Adam>(), "sparse_categorical_crossentropy");
  const Tensor x = Tensor::uniform({8, 6, 6, 2}, 0, 1, 41);
  const Tensor y = Tensor::from_vector<std::int32_t>({0, 1, 2, 0, 1, 2, 0, 1}, {8});
  const auto bn = model->layers()[2];
  ASSERT_EQ(bn->type(), "BatchNormalization");
  const std::vector<float> gamma = bn->weights()[0]->value().to_vector<float>();
  model->train_step({{model->input_names()[0], x}}, {{model->output_names()[0], y}});
  EXPECT_NE(bn->weights()[0]->value().to_vector<float>(), gamma);
  for (float m : bn->weights()[2]->value().to_vector<float>()) EXPECT_NE(m, 0.0f);
  for (float v : bn->weights()[3]->value().to_vector<float>()) EXPECT_NE(v, 1.0f);
}

std::unique_ptr<Model> every_new_layer_model() {
  SymbolicTensor in = Input({4, 4, 3});
  SymbolicTensor a = ZeroPadding2D(Padding::explicit_amounts(1, 0, 2, 1))(in);
  a = Conv2D(4, 3)(a);
  a = BatchNormalization()(a);
  SymbolicTensor r6 = ReLU({.max_value = 6.0})(a);
  SymbolicTensor leaky = LeakyReLU(0.2)(a);
  SymbolicTensor merged = Add()({r6, leaky});
  merged = Subtract()({merged, Maximum()({r6, leaky})});
  merged = Multiply()({merged, Average()({r6, leaky})});
  SymbolicTensor up = UpSampling2D(2)(merged);
  SymbolicTensor pooled = GlobalMaxPooling2D()(Rescaling(0.5, 0.1)(up));
  SymbolicTensor smooth = UpSampling2D(Size2(2, 1), "bilinear")(merged);
  smooth = DepthwiseConv2D(3, {.padding = Padding::same(), .depth_multiplier = 2})(smooth);
  smooth = SeparableConv2D(4, 2, {.strides = 2, .activation = "relu"})(smooth);
  SymbolicTensor other = Add()({GlobalAveragePooling2D()(merged), GlobalMaxPooling2D()(smooth)});
  SymbolicTensor joined = Concatenate()({pooled, other});
  SymbolicTensor shaped = Reshape({2, 4})(joined);
  return std::make_unique<Model>(in, Softmax()(Reshape({8})(shaped)));
}

TEST_F(KerasLayers, EveryNewLayerSurvivesAnH5RoundTrip) {
  auto model = every_new_layer_model();
  model->compile(std::make_shared<Adam>(), "categorical_crossentropy");
  const Tensor x = Tensor::uniform({2, 4, 4, 3}, -1, 1, 42);
  // One training step so that the moving statistics differ from their initial values.
  model->train_step(
      {{model->input_names()[0], x}},
      {{model->output_names()[0], one_hot(Tensor::from_vector<std::int32_t>({1, 5}, {2}), 8)}});
  const std::vector<float> before = model->predict(x).to_vector<float>();
  save_model(*model, path("model.h5"));
  auto loaded = load_model(path("model.h5"));
  EXPECT_EQ(model_config_json(*loaded), model_config_json(*model));
  EXPECT_EQ(loaded->summary(), model->summary());
  EXPECT_EQ(loaded->predict(x).to_vector<float>(), before);
}

// Configs spelled as Keras 2.x writes them (BatchNormalization's axis a list after building,
// LeakyReLU's "alpha", ReLU's max_value a float, padding as pairs) and as Keras 3 does.
TEST_F(KerasLayers, ReadsKerasSpelledConfigs) {
  const std::string config = R"({"class_name": "Sequential", "config": {"name": "s", "layers": [
    {"class_name": "InputLayer", "config": {"batch_input_shape": [null, 6, 6, 2], "dtype": "float32", "name": "in"}},
    {"class_name": "ZeroPadding2D", "config": {"name": "zp", "padding": [[1, 1], [1, 1]], "data_format": "channels_last"}},
    {"class_name": "BatchNormalization", "config": {"name": "bn", "axis": [3], "momentum": 0.9, "epsilon": 0.001,
      "center": true, "scale": false}},
    {"class_name": "ReLU", "config": {"name": "r", "max_value": 6.0, "negative_slope": 0.0, "threshold": 0.0}},
    {"class_name": "LeakyReLU", "config": {"name": "l2", "alpha": 0.1}},
    {"class_name": "LeakyReLU", "config": {"name": "l3", "negative_slope": 0.2}},
    {"class_name": "UpSampling2D", "config": {"name": "up", "size": [2, 1], "interpolation": "nearest"}},
    {"class_name": "Rescaling", "config": {"name": "sc", "scale": 0.00392156862745098, "offset": 0.0}},
    {"class_name": "DepthwiseConv2D", "config": {"name": "dw", "kernel_size": [3, 3], "strides": [1, 1],
      "padding": "same", "depth_multiplier": 2, "activation": "linear", "use_bias": true,
      "dilation_rate": [1, 1], "data_format": "channels_last"}},
    {"class_name": "SeparableConv2D", "config": {"name": "sep", "filters": 3, "kernel_size": 3,
      "strides": 1, "padding": "valid", "activation": "relu", "use_bias": false}},
    {"class_name": "GlobalAveragePooling2D", "config": {"name": "gap", "keepdims": true}},
    {"class_name": "Reshape", "config": {"name": "rs", "target_shape": [-1]}},
    {"class_name": "Softmax", "config": {"name": "sm", "axis": -1}}]}})";
  auto model = model_from_json(config);
  EXPECT_EQ(model->layer_output_shape("zp"), (Shape{8, 8, 2}));
  EXPECT_EQ(model->layer_output_shape("up"), (Shape{16, 8, 2}));
  EXPECT_EQ(model->layer_output_shape("gap"), (Shape{1, 1, 3}));
  EXPECT_EQ(model->layer_output_shape("dw"), (Shape{16, 8, 4}));
  EXPECT_EQ(model->layer_output_shape("sep"), (Shape{14, 6, 3}));
  EXPECT_EQ(model->get_layer("sep")->weights().size(), 2u);  // no bias
  EXPECT_EQ(model->layer_output_shape("sm"), (Shape{3}));
  EXPECT_EQ(model->get_layer("bn")->weights().size(), 3u);  // no gamma
  EXPECT_NE(model_config_json(*model).find(R"("alpha":0.2)"), std::string::npos);
}

TEST_F(KerasLayers, BadShapesAndConfigsNameWhatWasExpected) {
  EXPECT_NE(error_of([] {
              Add()->output_shape({{2, 3}, {3, 2}});
            }).find("expected inputs of one shape"),
            std::string::npos);
  EXPECT_NE(error_of([] {
              Subtract()->output_shape({{2}, {2}, {2}});
            }).find("expected 2 input(s), found 3"),
            std::string::npos);
  EXPECT_NE(error_of([] {
              Reshape({5, -1})->output_shape({{2, 3}});
            }).find("does not hold the input's 6 values"),
            std::string::npos);
  EXPECT_NE(error_of([] {
              Softmax(1)->output_shape({{2, 3, 4}});
            }).find("last axis (-1 or 3), found axis 1"),
            std::string::npos);
  EXPECT_NE(error_of([] {
              BatchNormalization({.axis = 1})->output_shape({{2, 3, 4}});
            }).find("last axis (-1 or 3), found axis 1"),
            std::string::npos);
  EXPECT_NE(error_of([] { ReLU({.max_value = -1.0}); }).find("max_value must be >= 0"),
            std::string::npos);
  EXPECT_NE(error_of([] {
              GlobalAveragePooling2D()->output_shape({{4, 3}});
            }).find("expected an input of rank 4"),
            std::string::npos);
  EXPECT_NE(
      error_of([] { UpSampling2D(2, "bicubic"); }).find("interpolation 'bicubic' is not supported"),
      std::string::npos);
  EXPECT_NE(error_of([] {
              depthwise_conv2d(Tensor::zeros({1, 4, 4, 3}), Tensor::zeros({3, 3, 2, 1}));
            }).find("input (1, 4, 4, 3) has 3 channels but kernel (3, 3, 2, 1) expects 2"),
            std::string::npos);
  EXPECT_NE(error_of([] { ZeroPadding2D(Padding::same()); }).find("expected non-negative amounts"),
            std::string::npos);
  EXPECT_NE(error_of([] {
              multiply(Tensor::zeros({2, 3}), Tensor::zeros({3, 2}));
            }).find("shapes (2, 3) and (3, 2) differ"),
            std::string::npos);
  const std::string bad = R"({"class_name": "Sequential", "config": {"layers": [
    {"class_name": "InputLayer", "config": {"batch_input_shape": [null, 4], "name": "in"}},
    {"class_name": "ReLU", "config": {"name": "r", "max_value": "six"}}]}})";
  EXPECT_NE(error_of([&] {
              model_from_json(bad);
            }).find("layer 'r' (ReLU): expected a number for max_value"),
            std::string::npos);
  const std::string renorm = R"({"class_name": "Sequential", "config": {"layers": [
    {"class_name": "InputLayer", "config": {"batch_input_shape": [null, 4], "name": "in"}},
    {"class_name": "BatchNormalization", "config": {"name": "bn", "renorm": true}}]}})";
  EXPECT_NE(error_of([&] {
              model_from_json(renorm);
            }).find("layer 'bn' (BatchNormalization): renorm = true is not supported"),
            std::string::npos);
}

// An activation kiln lacks is refused when the model is read, naming the layer and the choices.
TEST_F(KerasLayers, UnsupportedActivationNamesTheLayer) {
  for (const char* layer : {"Dense", "Activation"}) {
    const std::string config = fmt::format(R"({{"class_name": "Sequential", "config": {{
      "name": "s", "layers": [
      {{"class_name": "InputLayer", "config": {{"batch_input_shape": [null, 4], "name": "in"}}}},
      {{"class_name": "{}", "config": {{"name": "odd_one", "units": 3, "activation": "bogus"}}}}
      ]}}}})",
                                           layer);
    try {
      model_from_json(config);
      ADD_FAILURE() << layer << ": an unknown activation was accepted";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(
                    fmt::format("{} 'odd_one': unsupported activation 'bogus'; kiln supports "
                                "linear, relu, sigmoid, tanh, softmax, relu6, leaky_relu, swish, "
                                "silu, gelu, hard_sigmoid, hard_swish, hard_silu, elu, selu, "
                                "softplus, softsign, exponential, mish",
                                layer)),
                std::string::npos)
          << e.what();
    }
  }
}

}  // namespace
}  // namespace kiln
