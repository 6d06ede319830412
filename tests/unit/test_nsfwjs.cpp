// A real TF.js layers model: nsfwjs 4.4.0's MobileNetV2 (224x224, uint8-quantised weights,
// InputLayer, ZeroPadding2D, Conv2D, BatchNormalization, ReLU(6), DepthwiseConv2D, Add,
// AveragePooling2D, Flatten, Dense, Dropout) loads through load_model and computes what the
// pure-JS @tensorflow/tfjs computes for it, to 1e-4 relative, on three fixed inputs, and four
// of its layers do on the first (tests/reference/nsfwjs_reference.js wrote
// tests/reference/nsfwjs_reference.json).
// The model is fetched, never committed: tests/reference/fetch_nsfwjs.sh (scripts/fetch-data.sh
// runs it) puts it in $KILN_MODELS, else ~/.kiln/models; without it the test skips.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>

#include "kiln/feature_maps.h"
#include "kiln/model_io.h"

namespace kiln {
namespace {

constexpr std::int64_t kSize = 224;
constexpr double kTolerance = 1e-4;

std::string model_path() {
  const char* models = std::getenv("KILN_MODELS");
  const char* home = std::getenv("HOME");
  const std::filesystem::path dir =
      models != nullptr ? std::filesystem::path(models)
                        : std::filesystem::path(home != nullptr ? home : "") / ".kiln" / "models";
  return (dir / "nsfwjs-4.4.0" / "mobilenet_v2" / "model.json").string();
}

// nsfwjs_reference.js's inputValue: the integer q_k(y, x, c) in [0, 255], divided by 255.
float input_value(int k, std::int64_t y, std::int64_t x, std::int64_t c) {
  std::int64_t q = 0;
  if (k == 0)
    q = (3 * y + 5 * x + 7 * c) % 256;
  else if (k == 1)
    q = (13 * y * y + 7 * x * x + 3 * x * y + 101 * c + 17) % 256;
  else
    q = ((x / 16 + y / 16) % 2) * 200 + (x * y + 50 * c) % 56;
  return static_cast<float>(static_cast<double>(q) / 255.0);
}

Tensor input(int k) {
  std::vector<float> values(kSize * kSize * 3);
  for (std::int64_t y = 0; y < kSize; ++y)
    for (std::int64_t x = 0; x < kSize; ++x)
      for (std::int64_t c = 0; c < 3; ++c)
        values[(y * kSize + x) * 3 + c] = input_value(k, y, x, c);
  return Tensor::from_vector(values, {1, kSize, kSize, 3});
}

double relative_error(double got, double want, double scale) {
  return std::abs(got - want) / std::max(std::abs(want), scale);
}

// One layer's output against the reference's checksums: the sum of absolute values relative to
// itself, the sum and the sampled values relative to the mean absolute value where they are
// smaller (a sum can cancel, a sample can be 0). Returns the largest relative error.
double compare_layer(const std::vector<float>& got, const nlohmann::json& want,
                     const std::string& where) {
  EXPECT_EQ(static_cast<std::int64_t>(got.size()), want["count"].get<std::int64_t>()) << where;
  double sum = 0, sum_abs = 0;
  for (float v : got) {
    sum += v;
    sum_abs += std::abs(v);
  }
  const double mean_abs = want["sum_abs"].get<double>() / static_cast<double>(got.size());
  double worst = relative_error(sum_abs, want["sum_abs"].get<double>(), 0);
  worst = std::max(worst,
                   relative_error(sum, want["sum"].get<double>(), want["sum_abs"].get<double>()));
  const std::size_t stride = got.size() / 8;
  for (std::size_t i = 0; i < 8; ++i) {
    const double error =
        relative_error(got[i * stride], want["samples"][i].get<double>(), mean_abs);
    EXPECT_LE(error, kTolerance) << where << " sample " << i;
    worst = std::max(worst, error);
  }
  EXPECT_LE(worst, kTolerance) << where << ": sum " << sum << ", sum of |x| " << sum_abs;
  return worst;
}

TEST(Nsfwjs, MobileNetV2MatchesTfjs) {
  const std::string path = model_path();
  if (!std::filesystem::exists(path)) {
    GTEST_SKIP() << "nsfwjs fixture not fetched (" << path
                 << " is missing): run tests/reference/fetch_nsfwjs.sh or scripts/fetch-data.sh";
  }
  clear_session();
  auto model = load_model(path);
  EXPECT_EQ(model->count_params(), 2619461);  // the shard's bytes: one uint8 per value
  std::ifstream in(std::string(KILN_SOURCE_DIR) + "/tests/reference/nsfwjs_reference.json");
  const auto reference = nlohmann::json::parse(in);
  double worst_output = 0, worst_layer = 0;
  for (int k = 0; k < 3; ++k) {
    const auto& want = reference["inputs"][k];
    const Tensor x = input(k);
    const std::vector<float> probs = model->predict(x).to_vector<float>();
    ASSERT_EQ(probs.size(), 5u);
    for (std::size_t i = 0; i < probs.size(); ++i) {
      const double error = relative_error(probs[i], want["probabilities"][i].get<double>(), 0);
      EXPECT_LE(error, kTolerance) << "input " << k << " class " << i << ": " << probs[i];
      worst_output = std::max(worst_output, error);
    }
    if (!want.contains("layers")) continue;
    for (const auto& [layer, checksums] : want["layers"].items()) {
      const std::vector<float> got = layer_activations(*model, x, layer).to_vector<float>();
      worst_layer = std::max(
          worst_layer, compare_layer(got, checksums, "input " + std::to_string(k) + " " + layer));
    }
  }
  RecordProperty("max_relative_error_outputs", std::to_string(worst_output));
  RecordProperty("max_relative_error_layers", std::to_string(worst_layer));
  std::printf("nsfwjs vs tfjs: max relative error %.3g (probabilities), %.3g (layer checksums)\n",
              worst_output, worst_layer);
}

}  // namespace
}  // namespace kiln
