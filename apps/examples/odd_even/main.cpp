// The seed notebook's second experiment, in C++: one network, two heads — the digit (softmax)
// and whether it is odd (sigmoid) — trained together with a loss per head.
//   odd_even [EPOCHS] [DATA_DIR]      (MNIST from scripts/fetch-data.sh)
#include <kiln/kiln.h>

#include <cstdio>
#include <string>

int main(int argc, char** argv) try {
  const int epochs = argc > 1 ? std::stoi(argv[1]) : 5;
  const kiln::Dataset mnist = kiln::load_mnist(argc > 2 ? argv[2] : kiln::default_data_dir());

  // inp = Input((28, 28, 1)); conv_1 ... flatten_1; flatten_2 = Flatten()(inp)
  auto input = kiln::Input({28, 28, 1}, "input");
  auto x = kiln::Conv2D(64, 3, {.activation = "relu", .name = "conv_1"})(input);
  x = kiln::MaxPooling2D(2, "maxpool_1")(x);
  x = kiln::Conv2D(128, 3, {.activation = "relu", .name = "conv_2"})(x);
  x = kiln::MaxPooling2D(2, "maxpool_2")(x);
  auto flatten_1 = kiln::Flatten("flatten_1")(x);
  auto flatten_2 = kiln::Flatten("flatten_2")(input);
  auto joined = kiln::Concatenate(-1, "concatenate")({flatten_1, flatten_2});
  auto num_out = kiln::Dense(10, {.activation = "softmax", .name = "num_out"})(joined);
  auto odd_out = kiln::Dense(1, {.activation = "sigmoid", .name = "odd_out"})(flatten_2);
  kiln::Model model({input}, {num_out, odd_out});
  std::printf("%s", model.summary().c_str());

  // model.compile(loss={"num_out": ..., "odd_out": ...}, metrics=["accuracy"])
  model.compile(
      {.optimizer = std::make_shared<kiln::Adam>(),
       .loss = {{"num_out", "categorical_crossentropy"}, {"odd_out", "binary_crossentropy"}},
       .metrics = {{"", {"accuracy"}}}});

  auto targets = [](const kiln::Tensor& labels) {
    std::vector<float> odd;
    for (std::int32_t label : labels.to_vector<std::int32_t>())
      odd.push_back(static_cast<float>(label % 2));
    return kiln::TensorMap{{"num_out", kiln::to_categorical(labels, 10)},
                           {"odd_out", kiln::Tensor::from_vector(odd, {labels.dim(0), 1})}};
  };
  model.fit({{"input", mnist.x_train}}, targets(mnist.y_train),
            {.batch_size = 32, .epochs = epochs});

  for (const auto& [name, value] :
       model.evaluate({{"input", mnist.x_test}}, targets(mnist.y_test))) {
    std::printf("test %s: %.4f\n", name.c_str(), value);
  }
  // y_num, y_odd = model.predict(x_test[:1])
  const kiln::TensorMap first = model.predict(
      {{"input",
        kiln::gather_rows(mnist.x_test, kiln::Tensor::from_vector<std::int32_t>({0}, {1}))}});
  std::printf("first test image: digit %d, P(odd) = %.3f\n",
              kiln::argmax(first.at("num_out")).to_vector<std::int32_t>()[0],
              first.at("odd_out").to_vector<float>()[0]);
  kiln::save_model(model, "odd_even.h5");
  kiln::plot_model(model, "odd_even.png");
  return 0;
} catch (const kiln::Error& e) {
  std::fprintf(stderr, "odd_even: %s\n", e.what());
  return 1;
}
