// The TF.js graph-model reader (kiln::OpGraph::load_tfjs) on small hand-written models: weights
// stored as float16 and as uint8 (q * scale + min), read back against values computed by hand;
// base64 string attributes; an unknown op; a shard of the wrong size.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

#include "kiln/error.h"
#include "kiln/op_graph.h"
#include "temp_dir.h"

namespace kiln {
namespace {

class TfjsGraph : public testing::TempDirTest {
 protected:
  void write(const std::string& json, const std::vector<std::uint8_t>& shard) {
    std::ofstream(dir_ / "model.json") << json;
    std::ofstream out(dir_ / "w.bin", std::ios::binary);
    out.write(reinterpret_cast<const char*>(shard.data()),
              static_cast<std::streamsize>(shard.size()));
  }
  std::string model() const { return (dir_ / "model.json").string(); }
};

// Two weights in one shard: h (4,) float16 and q (3,) uint8 with scale 0.5, min -1; y = h[0:3] * q
// would need a slice, so the graph outputs them through Identity and a broadcasting Mul by x.
const char* const kModel = R"({
  "signature": {"inputs": {"x": {"name": "x"}}, "outputs": {"y": {"name": "y"}}},
  "modelTopology": {"node": [
    {"name": "x", "op": "Placeholder", "attr": {"shape": {"shape": {"dim": [{"size": "1"}]}}}},
    {"name": "h", "op": "Const"},
    {"name": "q", "op": "Const"},
    {"name": "h_out", "op": "Identity", "input": ["h"]},
    {"name": "y", "op": "Mul", "input": ["q", "x"]}]},
  "weightsManifest": [{"paths": ["w.bin"], "weights": [
    {"name": "h", "shape": [4], "dtype": "float32",
     "quantization": {"dtype": "float16", "original_dtype": "float32"}},
    {"name": "q", "shape": [3], "dtype": "float32",
     "quantization": {"dtype": "uint8", "scale": 0.5, "min": -1.0, "original_dtype": "float32"}}]}]
})";

// float16 1.0 (0x3c00), -2.0 (0xc000), 1/3 rounded (0x3555), the smallest subnormal (0x0001);
// little-endian. Then the uint8 levels 0, 2, 255.
const std::vector<std::uint8_t> kShard = {0x00, 0x3c, 0x00, 0xc0, 0x55, 0x35,
                                          0x01, 0x00, 0,    2,    255};

TEST_F(TfjsGraph, DequantisesFloat16AndUint8) {
  write(kModel, kShard);
  const OpGraph graph = OpGraph::load_tfjs(model());
  EXPECT_EQ(graph.input_names(), std::vector<std::string>{"x"});
  EXPECT_EQ(graph.output_names(), std::vector<std::string>{"y"});
  EXPECT_EQ(graph.input_shape("x"), Shape{1});
  EXPECT_EQ(graph.parameter_count(), 7);
  const Tensor x = Tensor::from_vector(std::vector<float>{2.0f}, {1});
  const std::vector<Tensor> out = graph.run({{"x", x}}, {"h_out", "y"});
  // 0x3555: mantissa 0x155 = 341, exponent 13 - 15: (1 + 341/1024) / 4 = 0.333251953125.
  EXPECT_EQ(out[0].to_vector<float>(),
            (std::vector<float>{1.0f, -2.0f, 0.333251953125f, 5.9604644775390625e-8f}));
  // (q * 0.5 - 1) * 2 for q = 0, 2, 255.
  EXPECT_EQ(out[1].to_vector<float>(), (std::vector<float>{-2.0f, 0.0f, 253.0f}));
}

// Pad with height, width and channel amounts (BlazeFace pads channels): an int32 weight.
TEST_F(TfjsGraph, PadsHeightWidthAndChannels) {
  const std::vector<std::int32_t> paddings = {0, 0, 1, 0, 0, 1, 0, 2};
  std::vector<std::uint8_t> shard(paddings.size() * 4);
  std::memcpy(shard.data(), paddings.data(), shard.size());
  write(R"({"modelTopology": {"node": [
      {"name": "x", "op": "Placeholder"},
      {"name": "p", "op": "Const"},
      {"name": "y", "op": "Pad", "input": ["x", "p"]}]},
    "weightsManifest": [{"paths": ["w.bin"],
      "weights": [{"name": "p", "shape": [4, 2], "dtype": "int32"}]}]})",
        shard);
  const OpGraph graph = OpGraph::load_tfjs(model());
  const Tensor x = Tensor::from_vector(std::vector<float>{5, 6}, {1, 1, 2, 1});
  const Tensor y = graph.run({{"x", x}}, {"y"}).at(0);
  ASSERT_EQ(y.shape(), (Shape{1, 2, 3, 3}));
  // Row 0 is padding; row 1 holds 5, 6 then a padded column; each pixel (v, 0, 0).
  EXPECT_EQ(y.to_vector<float>(), (std::vector<float>{0, 0, 0, 0, 0, 0, 0, 0, 0,  //
                                                      5, 0, 0, 6, 0, 0, 0, 0, 0}));
}

// MobileNetV3's hard-swish, its operands in the order CenterNet's graph has them, becomes one
// fused node with the same name and the same values; the nodes it no longer reads still answer
// when asked for. Without a signature, the placeholder is the input and y (read by no node) the
// output, as TF.js has them.
TEST_F(TfjsGraph, HardSwishBecomesOneFusedNode) {
  std::vector<std::uint8_t> shard(8);
  const float constants[2] = {1.0f / 6.0f, 3.0f};
  std::memcpy(shard.data(), constants, sizeof constants);
  write(R"({"modelTopology": {"node": [
      {"name": "x", "op": "Placeholder"},
      {"name": "sixth", "op": "Const"},
      {"name": "three", "op": "Const"},
      {"name": "scaled", "op": "Mul", "input": ["sixth", "x"]},
      {"name": "shifted", "op": "Add", "input": ["x", "three"]},
      {"name": "clipped", "op": "Relu6", "input": ["shifted"]},
      {"name": "y", "op": "Mul", "input": ["scaled", "clipped"]}]},
    "weightsManifest": [{"paths": ["w.bin"], "weights": [
      {"name": "sixth", "shape": [], "dtype": "float32"},
      {"name": "three", "shape": [], "dtype": "float32"}]}]})",
        shard);
  const OpGraph graph = OpGraph::load_tfjs(model());
  EXPECT_EQ(graph.input_names(), std::vector<std::string>{"x"});
  EXPECT_EQ(graph.output_names(), std::vector<std::string>{"y"});
  const Tensor x = Tensor::from_vector(std::vector<float>{-4, -1.5f, 0, 2, 9}, {5});
  std::vector<OpGraph::NodeTime> times;
  const Tensor y = graph.run({{"x", x}}, {"y"}, &times).at(0);
  ASSERT_EQ(times.size(), 1u) << "only the fused node runs";
  EXPECT_EQ(times[0].node, "y");
  EXPECT_EQ(times[0].op, "_KilnHardSwish");
  const std::vector<float> got = y.to_vector<float>();
  const std::vector<float> in = x.to_vector<float>();
  for (std::size_t i = 0; i < in.size(); ++i) {
    const float r = std::min(std::max(in[i] + 3.0f, 0.0f), 6.0f);
    EXPECT_EQ(got[i], (in[i] * (1.0f / 6.0f)) * r) << in[i];
  }
  EXPECT_EQ(graph.run({{"x", x}}, {"clipped"}).at(0).to_vector<float>(),
            (std::vector<float>{0, 1.5f, 3, 5, 6}));
}

TEST_F(TfjsGraph, ShardOfTheWrongSizeNamesTheWeight) {
  write(kModel, std::vector<std::uint8_t>(kShard.begin(), kShard.end() - 1));
  try {
    OpGraph::load_tfjs(model());
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("TF.js weight 'q'"), std::string::npos) << e.what();
  }
}

TEST_F(TfjsGraph, UnknownOpIsOneErrorNamingOpAndNode) {
  write(R"({"modelTopology": {"node": [
      {"name": "x", "op": "Placeholder", "attr": {}},
      {"name": "y", "op": "Erf", "input": ["x"]}]}, "weightsManifest": []})",
        {});
  try {
    OpGraph::load_tfjs(model());
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("unsupported TF.js op 'Erf' at node 'y'"),
              std::string::npos)
        << e.what();
  }
}

TEST_F(TfjsGraph, MissingFeedAndUnknownOutputAreErrors) {
  write(kModel, kShard);
  const OpGraph graph = OpGraph::load_tfjs(model());
  EXPECT_THROW(graph.run({}, {"y"}), Error);
  try {
    graph.run({{"x", Tensor::zeros({2})}}, {"y"});
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("input 'x' expects shape (1"), std::string::npos)
        << e.what();
  }
  EXPECT_THROW(graph.run({{"x", Tensor::zeros({1})}}, {"nowhere"}), Error);
  EXPECT_THROW(OpGraph::load_tfjs((dir_ / "missing.json").string()), Error);
}

}  // namespace
}  // namespace kiln
