// Model files: save → load round trips give identical predictions; Keras 2 and Keras 3 configs
// build the same architecture; a file of another architecture leaves the model unchanged.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "kiln/error.h"
#include "kiln/model_io.h"
#include "temp_dir.h"

namespace kiln {
namespace {

namespace fs = std::filesystem;

class ModelIo : public kiln::testing::TempDirTest {
 protected:
  void SetUp() override {
    TempDirTest::SetUp();
    clear_session();
  }
};

TEST_F(ModelIo, SeedModelRoundTripPredictsTheSame) {
  auto model = seed_model();
  model->compile(std::make_shared<Adam>(AdamOptions{.learning_rate = 5e-4}),
                 "categorical_crossentropy", {"accuracy"});
  const Tensor x = Tensor::uniform({3, 28, 28, 1}, 0, 1, 5);
  const Tensor before = model->predict(x);
  save_model(*model, path("model.h5"));
  auto loaded = load_model(path("model.h5"));
  EXPECT_EQ(loaded->summary(), model->summary());
  EXPECT_EQ(loaded->predict(x).to_vector<float>(), before.to_vector<float>());
  ASSERT_TRUE(loaded->compiled());
  EXPECT_DOUBLE_EQ(loaded->optimizer().learning_rate(), 5e-4);
  EXPECT_EQ(loaded->compile_options().loss.at(""), "categorical_crossentropy");
}

TEST_F(ModelIo, FunctionalTwoHeadRoundTrip) {
  SymbolicTensor in = Input({6, 6, 1}, "input");
  SymbolicTensor f1 = Flatten("flatten_1")(
      MaxPooling2D(2)(Conv2D(3, 3, {.activation = "relu", .name = "conv_1"})(in)));
  SymbolicTensor f2 = Flatten("flatten_2")(in);
  SymbolicTensor num =
      Dense(10, {.activation = "softmax", .name = "num_out"})(Concatenate()({f1, f2}));
  SymbolicTensor odd = Dense(1, {.activation = "sigmoid", .name = "odd_out"})(f2);
  Model model({in}, {num, odd}, "two_heads");
  const Tensor x = Tensor::uniform({2, 6, 6, 1}, 0, 1, 6);
  const TensorMap before = model.predict({{"input", x}});
  save_model(model, path("two.h5"));
  auto loaded = load_model(path("two.h5"));
  EXPECT_EQ(loaded->summary(), model.summary());
  const TensorMap after = loaded->predict({{"input", x}});
  EXPECT_EQ(after.at("num_out").to_vector<float>(), before.at("num_out").to_vector<float>());
  EXPECT_EQ(after.at("odd_out").to_vector<float>(), before.at("odd_out").to_vector<float>());
}

TEST_F(ModelIo, WeightsOfAnotherArchitectureChangeNothing) {
  auto model = seed_model();
  save_weights(*model, path("seed.h5"));
  clear_session();
  Sequential other(
      {InputLayer({28, 28, 1}), Conv2D(32, 3, {.activation = "relu"}), Flatten(), Dense(10)});
  const std::vector<float> kept = other.weights()[0]->value().to_vector<float>();
  try {
    load_weights(other, path("seed.h5"));
    FAIL() << "loading seed weights into another model must fail";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("seed.h5"), std::string::npos) << e.what();
  }
  EXPECT_EQ(other.weights()[0]->value().to_vector<float>(), kept);
  // Same architecture, fresh weights: loading restores the saved values.
  clear_session();
  auto twin = seed_model();
  set_random_seed(7);
  clear_session();
  auto fresh = seed_model();
  set_random_seed(1337);
  EXPECT_NE(fresh->weights()[0]->value().to_vector<float>(),
            model->weights()[0]->value().to_vector<float>());
  load_weights(*fresh, path("seed.h5"));
  EXPECT_EQ(fresh->weights()[0]->value().to_vector<float>(),
            model->weights()[0]->value().to_vector<float>());
}

TEST_F(ModelIo, ReadsKeras3Config) {
  // The model_config Keras 3 writes into a legacy .h5 file (dtype policies, batch_shape,
  // module/registered_name keys, inbound nodes as keras tensors).
  const std::string config = R"({"module": "keras", "class_name": "Functional", "config": {
    "name": "functional", "trainable": true, "layers": [
      {"module": "keras.layers", "class_name": "InputLayer", "config": {"batch_shape": [null, 4, 4, 1],
       "dtype": "float32", "sparse": false, "name": "input_layer"}, "registered_name": null,
       "name": "input_layer", "inbound_nodes": []},
      {"module": "keras.layers", "class_name": "Flatten", "config": {"name": "flatten", "trainable": true,
       "dtype": {"module": "keras", "class_name": "DTypePolicy", "config": {"name": "float32"},
       "registered_name": null}, "data_format": "channels_last"}, "registered_name": null,
       "build_config": {"input_shape": [null, 4, 4, 1]}, "name": "flatten", "inbound_nodes": [
       {"args": [{"class_name": "__keras_tensor__", "config": {"shape": [null, 4, 4, 1],
       "dtype": "float32", "keras_history": ["input_layer", 0, 0]}}], "kwargs": {}}]},
      {"module": "keras.layers", "class_name": "Dense", "config": {"name": "dense", "trainable": true,
       "dtype": {"module": "keras", "class_name": "DTypePolicy", "config": {"name": "float32"},
       "registered_name": null}, "units": 3, "activation": "softmax", "use_bias": true,
       "kernel_initializer": {"module": "keras.initializers", "class_name": "GlorotUniform",
       "config": {"seed": null}, "registered_name": null}}, "registered_name": null,
       "name": "dense", "inbound_nodes": [{"args": [{"class_name": "__keras_tensor__", "config": {
       "shape": [null, 16], "dtype": "float32", "keras_history": ["flatten", 0, 0]}}], "kwargs": {}}]}],
    "input_layers": [["input_layer", 0, 0]], "output_layers": [["dense", 0, 0]]}, "registered_name": "Functional"})";
  auto model = model_from_json(config);
  EXPECT_EQ(model->count_params(), 16 * 3 + 3);
  EXPECT_EQ(model->output_names(), (std::vector<std::string>{"dense"}));
  EXPECT_EQ(model->call(Tensor::zeros({2, 4, 4, 1})).shape(), (Shape{2, 3}));
}

// Keras <= 2.2.x: a Sequential's "config" is the list of its layers itself (as in the model_config
// of h5 files Keras 2.1 and 2.2 wrote), the first layer carrying batch_input_shape.
TEST_F(ModelIo, Keras22SequentialConfigsAreTheListOfLayers) {
  const std::string layers = R"([
    {"class_name": "Conv2D", "config": {"name": "conv2d_1", "trainable": true,
      "batch_input_shape": [null, 6, 6, 1], "dtype": "float32", "filters": 2,
      "kernel_size": [3, 3], "strides": [1, 1], "padding": "valid", "data_format": "channels_last",
      "dilation_rate": [1, 1], "activation": "relu", "use_bias": true}},
    {"class_name": "Flatten", "config": {"name": "flatten_1", "trainable": true}},
    {"class_name": "Dense", "config": {"name": "dense_1", "trainable": true, "units": 3,
      "activation": "softmax", "use_bias": true}}])";
  auto old_style = model_from_json(R"({"class_name": "Sequential", "config": )" + layers + "}");
  auto new_style = model_from_json(
      R"({"class_name": "Sequential", "config": {"name": "s", "layers": )" + layers + "}}");
  EXPECT_EQ(old_style->count_params(), 2 * 9 + 2 + 32 * 3 + 3);
  EXPECT_EQ(old_style->count_params(), new_style->count_params());
  EXPECT_EQ(old_style->output_names(), (std::vector<std::string>{"dense_1"}));
  EXPECT_EQ(old_style->call(Tensor::zeros({2, 6, 6, 1})).shape(), (Shape{2, 3}));
}

TEST_F(ModelIo, UnsupportedLayersAreNamed) {
  const std::string config = R"({"class_name": "Sequential", "config": {"name": "s", "layers": [
    {"class_name": "InputLayer", "config": {"batch_input_shape": [null, 8], "name": "in"}},
    {"class_name": "LSTM", "config": {"name": "lstm", "units": 4}}]}})";
  try {
    model_from_json(config);
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("unsupported layer class 'LSTM'"), std::string::npos)
        << e.what();
  }
  EXPECT_THROW(model_from_json("{not json"), Error);
  EXPECT_THROW(model_from_json(R"({"class_name": "Sequential", "config": {"layers": [
    {"class_name": "Conv2D", "config": {"name": "c", "filters": 2, "kernel_size": 3, "dilation_rate": [2, 2]}}]}})"),
               Error);
}

}  // namespace
}  // namespace kiln
