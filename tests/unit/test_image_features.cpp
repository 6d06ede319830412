// Feature maps and kernels: a layer's activations equal the model's own forward output for that
// layer (a Keras-style sub-model sharing the layers, and a saved-and-loaded seed model), the
// grid's size and tile count for conv_1 of the seed model, tile contents, and errors.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "kiln/error.h"
#include "kiln/feature_maps.h"
#include "kiln/image.h"
#include "kiln/layers.h"
#include "kiln/model.h"
#include "kiln/model_io.h"

namespace fs = std::filesystem;
using kiln::Tensor;

namespace {

Tensor sample_input(std::uint64_t seed) { return Tensor::uniform({1, 28, 28, 1}, 0.0, 1.0, seed); }

void expect_same_values(const Tensor& a, const Tensor& b) {
  ASSERT_EQ(a.shape(), b.shape());
  const std::vector<float> va = a.to_vector<float>(), vb = b.to_vector<float>();
  float worst = 0;
  for (std::size_t i = 0; i < va.size(); ++i) worst = std::max(worst, std::abs(va[i] - vb[i]));
  EXPECT_EQ(worst, 0.0f);
}

template <class Call>
void expect_error(Call call, const std::string& fragment) {
  try {
    call();
    ADD_FAILURE() << "expected an Error containing '" << fragment << "'";
  } catch (const kiln::Error& e) {
    EXPECT_NE(std::string(e.what()).find(fragment), std::string::npos) << e.what();
  }
}

TEST(ImageFeatures, ActivationsEqualASubModelsForwardOutput) {
  kiln::clear_session();
  const kiln::SymbolicTensor input = kiln::Input({28, 28, 1});
  const kiln::SymbolicTensor conv =
      kiln::Conv2D(8, 3, {.activation = "relu", .name = "conv_1"})(input);
  const kiln::SymbolicTensor pooled = kiln::MaxPooling2D(2)(conv);
  const kiln::SymbolicTensor conv2 =
      kiln::Conv2D(4, 3, {.activation = "relu", .name = "conv_2"})(pooled);
  const kiln::SymbolicTensor output =
      kiln::Dense(10, {.activation = "softmax", .name = "predictions"})(kiln::Flatten()(conv2));
  kiln::Model model(input, output);
  // Keras: models.Model(inputs=model.input, outputs=layer.output), sharing the layers.
  kiln::Model to_conv_1(input, conv);
  kiln::Model to_conv_2(input, conv2);
  const Tensor x = sample_input(3);
  model.call(x);  // builds the weights
  expect_same_values(kiln::layer_activations(model, x, "conv_1"), to_conv_1.call(x));
  expect_same_values(kiln::layer_activations(model, x, "conv_2"), to_conv_2.call(x));
  EXPECT_EQ(kiln::first_conv_layer(model), "conv_1");
}

TEST(ImageFeatures, SeedModelSavedAndLoadedGivesTheSameActivations) {
  kiln::clear_session();
  std::unique_ptr<kiln::Sequential> seed = kiln::seed_model(10);
  const Tensor x = sample_input(5);
  seed->call(x);
  const fs::path file =
      fs::temp_directory_path() / ("kiln_features_" + std::to_string(::getpid()) + ".h5");
  kiln::save_model(*seed, file.string());
  std::unique_ptr<kiln::Model> loaded = kiln::load_model(file.string());
  fs::remove(file);
  const std::string conv = kiln::first_conv_layer(*loaded);
  EXPECT_EQ(conv, "conv2d");
  const Tensor from_loaded = kiln::layer_activations(*loaded, x, conv);
  EXPECT_EQ(from_loaded.shape(), (kiln::Shape{1, 26, 26, 64}));
  expect_same_values(from_loaded, kiln::layer_activations(*seed, x, "conv2d"));
  // The first layer's output is relu(conv2d(x, kernel) + bias) with the file's weights.
  const auto& weights = loaded->get_layer(conv)->weights();
  ASSERT_EQ(weights.size(), 2u);
  EXPECT_EQ(weights[0]->value().shape(), (kiln::Shape{3, 3, 1, 64}));
  expect_same_values(from_loaded,
                     kiln::relu(kiln::conv2d(x, weights[0]->value(), weights[1]->value())));
}

TEST(ImageFeatures, GridOfConv1OfTheSeedModel) {
  kiln::clear_session();
  std::unique_ptr<kiln::Sequential> seed = kiln::seed_model(10);
  const Tensor activations = kiln::layer_activations(*seed, sample_input(7), "conv2d");
  // 64 maps of 26x26, 16 per row as in the seed: 4 rows, 1-pixel separators, zoomed 3 times
  // (tiles of at least 64 pixels by default).
  const kiln::GridLayout layout = kiln::grid_layout(64, 26, 26, {});
  EXPECT_EQ(layout.rows, 4);
  EXPECT_EQ(layout.columns, 16);
  EXPECT_EQ(layout.zoom, 3);
  const Tensor grid = kiln::feature_map_grid(activations);
  EXPECT_EQ(grid.shape(), (kiln::Shape{4 * 78 + 3, 16 * 78 + 15, 3}));
  // A label band adds white rows above each row of tiles.
  kiln::GridOptions banded;
  banded.label_band = 14;
  const kiln::GridLayout with_band = kiln::grid_layout(64, 26, 26, banded);
  EXPECT_EQ(with_band.height, 4 * (14 + 78) + 3);
  EXPECT_EQ(with_band.top(17), 14 + 78 + 1 + 14);
  EXPECT_EQ(with_band.left(17), 78 + 1);

  // In grey, tile t holds map t scaled to 0..255; separators are white.
  kiln::GridOptions grey;
  grey.colormap = kiln::Colormap::gray;
  grey.zoom = 1;
  const Tensor tiles = kiln::feature_map_grid(activations, grey);
  ASSERT_EQ(tiles.shape(), (kiln::Shape{107, 431, 1}));
  const std::vector<std::uint8_t> pixels = tiles.to_vector<std::uint8_t>();
  const std::vector<float> values = activations.to_vector<float>();
  int tiles_checked = 0;
  for (std::int64_t t = 0; t < 64; ++t) {
    float low = values[static_cast<std::size_t>(t)], high = low;
    for (std::int64_t i = 0; i < 26 * 26; ++i) {
      low = std::min(low, values[static_cast<std::size_t>(i * 64 + t)]);
      high = std::max(high, values[static_cast<std::size_t>(i * 64 + t)]);
    }
    const std::int64_t top = (t / 16) * 27, left = (t % 16) * 27;
    bool same = true;
    for (std::int64_t y = 0; y < 26; ++y) {
      for (std::int64_t x = 0; x < 26; ++x) {
        const float v = values[static_cast<std::size_t>((y * 26 + x) * 64 + t)];
        const long expected = high > low ? std::lround((v - low) / (high - low) * 255.0) : 0;
        const int got = pixels[static_cast<std::size_t>((top + y) * 431 + left + x)];
        same = same && std::abs(got - expected) <= 1;
      }
    }
    EXPECT_TRUE(same) << "tile " << t;
    tiles_checked += same ? 1 : 0;
  }
  EXPECT_EQ(tiles_checked, 64);
  for (std::int64_t y = 0; y < 107; ++y)
    EXPECT_EQ(pixels[static_cast<std::size_t>(y * 431 + 26)], 255);
  for (std::int64_t x = 0; x < 431; ++x)
    EXPECT_EQ(pixels[static_cast<std::size_t>(26 * 431 + x)], 255);
}

TEST(ImageFeatures, KernelGridOfTheSeedModel) {
  kiln::clear_session();
  std::unique_ptr<kiln::Sequential> seed = kiln::seed_model(10);
  seed->call(sample_input(1));
  const Tensor kernel = seed->get_layer("conv2d")->weights()[0]->value();
  // 64 kernels of 3x3 zoomed 22 times: 4 rows of 16 tiles of 66x66.
  const Tensor grid = kiln::kernel_grid(kernel);
  EXPECT_EQ(grid.shape(), (kiln::Shape{4 * 66 + 3, 16 * 66 + 15, 3}));
  kiln::GridOptions grey;
  grey.colormap = kiln::Colormap::gray;
  grey.zoom = 1;
  grey.separator = 0;
  grey.columns = 64;
  const std::vector<std::uint8_t> pixels =
      kiln::kernel_grid(kernel, grey).to_vector<std::uint8_t>();
  // Normalised over the whole kernel: its smallest weight is 0 and its largest 255.
  const std::vector<float> w = kernel.to_vector<float>();
  const auto smallest = std::min_element(w.begin(), w.end()) - w.begin();
  const auto largest = std::max_element(w.begin(), w.end()) - w.begin();
  auto pixel_of = [&](std::ptrdiff_t index) {
    const std::int64_t o = index % 64, y = index / 64 / 3, x = index / 64 % 3;
    return pixels[static_cast<std::size_t>(y * 192 + o * 3 + x)];
  };
  EXPECT_EQ(pixel_of(smallest), 0);
  EXPECT_EQ(pixel_of(largest), 255);
}

TEST(ImageFeatures, DeeperKernelsGetOneTilePerOutputChannel) {
  // conv2d_1 of the seed is (3, 3, 64, 128): 128 tiles, not 64 x 128.
  const Tensor deep = Tensor::uniform({3, 3, 64, 128}, -1, 1, 3);
  const kiln::GridLayout layout = kiln::grid_layout(128, 3, 3, {});
  EXPECT_EQ(kiln::kernel_grid(deep).shape(), (kiln::Shape{layout.height, layout.width, 3}));
  EXPECT_EQ(layout.rows * layout.columns, 128);
  // The mean over the input channels, or one input channel.
  const Tensor kernel = Tensor::from_vector(std::vector<float>{1, 10, 3, 30}, {1, 1, 2, 2});
  EXPECT_EQ(kiln::kernel_slices(kernel).to_vector<float>(), (std::vector<float>{2, 20}));
  EXPECT_EQ(kiln::kernel_slices(kernel, 1).to_vector<float>(), (std::vector<float>{3, 30}));
  expect_error([&] { kiln::kernel_slices(kernel, 2); }, "input channel 2 is outside 0..1");
}

TEST(ImageFeatures, ErrorsNameWhatIsValid) {
  kiln::clear_session();
  std::unique_ptr<kiln::Sequential> seed = kiln::seed_model(10);
  expect_error([&] { kiln::layer_activations(*seed, sample_input(1), "conv_9"); },
               "no layer named 'conv_9'; its layers are:");
  expect_error([&] { kiln::layer_activations(*seed, sample_input(1), "conv_9"); },
               "conv2d_1 (Conv2D)");
  expect_error(
      [&] {
        kiln::layer_activations(*seed, Tensor::zeros({1, 32, 32, 1}), "conv2d");
      },
      "takes inputs (batch, 28, 28, 1)");
  expect_error([] { kiln::parse_colormap("jet"); }, "viridis");
  expect_error([] { kiln::feature_map_grid(Tensor::zeros({2, 4, 4, 3})); }, "feature_map_grid");
  kiln::GridOptions huge;
  huge.zoom = 256;
  expect_error([&] { kiln::feature_map_grid(Tensor::zeros({1, 40, 40, 256}), huge); }, "pixels");
}

TEST(ImageFeatures, ColormapsEndsAndConstantMaps) {
  const Tensor ramp = Tensor::from_vector(std::vector<std::uint8_t>{0, 255}, {1, 2, 1});
  EXPECT_EQ(kiln::apply_colormap(ramp, kiln::Colormap::viridis).to_vector<std::uint8_t>(),
            (std::vector<std::uint8_t>{68, 1, 84, 253, 231, 37}));
  EXPECT_EQ(kiln::apply_colormap(ramp, kiln::Colormap::gray).to_vector<std::uint8_t>(),
            (std::vector<std::uint8_t>{0, 255}));
  kiln::GridOptions grey;
  grey.colormap = kiln::Colormap::gray;
  const Tensor constant = kiln::feature_map_grid(Tensor::full({4, 4, 2}, 3.0), grey);
  EXPECT_EQ(constant.shape(), (kiln::Shape{64, 64 * 2 + 1, 1}));
  const std::vector<std::uint8_t> pixels = constant.to_vector<std::uint8_t>();
  EXPECT_EQ(pixels[0], 0);
  EXPECT_EQ(pixels[64], 255);
}

}  // namespace
