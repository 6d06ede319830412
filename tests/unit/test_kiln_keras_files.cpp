// Files kiln writes, read back by kiln and by Python's zipfile + h5py
// (tests/reference/inspect_keras_files.py): the .keras archive has Keras 3's layout, the .h5 has
// Keras 2's optimizer_weights layout with Adam's state, and both carry a self-test that
// load_model(path, {.verify = true}) runs and that fails when a weight is changed.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <fstream>

#include <nlohmann/json.hpp>

#include "kiln/kiln.h"
#include "temp_dir.h"

namespace kiln {
namespace {

using Json = nlohmann::json;

class KilnKerasFiles : public kiln::testing::TempDirTest {
 protected:
  void SetUp() override {
    TempDirTest::SetUp();
    clear_session();
  }

  // conv -> pool -> flatten -> dense -> dense, trained one step with Adam so it has state.
  static std::unique_ptr<Sequential> trained_cnn() {
    auto model = std::make_unique<Sequential>(
        std::vector<LayerRef>{InputLayer({8, 8, 1}), Conv2D(4, 3, {.activation = "relu"}),
                              MaxPooling2D(2), Flatten(), Dense(8, {.activation = "relu"}),
                              Dense(5, {.activation = "softmax"})},
        "cnn");
    model->compile(std::make_shared<Adam>(AdamOptions{.learning_rate = 2e-3}),
                   "categorical_crossentropy", {"accuracy"});
    const Tensor x = Tensor::uniform({4, 8, 8, 1}, 0, 1, 3);
    const Tensor y = one_hot(Tensor::from_vector(std::vector<std::int32_t>{0, 1, 2, 3}, {4}), 5);
    model->train_step({{model->input_names()[0], x}}, {{model->output_names()[0], y}});
    return model;
  }

  Json inspect(const std::string& keras, const std::string& h5) {
    const std::string command = "/usr/bin/python3 " + std::string(KILN_SOURCE_DIR) +
                                "/tests/reference/inspect_keras_files.py " + keras + " " + h5 +
                                " " + path("report.json");
    EXPECT_EQ(std::system(command.c_str()), 0) << command;
    std::ifstream in(path("report.json"));
    return Json::parse(in);
  }
};

std::vector<double> values_of(const Tensor& tensor) {
  const std::vector<float> v = tensor.to(Device::cpu()).astype(DType::f32).to_vector<float>();
  return {v.begin(), v.end()};
}

TEST_F(KilnKerasFiles, KerasArchiveRoundTripPredictsTheSame) {
  auto model = trained_cnn();
  const Tensor x = Tensor::uniform({3, 8, 8, 1}, 0, 1, 9);
  save_model(*model, path("cnn.keras"));
  auto loaded = load_model(path("cnn.keras"), {.verify = true});
  EXPECT_EQ(loaded->predict(x).to_vector<float>(), model->predict(x).to_vector<float>());
  EXPECT_EQ(loaded->summary(), model->summary());
  ASSERT_TRUE(loaded->compiled());
  EXPECT_DOUBLE_EQ(loaded->optimizer().learning_rate(), 2e-3);
}

// Two branches into a merge: Keras 3 call nodes ({"args": [[tensor, tensor]]}) written and read.
TEST_F(KilnKerasFiles, FunctionalArchiveRoundTripPredictsTheSame) {
  SymbolicTensor in = Input({6, 6, 2}, "pixels");
  SymbolicTensor wide = Conv2D(3, 3, {.padding = Padding::parse("same"), .name = "wide"})(in);
  SymbolicTensor narrow = Conv2D(3, 1, {.name = "narrow"})(in);
  SymbolicTensor sum = Add("sum")({wide, narrow});
  SymbolicTensor out =
      Dense(4, {.activation = "softmax", .name = "out"})(GlobalAveragePooling2D(false, "gap")(sum));
  Model model({in}, {out}, "branches");
  const Tensor x = Tensor::uniform({2, 6, 6, 2}, -1, 1, 4);
  save_model(model, path("branches.keras"));
  auto loaded = load_model(path("branches.keras"), {.verify = true});
  EXPECT_EQ(loaded->summary(), model.summary());
  EXPECT_EQ(loaded->predict(x).to_vector<float>(), model.predict(x).to_vector<float>());
}

TEST_F(KilnKerasFiles, ArchiveAndH5HaveTheLayoutKerasReads) {
  auto model = trained_cnn();
  save_model(*model, path("cnn.keras"));
  save_model(*model, path("cnn.h5"));
  const Json report = inspect(path("cnn.keras"), path("cnn.h5"));

  EXPECT_EQ(report["members"][0], "metadata.json");
  EXPECT_EQ(report["members"][1], "config.json");
  EXPECT_EQ(report["members"][2], "model.weights.h5");
  EXPECT_TRUE(report["stored"].get<bool>());
  EXPECT_EQ(report["metadata"]["keras_version"].get<std::string>().substr(0, 2), "3.");
  EXPECT_EQ(report["metadata"]["date_saved"].get<std::string>().size(),
            19u);  // 2026-12-07@11:15:00
  const Json& config = report["config"];
  EXPECT_EQ(config["class_name"], "Sequential");
  EXPECT_EQ(config["module"], "keras");
  EXPECT_EQ(config["config"]["layers"][0]["class_name"], "InputLayer");
  EXPECT_EQ(config["config"]["layers"][0]["config"]["batch_shape"], Json::parse("[null, 8, 8, 1]"));
  EXPECT_EQ(config["config"]["layers"][1]["module"], "keras.layers");
  EXPECT_FALSE(config["config"]["layers"][0]["config"].contains("ragged"));
  EXPECT_EQ(config["config"]["layers"][1]["config"]["dtype"]["class_name"], "DTypePolicy");
  EXPECT_EQ(config["config"]["layers"][1]["config"]["kernel_initializer"]["module"],
            "keras.initializers");
  EXPECT_EQ(config["config"]["layers"][4]["build_config"]["input_shape"],
            Json::parse("[null, 36]"));
  EXPECT_EQ(config["compile_config"]["optimizer"]["class_name"], "Adam");
  EXPECT_EQ(config["compile_config"]["loss"], "categorical_crossentropy");

  // Every weight at layers/<snake-case class>[_n]/vars/<i>, equal to the model's.
  EXPECT_EQ(report["groups"], Json::parse(R"(["layers", "vars"])"));
  const Json& weights = report["weights"];
  EXPECT_EQ(weights.size(), 6u);
  const std::vector<std::pair<std::string, std::string>> expected = {
      {"layers/conv2d/vars/0", "conv2d"},   {"layers/conv2d/vars/1", "conv2d"},
      {"layers/dense/vars/0", "dense"},     {"layers/dense/vars/1", "dense"},
      {"layers/dense_1/vars/0", "dense_1"}, {"layers/dense_1/vars/1", "dense_1"}};
  for (const auto& [stored, layer] : expected) {
    ASSERT_TRUE(weights.contains(stored)) << stored;
    const Tensor& value = model->get_layer(layer)->weights()[stored.back() - '0']->value();
    EXPECT_EQ(weights[stored]["dtype"], "float32");
    EXPECT_EQ(weights[stored]["shape"].get<Shape>(), value.shape()) << stored;
    EXPECT_EQ(weights[stored]["values"].get<std::vector<double>>(), values_of(value)) << stored;
  }

  // optimizer_weights: Adam/iter:0 (int64, the step count), then m and v per trainable variable.
  EXPECT_EQ(report["h5_attrs"]["kiln_version"], version());
  EXPECT_EQ(report["h5_attrs"]["keras_version"], "2.15.0");
  const auto names = report["optimizer_weight_names"].get<std::vector<std::string>>();
  ASSERT_EQ(names.size(), 13u);
  EXPECT_EQ(names[0], "Adam/iter:0");
  EXPECT_EQ(names[1], "Adam/conv2d/kernel/m:0");
  EXPECT_EQ(names[6], "Adam/dense_1/bias/m:0");
  EXPECT_EQ(names[7], "Adam/conv2d/kernel/v:0");
  EXPECT_EQ(names[12], "Adam/dense_1/bias/v:0");
  const Json& slots = report["optimizer_weights"];
  EXPECT_EQ(slots["Adam/iter:0"]["dtype"], "int64");
  EXPECT_EQ(slots["Adam/iter:0"]["values"], Json::parse("[1.0]"));
  const std::vector<Tensor> state = model->optimizer().state();
  for (std::size_t i = 1; i < names.size(); ++i) {
    EXPECT_EQ(slots[names[i]]["values"].get<std::vector<double>>(), values_of(state[i - 1]))
        << names[i];
  }
}

TEST_F(KilnKerasFiles, H5RestoresAdamState) {
  auto model = trained_cnn();
  save_model(*model, path("cnn.h5"));
  auto loaded = load_model(path("cnn.h5"));
  ASSERT_TRUE(loaded->compiled());
  EXPECT_EQ(loaded->optimizer().iterations(), 1);
  const std::vector<Tensor> want = model->optimizer().state();
  const std::vector<Tensor> got = loaded->optimizer().state();
  ASSERT_EQ(got.size(), want.size());
  for (std::size_t i = 0; i < want.size(); ++i)
    EXPECT_EQ(values_of(got[i]), values_of(want[i])) << i;
}

// Optimizer state kiln does not know (AMSGrad's vhat slots here) is left unread, not an error.
TEST_F(KilnKerasFiles, OtherOptimizerStateLoadsWithAFreshOptimizer) {
  auto model = trained_cnn();
  save_model(*model, path("cnn.h5"));
  const std::string command =
      "/usr/bin/python3 -c \"import h5py, numpy as np; f = h5py.File('" + path("cnn.h5") +
      "', 'r+'); g = f['optimizer_weights']; names = list(g.attrs['weight_names']) + "
      "[b'Adam/conv2d/kernel/vhat:0']; g.attrs['weight_names'] = names; "
      "g.create_dataset('Adam/conv2d/kernel/vhat:0', data=np.zeros((3, 3, 1, 4), 'f4')); "
      "f.close()\"";
  ASSERT_EQ(std::system(command.c_str()), 0);
  auto loaded = load_model(path("cnn.h5"));
  ASSERT_TRUE(loaded->compiled());
  EXPECT_EQ(loaded->optimizer().iterations(), 0);
  EXPECT_TRUE(loaded->optimizer().state().empty());
}

TEST_F(KilnKerasFiles, SelfTestPassesAndCatchesAChangedWeight) {
  auto model = trained_cnn();
  save_model(*model, path("cnn.h5"));
  EXPECT_NO_THROW(load_model(path("cnn.h5"), {.verify = true}));
  // Change one bias value in place, as a bad copy or another writer would.
  const std::string command =
      "/usr/bin/python3 -c \"import h5py; f = h5py.File('" + path("cnn.h5") +
      "', 'r+'); d = f['model_weights/dense_1/dense_1/bias:0']; v = d[()]; v[0] += 0.5; "
      "d[...] = v; f.close()\"";
  ASSERT_EQ(std::system(command.c_str()), 0);
  clear_session();
  EXPECT_NO_THROW(load_model(path("cnn.h5")));
  clear_session();
  try {
    load_model(path("cnn.h5"), {.verify = true});
    ADD_FAILURE() << "a changed weight passed the self-test";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("self-test failed"), std::string::npos) << e.what();
  }
}

TEST_F(KilnKerasFiles, VerifyWithoutAStoredSelfTestIsAnError) {
  auto model = trained_cnn();
  save_weights(*model, path("weights.h5"));
  std::ofstream(path("arch.json")) << model_config_json(*model);
  clear_session();
  auto loaded = load_model(path("arch.json"), {.weights = path("weights.h5")});
  EXPECT_EQ(loaded->predict(Tensor::uniform({1, 8, 8, 1}, 0, 1, 2)).to_vector<float>(),
            model->predict(Tensor::uniform({1, 8, 8, 1}, 0, 1, 2)).to_vector<float>());
  clear_session();
  EXPECT_THROW(load_model(path("arch.json"), {.weights = path("weights.h5"), .verify = true}),
               Error);
}

}  // namespace
}  // namespace kiln
