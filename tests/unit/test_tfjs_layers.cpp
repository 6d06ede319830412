// TF.js layers models (model.json + shards) load through load_model: a small MobileNet-like CNN
// written by tests/reference/tfjs_layers_files.py in each weight encoding (float32 over two
// shards, float16, uint8 in two groups, uint16) predicts what a numpy model with the same
// dequantised weights predicts; float16 decoding is checked value by value; bad files are
// Errors that name the file, what was expected and what was found.
#include <gtest/gtest.h>

#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <limits>

#include <nlohmann/json.hpp>

#include "kiln/error.h"
#include "kiln/model_io.h"
#include "kiln/optimizers.h"
#include "temp_dir.h"

namespace kiln {
namespace {

using Json = nlohmann::json;

class TfjsLayers : public testing::TempDirTest {
 protected:
  void SetUp() override {
    TempDirTest::SetUp();
    clear_session();
    const std::string command = "/usr/bin/python3 " + std::string(KILN_SOURCE_DIR) +
                                "/tests/reference/tfjs_layers_files.py " + dir_.string();
    ASSERT_EQ(std::system(command.c_str()), 0)
        << "writing the TF.js files failed: " << command << " (needs Debian python3-numpy)";
  }

  std::vector<float> predict(const std::string& encoding) {
    auto model = load_model(path(encoding + "/model.json"));
    std::vector<float> x(2 * 8 * 8 * 3);
    std::ifstream(path("x.bin"), std::ios::binary)
        .read(reinterpret_cast<char*>(x.data()),
              static_cast<std::streamsize>(x.size() * sizeof(float)));
    return model->predict(Tensor::from_vector(x, {2, 8, 8, 3})).to_vector<float>();
  }

  std::vector<double> reference(const std::string& encoding) const {
    std::ifstream in(path("ref.json"));
    return Json::parse(in)[encoding].get<std::vector<double>>();
  }

  Json read_json(const std::string& name) const {
    std::ifstream in(path(name));
    return Json::parse(in);
  }

  void write_json(const std::string& name, const Json& json) const {
    std::ofstream(path(name)) << json.dump();
  }

  // Rewrites every entry of the first manifest group of `name` with `edit`.
  void edit_weights(const std::string& name, const std::function<void(Json&)>& edit) const {
    Json json = read_json(name);
    for (Json& entry : json["weightsManifest"][0]["weights"]) edit(entry);
    write_json(name, json);
  }

  // The message of the Error load_model(path(name)) throws; "" when it loads.
  std::string load_error(const std::string& name) const {
    try {
      load_model(path(name));
    } catch (const Error& e) {
      return e.what();
    }
    return "";
  }
};

double max_difference(const std::vector<float>& got, const std::vector<double>& want) {
  double worst = 0;
  for (std::size_t i = 0; i < want.size(); ++i) worst = std::max(worst, std::abs(got[i] - want[i]));
  return worst;
}

TEST_F(TfjsLayers, EveryEncodingMatchesTheNumpyModel) {
  for (const char* encoding : {"float32", "float16", "uint8", "uint16"}) {
    const std::vector<float> probs = predict(encoding);
    const std::vector<double> want = reference(encoding);
    ASSERT_EQ(probs.size(), want.size()) << encoding;
    for (std::size_t i = 0; i < want.size(); ++i)
      EXPECT_NEAR(probs[i], want[i], 1e-5) << encoding << " " << i;
  }
}

// The quantised weights really are dequantised (not read as float32 or ignored): the 8-bit and
// half-precision models differ from the float32 one by far more than the tolerance above.
TEST_F(TfjsLayers, QuantisedModelsDifferFromFloat32AsTheirReferencesDo) {
  const std::vector<double> float32 = reference("float32");
  EXPECT_GT(max_difference(predict("uint8"), float32), 1e-4);
  EXPECT_GT(max_difference(predict("float16"), float32), 1.5e-5);
}

TEST_F(TfjsLayers, ReadsKerasTrainingConfigs) {  // modelTopology.training_config, Keras 2.2's "lr"
  auto model = load_model(path("uint8/model.json"));
  ASSERT_TRUE(model->compiled());
  EXPECT_EQ(model->compile_options().loss.at(""), "categorical_crossentropy");
  const auto* sgd = dynamic_cast<const SGD*>(&model->optimizer());
  ASSERT_NE(sgd, nullptr);
  EXPECT_DOUBLE_EQ(sgd->learning_rate(), 0.01);
  EXPECT_NE(model->summary().find("Non-trainable params: 16\n"), std::string::npos)
      << model->summary();
}

TEST_F(TfjsLayers,
       ReadsTfjsTrainingConfigs) {  // trainingConfig: categoricalCrossentropy, learningRate
  auto model = load_model(path("float16/model.json"));
  ASSERT_TRUE(model->compiled());
  EXPECT_EQ(model->compile_options().loss.at(""), "categorical_crossentropy");
  const auto* adam = dynamic_cast<const Adam*>(&model->optimizer());
  ASSERT_NE(adam, nullptr);
  EXPECT_DOUBLE_EQ(adam->options().learning_rate, 0.005);
  EXPECT_DOUBLE_EQ(adam->options().beta_1, 0.8);
  EXPECT_DOUBLE_EQ(adam->options().beta_2, 0.99);
  EXPECT_DOUBLE_EQ(adam->options().epsilon, 1e-6);
}

TEST_F(TfjsLayers, AShortShardNamesTheFileAndTheByteCounts) {
  const std::string shard = path("float32/group1-shard2of2.bin");
  std::filesystem::resize_file(shard, std::filesystem::file_size(shard) - 3);
  const std::string message = load_error("float32/model.json");
  EXPECT_NE(
      message.find("weightsManifest group 1: its weights take 780 bytes, its shards hold 777"),
      std::string::npos)
      << message;
  EXPECT_NE(message.find("group1-shard2of2.bin (386 bytes)"), std::string::npos) << message;
  EXPECT_NE(message.find("a shard is missing bytes"), std::string::npos) << message;
}

TEST_F(TfjsLayers, AMissingShardIsNamed) {
  std::filesystem::remove(path("uint8/group2-shard1of1.bin"));
  const std::string message = load_error("uint8/model.json");
  EXPECT_NE(message.find("weightsManifest group 2: shard " + path("uint8/group2-shard1of1.bin") +
                         " is missing"),
            std::string::npos)
      << message;
}

TEST_F(TfjsLayers, AWeightOfAnotherShapeIsAnError) {
  edit_weights("float32/model.json", [](Json& entry) {
    if (entry["name"] == "dense/kernel") entry["shape"] = {3, 4};
  });
  const std::string message = load_error("float32/model.json");
  EXPECT_NE(
      message.find("weight 'dense/kernel' has shape (3, 4), model 'tiny_mobilenet' expects (4, 3)"),
      std::string::npos)
      << message;
}

TEST_F(TfjsLayers, MissingAndLeftOverWeightsAreListed) {
  edit_weights("float16/model.json", [](Json& entry) {
    if (entry["name"] == "bn2/gamma") entry["name"] = "bn3/gamma";
  });
  const std::string message = load_error("float16/model.json");
  EXPECT_NE(message.find("1 of model 'tiny_mobilenet''s 13 weights are not in the file: bn2/gamma"),
            std::string::npos)
      << message;
  edit_weights("float16/model.json", [](Json& entry) {
    if (entry["name"] == "bn3/gamma") entry["name"] = "bn2/gamma";
  });
  Json json = read_json("float16/model.json");
  json["weightsManifest"][0]["weights"].push_back(
      {{"name", "extra/bias"}, {"shape", {0}}, {"dtype", "float32"}});
  write_json("float16/model.json", json);
  const std::string leftover = load_error("float16/model.json");
  EXPECT_NE(leftover.find(
                "the file holds 1 weight(s) that model 'tiny_mobilenet' does not have: extra/bias"),
            std::string::npos)
      << leftover;
}

TEST_F(TfjsLayers, UnsupportedEntriesAreRefusedByName) {
  edit_weights("uint8/model.json", [](Json& entry) {
    if (entry["name"] == "bn1/beta") entry["quantization"]["dtype"] = "int4";
  });
  const std::string quantization = load_error("uint8/model.json");
  EXPECT_NE(
      quantization.find(
          "weight 'bn1/beta': quantization dtype 'int4' is not supported (uint8, uint16, float16)"),
      std::string::npos)
      << quantization;
  edit_weights("float32/model.json", [](Json& entry) {
    if (entry["name"] == "bn1/beta") entry["dtype"] = "int32";
  });
  const std::string dtype = load_error("float32/model.json");
  EXPECT_NE(dtype.find("weight 'bn1/beta': dtype 'int32' is not supported"), std::string::npos)
      << dtype;
}

TEST_F(TfjsLayers, AGraphModelOrAPlainKerasConfigIsNotALayersModel) {
  write_json("graph.json", {{"format", "graph-model"},
                            {"modelTopology", {{"node", Json::array()}}},
                            {"weightsManifest", Json::array()}});
  EXPECT_NE(load_error("graph.json").find("a TF.js graph model (format \"graph-model\""),
            std::string::npos)
      << load_error("graph.json");
  write_json("arch.json", read_json("float16/model.json")["modelTopology"]);
  // Without a weightsManifest it is a Keras architecture (model.to_json()), which needs weights.
  EXPECT_NE(load_error("arch.json").find("an architecture without weights; give its weights file"),
            std::string::npos)
      << load_error("arch.json");
}

// One Dense(2) layer on 3 inputs, its float16 kernel holding IEEE half's edge cases.
TEST_F(TfjsLayers, Float16DecodesEveryKindOfHalf) {
  const std::vector<std::uint16_t> halves = {0x3c00, 0xc000, 0x0001, 0x8000, 0x7bff, 0x3555};
  const std::vector<float> want = {1.0f,  -2.0f,    5.9604644775390625e-8f,
                                   -0.0f, 65504.0f, 0.333251953125f};
  std::filesystem::create_directories(path("half"));
  write_json("half/model.json", Json::parse(R"({
    "modelTopology": {"class_name": "Sequential", "config": {"name": "s", "layers": [
      {"class_name": "Dense", "config": {"name": "d", "units": 2, "use_bias": false,
                                         "batch_input_shape": [null, 3]}}]}},
    "weightsManifest": [{"paths": ["w.bin"], "weights": [
      {"name": "d/kernel", "shape": [3, 2], "dtype": "float32", "quantization": {"dtype": "float16"}}]}]})"));
  std::ofstream(path("half/w.bin"), std::ios::binary)
      .write(reinterpret_cast<const char*>(halves.data()),
             static_cast<std::streamsize>(halves.size() * 2));
  auto model = load_model(path("half/model.json"));
  const std::vector<float> got = model->weights()[0]->value().to_vector<float>();
  ASSERT_EQ(got.size(), want.size());
  for (std::size_t i = 0; i < want.size(); ++i) {
    EXPECT_EQ(got[i], want[i]) << i;
    EXPECT_EQ(std::signbit(got[i]), std::signbit(want[i])) << i;
  }
  const std::uint16_t infinity = 0x7c00;
  std::ofstream(path("half/w.bin"), std::ios::binary | std::ios::in)
      .write(reinterpret_cast<const char*>(&infinity), 2);
  const std::string message = load_error("half/model.json");
  EXPECT_NE(
      message.find("weight 'd/kernel' of shape (3, 2): element 0 is inf (weights must be finite)"),
      std::string::npos)
      << message;
}

}  // namespace
}  // namespace kiln
