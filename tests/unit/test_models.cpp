// Layers, models, summary text, optimizers and a short training run of the seed model.
#include <gtest/gtest.h>

#include <cmath>

#include "kiln/error.h"
#include "kiln/model.h"

namespace kiln {
namespace {

class Models : public ::testing::Test {
 protected:
  void SetUp() override {
    clear_session();
    set_random_seed(1337);
  }
};

std::string join(const std::vector<std::string>& lines) {
  std::string text;
  for (const auto& l : lines) text += l + "\n";
  return text;
}

TEST_F(Models, SeedModelSummaryMatchesKeras) {
  auto model = seed_model();
  // Keras 2.10's model.summary() for the same Sequential model (layout rules in summary.cpp).
  const std::string expected = join({
      "Model: \"sequential\"",
      "_________________________________________________________________",
      " Layer (type)                Output Shape              Param #   ",
      "=================================================================",
      " conv2d (Conv2D)             (None, 26, 26, 64)        640       ",
      "                                                                 ",
      " max_pooling2d (MaxPooling2D  (None, 13, 13, 64)       0         ",
      " )                                                               ",
      "                                                                 ",
      " conv2d_1 (Conv2D)           (None, 11, 11, 128)       73856     ",
      "                                                                 ",
      " max_pooling2d_1 (MaxPooling  (None, 5, 5, 128)        0         ",
      " 2D)                                                             ",
      "                                                                 ",
      " flatten (Flatten)           (None, 3200)              0         ",
      "                                                                 ",
      " dense (Dense)               (None, 128)               409728    ",
      "                                                                 ",
      " dense_1 (Dense)             (None, 64)                8256      ",
      "                                                                 ",
      " dense_2 (Dense)             (None, 10)                650       ",
      "                                                                 ",
      "=================================================================",
      "Total params: 493,130",
      "Trainable params: 493,130",
      "Non-trainable params: 0",
      "_________________________________________________________________",
  });
  EXPECT_EQ(model->summary(), expected);
  EXPECT_EQ(model->count_params(), 493130);
}

TEST_F(Models, FunctionalSummaryHasConnections) {
  SymbolicTensor in = Input({4, 4, 1}, "input");
  SymbolicTensor a = Flatten("flatten_1")(in);
  SymbolicTensor b = Flatten("flatten_2")(in);
  SymbolicTensor c = Concatenate()({a, b});
  SymbolicTensor out = Dense(10, {.activation = "softmax", .name = "num_out"})(c);
  Model model(in, out);
  const std::string expected = join({
      "Model: \"model\"",
      std::string(98, '_'),
      " Layer (type)                   Output Shape         Param #     Connected to                     ",
      std::string(98, '='),
      " input (InputLayer)             [(None, 4, 4, 1)]    0           []                               ",
      std::string(98, ' '),
      " flatten_1 (Flatten)            (None, 16)           0           ['input[0][0]']                  ",
      std::string(98, ' '),
      " flatten_2 (Flatten)            (None, 16)           0           ['input[0][0]']                  ",
      std::string(98, ' '),
      " concatenate (Concatenate)      (None, 32)           0           ['flatten_1[0][0]',              ",
      "                                                                  'flatten_2[0][0]']              ",
      std::string(98, ' '),
      " num_out (Dense)                (None, 10)           330         ['concatenate[0][0]']            ",
      std::string(98, ' '),
      std::string(98, '='),
      "Total params: 330",
      "Trainable params: 330",
      "Non-trainable params: 0",
      std::string(98, '_'),
  });
  EXPECT_EQ(model.summary(), expected);
}

TEST_F(Models, LayerNamesAreUniqueOrTheUsers) {
  EXPECT_EQ(Conv2D(8, 3)->name(), "conv2d");
  EXPECT_EQ(Conv2D(8, 3)->name(), "conv2d_1");
  EXPECT_EQ(Dense(3, {.name = "head"})->name(), "head");
  EXPECT_EQ(MinPooling2D()->name(), "min_pooling2d");
  EXPECT_EQ(AveragePooling2D()->name(), "average_pooling2d");
  SymbolicTensor in = Input({3});
  SymbolicTensor x = Dense(2, {.name = "same"})(in);
  SymbolicTensor y = Dense(2, {.name = "same"})(x);
  EXPECT_THROW(Model(in, y), Error);
}

TEST_F(Models, GlorotInitIsSeededAndBounded) {
  auto a = seed_model();
  clear_session();
  auto b = seed_model();
  const auto wa = a->weights()[0]->value().to_vector<float>();
  EXPECT_EQ(wa, b->weights()[0]->value().to_vector<float>());
  const double limit = std::sqrt(6.0 / (9 + 9 * 64));
  for (float v : wa) EXPECT_LE(std::abs(v), limit);
  for (float v : a->weights()[1]->value().to_vector<float>()) EXPECT_EQ(v, 0.0f);
}

TEST_F(Models, ShapeMismatchesNameTheLayer) {
  SymbolicTensor in = Input({28, 28, 1});
  try {
    Dense(10)(in);
    FAIL() << "Dense on an image must fail";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("layer 'dense' (Dense): expected an input of rank 2"),
              std::string::npos)
        << e.what();
    EXPECT_NE(std::string(e.what()).find("(None, 28, 28, 1)"), std::string::npos) << e.what();
  }
  SymbolicTensor small = Input({2, 2, 3});
  EXPECT_THROW(Conv2D(4, 3)(small), Error);
  EXPECT_THROW(Concatenate()({Flatten()(small), Input({4, 4})}), Error);
  auto model = seed_model();
  EXPECT_THROW(model->call(Tensor::zeros({2, 28, 28, 3})),
               Error);  // channel mismatch with the model
}

TEST_F(Models, UseBeforeBuildOrCompileSaysWhatToDo) {
  Sequential s;
  s.add(Dense(3));
  try {
    s.call(Tensor::zeros({2, 4}));
    FAIL() << "an unbuilt model must refuse to run";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("not built yet: start a Sequential with InputLayer"),
              std::string::npos)
        << e.what();
  }
  s.build({4});
  EXPECT_EQ(s.call(Tensor::zeros({2, 4})).shape(), (Shape{2, 3}));
  try {
    s.fit(Tensor::zeros({2, 4}), Tensor::zeros({2, 3}));
    FAIL() << "fit without compile must fail";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("call compile() before fit()"), std::string::npos)
        << e.what();
  }
  auto model = seed_model();
  EXPECT_THROW(
      conv2d(Tensor::zeros({1, 28, 28, 1}), model->weights()[0]->value().astype(DType::f64)),
      Error);
}

TEST_F(Models, AdamMatchesHandComputedTwoSteps) {
  auto w = std::make_shared<Variable>("w", Tensor::from_vector<float>({1.0f, -2.0f}, {2}));
  Adam adam(AdamOptions{.learning_rate = 0.1});
  const std::vector<std::vector<float>> grads = {{0.5f, -1.0f}, {0.25f, 2.0f}};
  std::vector<double> p = {1.0, -2.0}, m = {0, 0}, v = {0, 0};
  for (int t = 1; t <= 2; ++t) {
    w->grad() = Tensor::from_vector<float>(grads[static_cast<std::size_t>(t - 1)], {2});
    adam.apply({w});
    for (std::size_t i = 0; i < 2; ++i) {
      const double g = grads[static_cast<std::size_t>(t - 1)][i];
      m[i] = 0.9 * m[i] + 0.1 * g;
      v[i] = 0.999 * v[i] + 0.001 * g * g;
      const double lr_t = 0.1 * std::sqrt(1 - std::pow(0.999, t)) / (1 - std::pow(0.9, t));
      p[i] -= lr_t * m[i] / (std::sqrt(v[i]) + 1e-7);
    }
  }
  const auto got = w->value().to_vector<float>();
  EXPECT_NEAR(got[0], p[0], 1e-6);
  EXPECT_NEAR(got[1], p[1], 1e-6);
  EXPECT_EQ(adam.iterations(), 2);
}

TEST_F(Models, SgdMomentumMatchesKeras) {
  auto w = std::make_shared<Variable>("w", Tensor::from_vector<float>({1.0f}, {1}));
  SGD sgd(SGDOptions{.learning_rate = 0.1, .momentum = 0.9});
  double p = 1.0, velocity = 0.0;
  for (float g : {1.0f, 0.5f, -2.0f}) {
    w->grad() = Tensor::from_vector<float>({g}, {1});
    sgd.apply({w});
    velocity = 0.9 * velocity - 0.1 * g;
    p += velocity;
  }
  EXPECT_NEAR(w->value().to_vector<float>()[0], p, 1e-6);
}

// Two well-separated classes of 28x28 images: bright top half vs bright bottom half, plus noise.
std::pair<Tensor, Tensor> synthetic_digits(std::int64_t n, std::int64_t classes) {
  std::vector<float> images(static_cast<std::size_t>(n * 28 * 28));
  std::vector<std::int32_t> labels(static_cast<std::size_t>(n));
  const Tensor noise = Tensor::uniform({n * 28 * 28}, 0.0, 0.3, 99);
  const std::vector<float> nv = noise.to_vector<float>();
  for (std::int64_t i = 0; i < n; ++i) {
    const auto label = static_cast<std::int32_t>(i % classes);
    labels[static_cast<std::size_t>(i)] = label;
    for (std::int64_t y = 0; y < 28; ++y) {
      for (std::int64_t x = 0; x < 28; ++x) {
        const auto at = static_cast<std::size_t>((i * 28 + y) * 28 + x);
        const bool lit = (y * classes / 28) == label;
        images[at] = (lit ? 0.7f : 0.0f) + nv[at];
      }
    }
  }
  return {Tensor::from_vector(images, {n, 28, 28, 1}), Tensor::from_vector(labels, {n})};
}

TEST_F(Models, SeedModelLearnsSeparableData) {
  auto model = seed_model(4);
  model->compile(std::make_shared<Adam>(), "categorical_crossentropy", {"accuracy"});
  auto [x, labels] = synthetic_digits(64, 4);
  const Tensor y = one_hot(labels, 4);
  const double start = model->evaluate(x, y, 64).at("loss");
  FitOptions options;
  options.batch_size = 16;
  options.epochs = 3;
  options.verbose = 0;
  const History h = model->fit(x, y, options);
  const auto end = model->evaluate(x, y, 64);
  EXPECT_NEAR(start, std::log(4.0), 0.3);
  EXPECT_LT(end.at("loss"), 0.25 * start);
  EXPECT_GE(end.at("accuracy"), 0.95);
  EXPECT_EQ(h.keys, (std::vector<std::string>{"loss", "accuracy"}));
  EXPECT_EQ(h.values.at("loss").size(), 3u);
  const Tensor p = model->predict(x, 10);
  EXPECT_EQ(p.shape(), (Shape{64, 4}));
}

TEST_F(Models, TwoHeadedModelTrainsWithNamedLosses) {
  SymbolicTensor in = Input({28, 28, 1}, "input");
  SymbolicTensor f1 =
      Flatten("flatten_1")(MaxPooling2D(4)(Conv2D(4, 3, {.activation = "relu"})(in)));
  SymbolicTensor f2 = Flatten("flatten_2")(in);
  SymbolicTensor num =
      Dense(4, {.activation = "softmax", .name = "num_out"})(Concatenate()({f1, f2}));
  SymbolicTensor odd = Dense(1, {.activation = "sigmoid", .name = "odd_out"})(f2);
  Model model({in}, {num, odd});
  CompileOptions c;
  c.loss = {{"num_out", "categorical_crossentropy"}, {"odd_out", "binary_crossentropy"}};
  c.metrics = {{"", {"accuracy"}}};
  model.compile(c);
  auto [x, labels] = synthetic_digits(32, 4);
  std::vector<float> odd_targets;
  for (std::int32_t l : labels.to_vector<std::int32_t>())
    odd_targets.push_back(static_cast<float>(l % 2));
  TensorMap y{{"num_out", one_hot(labels, 4)},
              {"odd_out", Tensor::from_vector(odd_targets, {32, 1})}};
  FitOptions options;
  options.batch_size = 8;
  options.epochs = 2;
  options.verbose = 0;
  const History h = model.fit({{"input", x}}, y, options);
  EXPECT_EQ(h.keys, (std::vector<std::string>{"loss", "num_out_loss", "odd_out_loss",
                                              "num_out_accuracy", "odd_out_accuracy"}));
  const auto logs = model.evaluate({{"input", x}}, y, 32);
  EXPECT_NEAR(logs.at("loss"), logs.at("num_out_loss") + logs.at("odd_out_loss"), 1e-4);
  const TensorMap p = model.predict({{"input", x}});
  EXPECT_EQ(p.at("num_out").shape(), (Shape{32, 4}));
  EXPECT_EQ(p.at("odd_out").shape(), (Shape{32, 1}));
}

}  // namespace
}  // namespace kiln
