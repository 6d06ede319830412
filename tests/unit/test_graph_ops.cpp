// kiln's graph ops (kiln/graph_ops.h) and the detector's NMS against PyTorch 1.13 / torchvision
// (Debian's python3-torch and python3-torchvision): tests/reference/torch_graph_ops_reference.py
// computes each case from the same float32 / int32 inputs in float64. kiln runs in float32.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>

#include "kiln/detector.h"
#include "kiln/error.h"
#include "kiln/graph_ops.h"
#include "python_reference.h"
#include "temp_dir.h"

namespace kiln {
namespace {

using Json = nlohmann::json;

struct Case {
  std::string name;
  Json reference;  // "op" and "params" for the script
  std::vector<Tensor> inputs;
  std::vector<Tensor> outputs;  // kiln's
};

Tensor uniform(const Shape& shape, std::uint64_t seed, double low = -3.0, double high = 3.0) {
  return Tensor::uniform(shape, low, high, seed);
}

Tensor ints(const std::vector<std::int32_t>& values, const Shape& shape) {
  return Tensor::from_vector(values, shape);
}

class TorchGraphOps : public testing::TempDirTest {
 protected:
  void add(Case c) { cases_.push_back(std::move(c)); }

  // Writes every case, runs the script once, and compares each of kiln's outputs.
  void check_all() {
    Json list = Json::array();
    int file = 0;
    for (const Case& c : cases_) {
      Json entry = c.reference;
      entry["name"] = c.name;
      entry["inputs"] = testing::write_reference_inputs(dir_, c.inputs, file);
      list.push_back(entry);
    }
    const Json ref = testing::run_python_reference(dir_, "torch_graph_ops_reference.py", list);
    for (const Case& c : cases_) {
      ASSERT_TRUE(ref.contains(c.name)) << c.name;
      ASSERT_EQ(ref[c.name].size(), c.outputs.size()) << c.name;
      for (std::size_t i = 0; i < c.outputs.size(); ++i) {
        expect_close(c.outputs[i].astype(DType::f64).to_vector<double>(),
                     ref[c.name][i].get<std::vector<double>>(),
                     c.name + " output " + std::to_string(i));
      }
    }
  }

  static void expect_close(const std::vector<double>& got, const std::vector<double>& want,
                           const std::string& what) {
    ASSERT_EQ(got.size(), want.size()) << what;
    int reported = 0;
    for (std::size_t i = 0; i < got.size(); ++i) {
      if (std::abs(got[i] - want[i]) > 1e-5 + 1e-5 * std::abs(want[i]) && reported++ < 5) {
        ADD_FAILURE() << what << "[" << i << "]: kiln " << got[i] << " vs PyTorch " << want[i];
      }
    }
  }

  std::vector<Case> cases_;
};

Case binary_case(const std::string& name, BinaryOp op, const char* kind, const Tensor& a,
                 const Tensor& b) {
  return {
      name, {{"op", "binary"}, {"params", {{"kind", kind}}}}, {a, b}, {broadcast_binary(a, b, op)}};
}

TEST_F(TorchGraphOps, BroadcastingArithmetic) {
  const Tensor image = uniform({2, 3, 4, 5}, 1);
  add(binary_case("mul_per_channel", BinaryOp::multiply, "multiply", uniform({1, 1, 1, 5}, 2),
                  image));
  add(binary_case("mul_scalar", BinaryOp::multiply, "multiply", uniform({}, 3), image));
  add(binary_case("add_same_shape", BinaryOp::add, "add", image, uniform({2, 3, 4, 5}, 4)));
  add(binary_case("add_scalar_right", BinaryOp::add, "add", image, uniform({1}, 5)));
  add(binary_case("sub_both_ways", BinaryOp::subtract, "subtract", uniform({2, 1, 4, 1}, 6),
                  uniform({3, 1, 5}, 7)));
  add(binary_case("sub_rank_1", BinaryOp::subtract, "subtract", uniform({4, 1}, 8),
                  uniform({6}, 9)));
  const Tensor n = ints({-7, -6, -1, 0, 1, 5, 6, 7, 16383, -16384, 9, -9}, {12});
  const Tensor d = ints({3, -3, 2, 4, -4, 128, 128, -5, 128, 128, -2, 2}, {12});
  add(binary_case("floordiv_int", BinaryOp::floor_divide, "floor_divide", n, d));
  add(binary_case("floormod_int", BinaryOp::floor_mod, "floor_mod", n, d));
  add(binary_case("floordiv_int_scalar", BinaryOp::floor_divide, "floor_divide", n,
                  ints({-4}, {})));
  add(binary_case("floormod_float", BinaryOp::floor_mod, "floor_mod", uniform({7}, 10, -9, 9),
                  uniform({7}, 11, 0.5, 3)));
  const Tensor x = Tensor::from_vector(std::vector<float>{1, 2, 3, 4, 2, 2}, {2, 3});
  add(binary_case("equal", BinaryOp::equal, "equal", x,
                  Tensor::from_vector(std::vector<float>{2}, {1})));
  check_all();
}

TEST_F(TorchGraphOps, SpatialMeanResizeTopKGatherSlice) {
  const Tensor image = uniform({2, 5, 7, 3}, 20);
  add({"spatial_mean", {{"op", "spatial_mean"}}, {image}, {spatial_mean(image)}});
  for (const auto& [name, mode] :
       std::vector<std::pair<std::string, ResizeMode>>{{"asymmetric", {false, false}},
                                                       {"align_corners", {true, false}},
                                                       {"half_pixel", {false, true}}}) {
    for (const Size2 size : {Size2(10, 14), Size2(3, 11), Size2(16, 16)}) {
      add({"resize_" + name + "_" + std::to_string(size.h) + "x" + std::to_string(size.w),
           {{"op", "resize"},
            {"params",
             {{"size", {size.h, size.w}},
              {"align_corners", mode.align_corners},
              {"half_pixel_centers", mode.half_pixel_centers}}}},
           {image},
           {resize_bilinear(image, size, mode)}});
    }
  }
  const Tensor scores = uniform({3, 50}, 21, 0, 1);
  const TopK top = top_k(scores, 7);
  add({"top_k", {{"op", "top_k"}, {"params", {{"k", 7}}}}, {scores}, {top.values, top.indices}});
  const Tensor rows = uniform({6, 4}, 22);
  const Tensor picks = ints({5, 0, 0, 3, 2, 5}, {2, 3});
  add({"gather", {{"op", "gather"}}, {rows, picks}, {gather(rows, picks)}});
  const Tensor cube = uniform({3, 6, 5}, 23);
  add({"strided_slice",
       {{"op", "strided_slice"},
        {"params", {{"begin", {1, 5, 0}}, {"strides", {1, -2, 2}}, {"sizes", {2, 3, 3}}}}},
       {cube},
       {strided_slice(cube, {1, 5, 0}, {1, -2, 2}, {2, 3, 3})}});
  check_all();
}

TEST_F(TorchGraphOps, NonMaxSuppressionMatchesTorchvision) {
  // 60 random boxes in a 100x100 square, many overlapping; distinct scores.
  const std::vector<float> corners = uniform({60, 2}, 30, 0, 80).to_vector<float>();
  const std::vector<float> sizes = uniform({60, 2}, 31, 5, 40).to_vector<float>();
  std::vector<float> flat;
  std::vector<Box> boxes;
  for (std::size_t i = 0; i < 60; ++i) {
    const Box b{corners[2 * i], corners[2 * i + 1], corners[2 * i] + sizes[2 * i],
                corners[2 * i + 1] + sizes[2 * i + 1]};
    boxes.push_back(b);
    flat.insert(flat.end(), {b.x1, b.y1, b.x2, b.y2});
  }
  const Tensor scores = uniform({60}, 32, 0, 1);
  for (const float iou : {0.3f, 0.5f, 0.7f}) {
    const std::vector<std::int64_t> kept =
        non_max_suppression(boxes, scores.to_vector<float>(), 1000, iou, -1.0f);
    std::vector<std::int32_t> kept32(kept.begin(), kept.end());
    add({"nms_" + std::to_string(iou),
         {{"op", "nms"}, {"params", {{"iou_threshold", iou}}}},
         {Tensor::from_vector(flat, {60, 4}), scores},
         {Tensor::from_vector(kept32, {static_cast<std::int64_t>(kept32.size())})}});
  }
  check_all();
}

// tf.image.non_max_suppression's limits, which torchvision does not have: max_outputs and the
// score threshold (strictly greater passes), and ties taken by the lower index.
TEST(NonMaxSuppression, MaxOutputsScoreThresholdAndTies) {
  const std::vector<Box> boxes = {
      {0, 0, 10, 10}, {1, 1, 11, 11}, {20, 20, 30, 30}, {40, 40, 50, 50}, {60, 60, 70, 70}};
  const std::vector<float> scores = {0.9f, 0.8f, 0.5f, 0.5f, 0.2f};
  EXPECT_EQ(non_max_suppression(boxes, scores, 10, 0.5f, 0.0f),
            (std::vector<std::int64_t>{0, 2, 3, 4}));
  EXPECT_EQ(non_max_suppression(boxes, scores, 2, 0.5f, 0.0f), (std::vector<std::int64_t>{0, 2}));
  EXPECT_EQ(non_max_suppression(boxes, scores, 10, 0.5f, 0.5f), (std::vector<std::int64_t>{0}));
  // IoU of boxes 0 and 1 is 81 / 119 = 0.68: kept at a threshold of 0.7.
  EXPECT_EQ(non_max_suppression(boxes, scores, 10, 0.7f, 0.0f),
            (std::vector<std::int64_t>{0, 1, 2, 3, 4}));
  EXPECT_NEAR(box_iou(boxes[0], boxes[1]), 81.0f / 119.0f, 1e-6f);
  EXPECT_THROW(non_max_suppression(boxes, {0.5f}, 10, 0.5f, 0.0f), Error);
}

TEST(GraphOps, TopKTiesGoToTheLowerIndex) {
  const TopK top = top_k(Tensor::from_vector(std::vector<float>{1, 3, 3, 2, 3}, {5}), 4);
  EXPECT_EQ(top.indices.to_vector<std::int32_t>(), (std::vector<std::int32_t>{1, 2, 4, 3}));
  EXPECT_EQ(top.values.to_vector<float>(), (std::vector<float>{3, 3, 3, 2}));
}

// NaN ranks first (TensorFlow sorts it so); equal values in index order, in several rows; k of
// the whole row.
TEST(GraphOps, TopKRanksNaNFirstAndKeepsIndexOrderPerRow) {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const TopK top =
      top_k(Tensor::from_vector(std::vector<float>{2, nan, 5, 5, -1, 0, 0, 7, 0, 7}, {2, 5}), 5);
  EXPECT_EQ(top.indices.to_vector<std::int32_t>(),
            (std::vector<std::int32_t>{1, 2, 3, 0, 4, 2, 4, 0, 1, 3}));
  const std::vector<float> values = top.values.to_vector<float>();
  EXPECT_TRUE(std::isnan(values[0]));
  EXPECT_EQ(std::vector<float>(values.begin() + 1, values.end()),
            (std::vector<float>{5, 5, 2, -1, 7, 7, 0, 0, 0}));
}

// hard_swish equals the four ops TensorFlow's graphs spell it with (the fused CPU loop evaluates
// the same expression in the same order), on every branch: below -3, inside, above 3, at the
// corners, -0 and NaN; float32 on the vector path (with a tail) and float64. The one difference
// is the sign of a zero: TensorFlow's Relu6 is min(max(x, 0), 6), +0 for x < 0, so its
// hard-swish of x < -3 is (x / 6) * +0 = -0, and so is kiln's; kiln's general relu (Keras's
// formula, 0 * x below the threshold) makes -0 there, and the unfused product +0.
TEST(GraphOps, HardSwishEqualsTheUnfusedOps) {
  std::vector<float> values = {
      -7.5f, -3.0f, -2.999f, -0.0f, 0.0f,
      1.25f, 3.0f,  3.001f,  42.0f, std::numeric_limits<float>::quiet_NaN()};
  const std::vector<float> random = Tensor::uniform({37}, -6.0, 6.0, 7).to_vector<float>();
  values.insert(values.end(), random.begin(), random.end());
  const float sixth = 1.0f / 6.0f;
  for (DType dtype : {DType::f32, DType::f64}) {
    const Tensor x =
        Tensor::from_vector(values, {static_cast<std::int64_t>(values.size())}).astype(dtype);
    const Tensor scale = Tensor::full({}, sixth, dtype), shift = Tensor::full({}, 3.0, dtype);
    const Tensor unfused = broadcast_binary(
        broadcast_binary(x, scale, BinaryOp::multiply),
        relu(broadcast_binary(x, shift, BinaryOp::add), ReluOptions{0.0, 6.0, 0.0}),
        BinaryOp::multiply);
    const std::vector<double> want = unfused.astype(DType::f64).to_vector<double>();
    const std::vector<double> got =
        hard_swish(x, sixth, 3.0).astype(DType::f64).to_vector<double>();
    ASSERT_EQ(got.size(), want.size());
    for (std::size_t i = 0; i < got.size(); ++i) {
      if (std::isnan(want[i])) {
        EXPECT_TRUE(std::isnan(got[i])) << i;
      } else {
        EXPECT_EQ(got[i], want[i]) << "x = " << values[i] << ", " << dtype_name(dtype);
        if (values[i] < -3.0f) {
          EXPECT_TRUE(std::signbit(got[i])) << "x = " << values[i];
        }
      }
    }
  }
  EXPECT_THROW(hard_swish(ints({1}, {1})), Error);
}

// The float depthwise convolution of a depth multiplier 1 runs on vectors of 32, 16, 8 and 4
// channels and then one at a time (src/backend/cpu/cpu_simd.cpp); float64 runs the plain loop.
// Every remainder, both paddings, strides 1 and 2, 3x3 and 5x5 windows and odd sizes: the two
// agree to float32's rounding.
TEST(GraphOps, DepthwiseVectorPathsMatchThePlainLoop) {
  struct Geometry {
    std::int64_t channels, size, kernel;
    Size2 strides;
    Padding padding;
  };
  const Geometry cases[] = {{16, 9, 3, 1, Padding::same()}, {29, 8, 3, 2, Padding::same()},
                            {40, 7, 5, 1, Padding::same()}, {77, 6, 3, 2, Padding::valid()},
                            {5, 10, 5, 2, Padding::same()}, {64, 5, 3, 1, Padding::valid()}};
  std::uint64_t seed = 900;
  for (const Geometry& g : cases) {
    const Tensor x = uniform({2, g.size, g.size + 1, g.channels}, seed++);
    const Tensor w = uniform({g.kernel, g.kernel, g.channels, 1}, seed++, -1.0, 1.0);
    const Tensor b = uniform({g.channels}, seed++);
    const std::vector<float> got =
        depthwise_conv2d(x, w, b, g.strides, g.padding).to_vector<float>();
    const std::vector<double> want = depthwise_conv2d(x.astype(DType::f64), w.astype(DType::f64),
                                                      b.astype(DType::f64), g.strides, g.padding)
                                         .to_vector<double>();
    ASSERT_EQ(got.size(), want.size());
    double worst = 0;
    for (std::size_t i = 0; i < got.size(); ++i) {
      worst = std::max(worst, std::abs(got[i] - want[i]) / (1.0 + std::abs(want[i])));
    }
    EXPECT_LT(worst, 1e-5) << g.channels << " channels, " << g.kernel << "x" << g.kernel
                           << ", stride " << g.strides.h;
  }
}

TEST(GraphOps, BadArgumentsNameWhatWasExpected) {
  const Tensor a = Tensor::zeros({2, 3}), b = Tensor::zeros({4});
  try {
    broadcast_binary(a, b, BinaryOp::add);
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("do not broadcast"), std::string::npos) << e.what();
  }
  EXPECT_THROW(broadcast_binary(ints({1}, {1}), ints({0}, {1}), BinaryOp::floor_divide), Error);
  EXPECT_THROW(top_k(a, 4), Error);
  EXPECT_THROW(strided_slice(a, {0, 2}, {1, 1}, {2, 2}), Error);
  EXPECT_THROW(gather(a, ints({2}, {1})), Error);
  EXPECT_THROW(resize_bilinear(Tensor::zeros({1, 2, 2, 1}), Size2(4, 4), {true, true}), Error);
}

}  // namespace
}  // namespace kiln
