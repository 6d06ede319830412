// Keras's per-layer `trainable`: a frozen layer's weights come through fit bit for bit, a frozen
// BatchNormalization runs in inference mode, summary counts frozen weights as "Non-trainable
// params" (Keras's arithmetic), and the flag is read from and written to Keras configs.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "kiln/error.h"
#include "kiln/model.h"
#include "kiln/model_io.h"
#include "temp_dir.h"

namespace kiln {
namespace {

using Trainable = testing::TempDirTest;

// conv 3*3*2*4 + 4 = 76 params, batch norm 4 * 4 = 16 (8 of them moving statistics), dense 4*3 + 3
// = 15: 107 in all.
std::unique_ptr<Model> small_model() {
  return std::make_unique<Sequential>(std::vector<LayerRef>{
      InputLayer({6, 6, 2}), Conv2D(4, 3, {.name = "conv"}), BatchNormalization({.name = "bn"}),
      ReLU(), GlobalAveragePooling2D(), Dense(3, {.activation = "softmax", .name = "dense"})});
}

std::vector<std::vector<float>> values_of(const Layer& layer) {
  std::vector<std::vector<float>> values;
  for (const auto& w : layer.weights()) values.push_back(w->value().to_vector<float>());
  return values;
}

std::string line_of(const std::string& summary, const std::string& start) {
  const std::size_t at = summary.find(start);
  if (at == std::string::npos) return "";
  return summary.substr(at, summary.find('\n', at) - at);
}

TEST_F(Trainable, FitLeavesFrozenLayersBitIdenticalAndTrainsTheOthers) {
  auto model = small_model();
  model->get_layer("conv")->set_trainable(false);
  model->get_layer("bn")->set_trainable(false);
  model->compile(std::make_shared<Adam>(AdamOptions{0.05}), "sparse_categorical_crossentropy");
  const Tensor x = Tensor::uniform({16, 6, 6, 2}, 0, 1, 5);
  const Tensor y = Tensor::from_vector(
      std::vector<std::int32_t>{0, 1, 2, 0, 1, 2, 0, 1, 2, 0, 1, 2, 0, 1, 2, 0}, {16});
  model->predict(x);  // builds the weights
  const auto conv = values_of(*model->get_layer("conv"));
  const auto bn = values_of(*model->get_layer("bn"));
  const auto dense = values_of(*model->get_layer("dense"));
  model->fit(x, y, {.batch_size = 4, .epochs = 2, .verbose = 0});
  EXPECT_EQ(values_of(*model->get_layer("conv")), conv);
  // gamma, beta and the moving statistics: a frozen BatchNormalization does not move them.
  EXPECT_EQ(values_of(*model->get_layer("bn")), bn);
  const auto trained = values_of(*model->get_layer("dense"));
  ASSERT_EQ(trained.size(), 2u);
  EXPECT_NE(trained[0], dense[0]);
  EXPECT_NE(trained[1], dense[1]);
}

TEST_F(Trainable, FrozenBatchNormalizationNormalisesWithTheMovingStatisticsInTraining) {
  const Tensor x = Tensor::uniform({8, 6, 6, 2}, 0, 3, 9);
  auto model = small_model();
  // Trainable: a training call normalises with the batch's statistics (and moves the moving ones).
  const std::vector<float> batch = model->call(x, true).to_vector<float>();
  const std::vector<float> inference = model->call(x, false).to_vector<float>();
  EXPECT_NE(batch, inference);
  model->get_layer("bn")->set_trainable(false);
  EXPECT_EQ(model->call(x, true).to_vector<float>(), inference);
  EXPECT_EQ(model->call(x, false).to_vector<float>(), inference);  // the statistics stayed
}

TEST_F(Trainable, SummaryAndTrainableWeightsCountFrozenLayers) {
  auto model = small_model();
  model->get_layer("conv")->set_trainable(false);
  const std::string summary = model->summary();
  // Keras: trainable = the trainable weights of trainable layers = 99 - 76 = 23; the rest, 76 + the
  // 8 moving statistics = 84, is non-trainable.
  EXPECT_EQ(line_of(summary, "Total params:"), "Total params: 107") << summary;
  EXPECT_EQ(line_of(summary, "Trainable params:"), "Trainable params: 23") << summary;
  EXPECT_EQ(line_of(summary, "Non-trainable params:"), "Non-trainable params: 84") << summary;
  // bn's gamma and beta, dense's kernel and bias.
  EXPECT_EQ(model->trainable_weights().size(), 4u);
  model->get_layer("conv")->set_trainable(true);
  model->get_layer("bn")->set_trainable(false);
  EXPECT_EQ(line_of(model->summary(), "Trainable params:"), "Trainable params: 91");
  EXPECT_EQ(line_of(model->summary(), "Non-trainable params:"), "Non-trainable params: 16");
  EXPECT_EQ(model->trainable_weights().size(), 4u);
}

TEST_F(Trainable, TheFlagSurvivesAnH5RoundTrip) {
  auto model = small_model();
  model->get_layer("conv")->set_trainable(false);
  model->predict(Tensor::uniform({1, 6, 6, 2}, 0, 1, 3));
  save_model(*model, path("model.h5"));
  const auto loaded = load_model(path("model.h5"));
  EXPECT_FALSE(loaded->get_layer("conv")->trainable());
  EXPECT_TRUE(loaded->get_layer("bn")->trainable());
  EXPECT_TRUE(loaded->get_layer("dense")->trainable());
  const auto config = nlohmann::json::parse(model_config_json(*loaded));
  for (const auto& layer : config["config"]["layers"]) {
    const std::string name = layer["config"]["name"];
    if (name == "conv" || name == "bn" || name == "dense") {
      EXPECT_EQ(layer["config"]["trainable"], name != "conv") << name;
    }
  }
}

TEST_F(Trainable, KerasConfigsFreezeLayers) {
  const std::string config =
      R"({"class_name": "Sequential", "config": {"name": "s", "layers": [
    {"class_name": "InputLayer", "config": {"batch_input_shape": [null, 4], "name": "in"}},
    {"class_name": "Dense", "config": {"name": "frozen", "trainable": false, "units": 5}},
    {"class_name": "Dense", "config": {"name": "head", "trainable": true, "units": 2}}]}})";
  const auto model = model_from_json(config);
  EXPECT_FALSE(model->get_layer("frozen")->trainable());
  EXPECT_TRUE(model->get_layer("head")->trainable());
  // 4*5 + 5 = 25 frozen, 5*2 + 2 = 12 trainable.
  EXPECT_EQ(line_of(model->summary(), "Trainable params:"), "Trainable params: 12");
  EXPECT_EQ(line_of(model->summary(), "Non-trainable params:"), "Non-trainable params: 25");
  const std::string bad =
      R"({"class_name": "Sequential", "config": {"name": "s", "layers": [
    {"class_name": "InputLayer", "config": {"batch_input_shape": [null, 4], "name": "in"}},
    {"class_name": "Dense", "config": {"name": "d", "trainable": "no", "units": 5}}]}})";
  try {
    model_from_json(bad);
    FAIL() << "a non-boolean trainable was accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("layer 'd' (Dense): trainable must be true or false, "
                                         "found \"no\""),
              std::string::npos)
        << e.what();
  }
}

}  // namespace
}  // namespace kiln
