// The layers added for Keras files against PyTorch 1.13 (float64, Debian's python3-torch):
// tests/reference/torch_layer_reference.py computes each case's outputs from the same float32
// inputs, with Keras's semantics written in PyTorch's ops. kiln runs in float32.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>

#include "kiln/layers.h"
#include "python_reference.h"
#include "temp_dir.h"

namespace kiln {
namespace {

namespace fs = std::filesystem;
using Json = nlohmann::json;

struct Case {
  std::string name;
  LayerRef layer;
  std::vector<Tensor> inputs;
  bool training = false;
  Json reference;  // "op" and "params" for the script
  // Extra inputs the script needs that the layer holds as weights (BatchNormalization's).
  std::vector<Tensor> weights;
};

class TorchLayers : public testing::TempDirTest {
 protected:
  void SetUp() override {
    TempDirTest::SetUp();
    clear_session();
  }

  void add(Case c) { cases_.push_back(std::move(c)); }

  // Writes every case, runs the script once, and returns its outputs by case name.
  Json run_reference() {
    Json list = Json::array();
    int file = 0;
    for (const Case& c : cases_) {
      Json entry = c.reference;
      entry["name"] = c.name;
      std::vector<Tensor> all = c.inputs;
      all.insert(all.end(), c.weights.begin(), c.weights.end());
      entry["inputs"] = testing::write_reference_inputs(dir_, all, file);
      list.push_back(entry);
    }
    return testing::run_python_reference(dir_, "torch_layer_reference.py", list);
  }

  std::vector<Case> cases_;
};

void expect_close(const std::vector<float>& got, const std::vector<double>& want,
                  const std::string& what) {
  ASSERT_EQ(got.size(), want.size()) << what;
  int reported = 0;
  for (std::size_t i = 0; i < got.size(); ++i) {
    if (std::abs(got[i] - want[i]) > 1e-5 + 1e-5 * std::abs(want[i]) && reported++ < 5) {
      ADD_FAILURE() << what << "[" << i << "]: kiln " << got[i] << " vs PyTorch " << want[i];
    }
  }
}

Tensor uniform(const Shape& shape, std::uint64_t seed, double low = -3.0, double high = 3.0) {
  return Tensor::uniform(shape, low, high, seed);
}

Json relu_params(const ReluOptions& o) {
  return {{"op", "relu"},
          {"params",
           {{"negative_slope", o.negative_slope},
            {"threshold", o.threshold},
            {"max_value", o.max_value ? Json(*o.max_value) : Json(nullptr)}}}};
}

// A BatchNormalization with gamma, beta and moving statistics set (not the initial 1/0 values).
Case batch_norm_case(const std::string& name, bool training, std::uint64_t seed) {
  const Shape shape{4, 3, 3, 5};
  LayerRef layer = BatchNormalization();
  layer->build({{3, 3, 5}}, Device::cpu());
  std::vector<Tensor> weights = {uniform({5}, seed, 0.5, 1.5), uniform({5}, seed + 1),
                                 uniform({5}, seed + 2), uniform({5}, seed + 3, 0.5, 2.0)};
  for (std::size_t i = 0; i < weights.size(); ++i)
    layer->weights()[i]->value() = weights[i].clone();
  Json reference = {{"op", "batch_norm"},
                    {"params", {{"training", training}, {"momentum", 0.99}, {"epsilon", 1e-3}}}};
  return {name, layer, {uniform(shape, seed + 4, -2.0, 4.0)}, training, reference, weights};
}

// DepthwiseConv2D (filters 0) or SeparableConv2D with random weights, on a (2, 7, 8, 3) batch.
Case depthwise_case(const std::string& name, std::int64_t filters, Size2 kernel, Size2 strides,
                    const Padding& padding, std::int64_t multiplier, std::uint64_t seed) {
  const DepthwiseConv2DOptions o{strides, padding, multiplier, "linear", true, ""};
  LayerRef layer = filters == 0 ? DepthwiseConv2D(kernel, o) : SeparableConv2D(filters, kernel, o);
  layer->build({{7, 8, 3}}, Device::cpu());
  std::vector<Tensor> weights;
  for (const auto& w : layer->weights()) {
    w->value() = uniform(w->value().shape(), seed++, -1.0, 1.0);
    weights.push_back(w->value());
  }
  Json reference = {{"op", filters == 0 ? "depthwise" : "separable"},
                    {"params",
                     {{"strides", {strides.h, strides.w}},
                      {"padding", padding.kind == Padding::Kind::same ? "same" : "valid"}}}};
  return {name, layer, {uniform({2, 7, 8, 3}, seed)}, false, reference, weights};
}

TEST_F(TorchLayers, MatchPyTorch) {
  for (const ReluOptions& o : {ReluOptions{0.0, 6.0, 0.0}, ReluOptions{0.1, 4.0, 1.0},
                               ReluOptions{0.0, std::nullopt, 0.5}}) {
    add({"relu_" + std::to_string(cases_.size()),
         ReLU(o),
         {uniform({3, 4, 5}, 300, -8, 8)},
         false,
         relu_params(o)});
  }
  add({"leaky_relu",
       LeakyReLU(0.3),
       {uniform({6, 7}, 301)},
       false,
       relu_params({0.3, std::nullopt, 0.0})});
  add({"softmax", Softmax(), {uniform({4, 9}, 302)}, false, {{"op", "softmax"}}});
  std::uint64_t activation_seed = 303;
  for (const char* name :
       {"relu6", "leaky_relu", "swish", "silu", "hard_sigmoid", "hard_swish", "hard_silu", "elu",
        "selu", "softplus", "softsign", "gelu", "exponential", "mish"}) {
    add({std::string("activation_") + name,
         Activation(name),
         {uniform({4, 3, 5}, activation_seed++, -8, 8)},
         false,
         {{"op", "activation"}, {"params", {{"name", name}}}}});
  }
  add(batch_norm_case("batch_norm_training", true, 310));
  add(batch_norm_case("batch_norm_inference", false, 320));
  add({"zero_pad",
       ZeroPadding2D(Padding::explicit_amounts(1, 2, 0, 3)),
       {uniform({2, 3, 4, 3}, 330)},
       false,
       {{"op", "zero_pad"}, {"params", {{"amounts", {1, 2, 0, 3}}}}}});
  add({"upsample_nearest",
       UpSampling2D(Size2(2, 3)),
       {uniform({2, 3, 4, 3}, 331)},
       false,
       {{"op", "upsample_nearest"}, {"params", {{"size", {2, 3}}}}}});
  add({"global_avg",
       GlobalAveragePooling2D(),
       {uniform({3, 5, 6, 4}, 332)},
       false,
       {{"op", "global_avg"}}});
  add({"global_max",
       GlobalMaxPooling2D(),
       {uniform({3, 5, 6, 4}, 333)},
       false,
       {{"op", "global_max"}}});
  const Shape merged{2, 3, 4};
  const std::vector<Tensor> three = {uniform(merged, 340), uniform(merged, 341),
                                     uniform(merged, 342)};
  add({"add", Add(), three, false, {{"op", "merge"}, {"params", {{"kind", "add"}}}}});
  add({"multiply",
       Multiply(),
       three,
       false,
       {{"op", "merge"}, {"params", {{"kind", "multiply"}}}}});
  add({"average", Average(), three, false, {{"op", "merge"}, {"params", {{"kind", "average"}}}}});
  add({"maximum", Maximum(), three, false, {{"op", "merge"}, {"params", {{"kind", "maximum"}}}}});
  add({"subtract",
       Subtract(),
       {three[0], three[1]},
       false,
       {{"op", "merge"}, {"params", {{"kind", "subtract"}}}}});
  struct PoolCase {
    Size2 pool, strides;
    const char* mode;
  };
  for (const PoolCase& p :
       {PoolCase{3, 2, "max"}, PoolCase{3, 2, "avg"}, PoolCase{2, 1, "avg"},
        PoolCase{Size2(3, 2), Size2(1, 3), "max"}, PoolCase{Size2(2, 3), Size2(2, 1), "avg"}}) {
    Pool2DOptions o;
    o.pool_size = p.pool;
    o.strides = p.strides;
    o.padding = Padding::same();
    LayerRef layer = std::string(p.mode) == "max" ? MaxPooling2D(o) : AveragePooling2D(o);
    add({"pool_same_" + std::to_string(cases_.size()),
         layer,
         {uniform({2, 7, 8, 3}, 350 + cases_.size())},
         false,
         {{"op", "pool_same"},
          {"params",
           {{"mode", p.mode},
            {"pool_size", {p.pool.h, p.pool.w}},
            {"strides", {p.strides.h, p.strides.w}}}}}});
  }

  add({"upsample_bilinear",
       UpSampling2D(Size2(2, 3), "bilinear"),
       {uniform({2, 3, 4, 3}, 360)},
       false,
       {{"op", "upsample_bilinear"}, {"params", {{"size", {2, 3}}}}}});
  add(depthwise_case("depthwise_same", 0, Size2(3, 3), 2, Padding::same(), 2, 370));
  add(depthwise_case("depthwise_valid", 0, Size2(2, 3), Size2(1, 2), Padding::valid(), 1, 380));
  add(depthwise_case("separable_same", 5, Size2(3, 3), 1, Padding::same(), 2, 390));

  const Json ref = run_reference();
  for (const Case& c : cases_) {
    ASSERT_TRUE(ref.contains(c.name)) << c.name;
    const Tensor y = c.layer->call(c.inputs, c.training);
    expect_close(y.to_vector<float>(), ref[c.name]["y"].get<std::vector<double>>(), c.name);
    if (ref[c.name].contains("moving_mean")) {
      expect_close(c.layer->weights()[2]->value().to_vector<float>(),
                   ref[c.name]["moving_mean"].get<std::vector<double>>(), c.name + " moving_mean");
      expect_close(c.layer->weights()[3]->value().to_vector<float>(),
                   ref[c.name]["moving_variance"].get<std::vector<double>>(),
                   c.name + " moving_variance");
    }
  }
}

}  // namespace
}  // namespace kiln
