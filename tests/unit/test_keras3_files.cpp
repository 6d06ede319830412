// Keras 3 .keras archives, Keras 2.13 .keras archives, weights-only files with a JSON
// architecture (Keras 2 and Keras 3), written in Keras's exact layouts by
// tests/reference/keras3_files.py (zipfile + h5py, weights of a numpy model), load and predict
// what the numpy model predicts; files kiln must refuse are refused with a message naming what
// was expected and found.
#include <gtest/gtest.h>

#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>

#include <nlohmann/json.hpp>

#include "kiln/kiln.h"

namespace kiln {
namespace {

// Python writes the files once for the whole suite (a second or so).
class Keras3Files : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = (std::filesystem::temp_directory_path() /
            ("kiln_Keras3Files_" + std::to_string(::getpid())))
               .string();
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
    const std::string command = "/usr/bin/python3 " + std::string(KILN_SOURCE_DIR) +
                                "/tests/reference/keras3_files.py " + dir_;
    written_ = std::system(command.c_str()) == 0;
    std::ifstream in(dir_ + "/reference.json");
    if (written_) reference_ = nlohmann::json::parse(in);
  }
  static void TearDownTestSuite() { std::filesystem::remove_all(dir_); }
  void SetUp() override {
    ASSERT_TRUE(written_) << "tests/reference/keras3_files.py failed (needs Debian python3-h5py)";
    clear_session();
  }

  static std::string file(const std::string& name) { return dir_ + "/" + name; }

  // The model's outputs on the reference input, against the numpy model's, to 1e-5.
  static void expect_reference_outputs(Model& model, const std::string& name) {
    const auto& ref = reference_.at(name);
    const Tensor x =
        Tensor::from_vector(ref.at("x").get<std::vector<float>>(), ref.at("x_shape").get<Shape>());
    const std::vector<float> got = model.predict(x).to_vector<float>();
    const auto want = ref.at("y").get<std::vector<double>>();
    ASSERT_EQ(got.size(), want.size());
    for (std::size_t i = 0; i < want.size(); ++i)
      EXPECT_NEAR(got[i], want[i], 1e-5) << name << " " << i;
  }

  static void expect_error(const std::function<void()>& load,
                           const std::vector<std::string>& parts) {
    try {
      load();
      ADD_FAILURE() << "no error";
    } catch (const Error& e) {
      for (const std::string& part : parts) {
        EXPECT_NE(std::string(e.what()).find(part), std::string::npos)
            << e.what() << "\n(missing: " << part << ")";
      }
    }
  }

  static std::string dir_;
  static bool written_;
  static nlohmann::json reference_;
};

std::string Keras3Files::dir_;
bool Keras3Files::written_ = false;
nlohmann::json Keras3Files::reference_;

TEST_F(Keras3Files, SequentialCnnMatchesTheNumpyModel) {
  auto model = load_model(file("cnn.keras"));
  expect_reference_outputs(*model, "cnn");
  ASSERT_TRUE(model->compiled());  // from compile_config
  EXPECT_DOUBLE_EQ(model->optimizer().learning_rate(), 5e-4);
  EXPECT_EQ(model->compile_options().loss.at(""), "categorical_crossentropy");
}

// The kind of file is read from its content: a .keras archive named .h5 and a JSON architecture
// named .keras load as what they are.
TEST_F(Keras3Files, FileKindComesFromTheContentNotTheName) {
  std::filesystem::copy_file(file("cnn.keras"), file("archive_named.h5"),
                             std::filesystem::copy_options::overwrite_existing);
  auto archive = load_model(file("archive_named.h5"));
  expect_reference_outputs(*archive, "cnn");
  clear_session();
  std::filesystem::copy_file(file("cnn_arch_keras3.json"), file("json_named.keras"),
                             std::filesystem::copy_options::overwrite_existing);
  auto json = load_model(file("json_named.keras"), {.weights = file("cnn.weights.h5")});
  expect_reference_outputs(*json, "cnn");
}

TEST_F(Keras3Files, Keras213ArchiveMatchesTheNumpyModel) {
  auto model = load_model(file("cnn_keras213.keras"));
  expect_reference_outputs(*model, "cnn");
}

TEST_F(Keras3Files, SequentialWithoutInputLayerMatchesAndUnknownLossLeavesItUncompiled) {
  ::testing::internal::CaptureStderr();
  auto model = load_model(file("mlp.keras"));
  const std::string warning = ::testing::internal::GetCapturedStderr();
  expect_reference_outputs(*model, "mlp");
  EXPECT_FALSE(model->compiled());
  EXPECT_NE(warning.find("huber_loss_kiln_lacks"), std::string::npos) << warning;
  EXPECT_EQ(std::count(warning.begin(), warning.end(), '\n'), 1) << warning;
  const Tensor x = Tensor::zeros({1, 12}, DType::f32);
  expect_error(
      [&] {
        model->fit(x, Tensor::zeros({1, 3}, DType::f32));
      },
      {"not compiled", "compile()"});
}

TEST_F(Keras3Files, FunctionalWithMergeAndBatchNormalizationMatches) {
  auto model = load_model(file("functional.keras"));
  expect_reference_outputs(*model, "functional");
  EXPECT_EQ(model->get_layer("norm")->weights().size(), 4u);
}

// Adam's state saved by Keras 2 (optimizer_weights after 5 steps) is restored: kiln's next step
// lands where numpy's Adam step from that state lands.
TEST_F(Keras3Files, Keras2AdamStateResumes) {
  auto model = load_model(file("adam_resume.h5"));
  ASSERT_TRUE(model->compiled());
  EXPECT_EQ(model->optimizer().iterations(), 5);
  const auto& ref = reference_.at("adam_resume");
  const Tensor x =
      Tensor::from_vector(ref.at("x").get<std::vector<float>>(), ref.at("x_shape").get<Shape>());
  const Tensor y = Tensor::from_vector(ref.at("y").get<std::vector<float>>(), {6, 3});
  model->train_step({{model->input_names()[0], x}}, {{model->output_names()[0], y}});
  const auto& dense = model->get_layer("dense")->weights();
  const std::vector<float> kernel = dense[0]->value().to_vector<float>();
  const std::vector<float> bias = dense[1]->value().to_vector<float>();
  const auto want_kernel = ref.at("kernel").get<std::vector<double>>();
  const auto want_bias = ref.at("bias").get<std::vector<double>>();
  for (std::size_t i = 0; i < want_kernel.size(); ++i) EXPECT_NEAR(kernel[i], want_kernel[i], 1e-6);
  for (std::size_t i = 0; i < want_bias.size(); ++i) EXPECT_NEAR(bias[i], want_bias[i], 1e-6);
}

TEST_F(Keras3Files, WeightsOnlyFilesLoadWithAnArchitecture) {
  auto keras3 = load_model(file("cnn_arch_keras3.json"), {.weights = file("cnn.weights.h5")});
  expect_reference_outputs(*keras3, "cnn");
  clear_session();
  auto keras2 =
      load_model(file("mlp_arch_keras2.json"), {.weights = file("mlp_keras2_weights.h5")});
  expect_reference_outputs(*keras2, "mlp");
  clear_session();
  auto from_archive = load_model(file("cnn_arch_keras3.json"), {.weights = file("cnn.keras")});
  expect_reference_outputs(*from_archive, "cnn");
}

TEST_F(Keras3Files, WeightsOnlyFilesAreRefusedAsModels) {
  expect_error([] { load_model(file("cnn.weights.h5")); }, {"no model_config", "--weights"});
  expect_error([] { load_model(file("mlp_keras2_weights.h5")); }, {"no model_config", "--weights"});
  expect_error([] { load_model(file("cnn_arch_keras3.json")); }, {"without weights", "--weights"});
}

TEST_F(Keras3Files, BadFilesAreRefusedWithWhatWasExpectedAndFound) {
  expect_error([] { load_model(file("no_config.keras")); },
               {"without config.json", "metadata.json, model.weights.h5"});
  expect_error([] { load_model(file("saved_dir.keras")); }, {"is a directory", "zip"});
  expect_error([] { load_model(file("bad_shape.keras")); },
               {"shape (36, 9)", "'hidden'", "expects (36, 8)"});
  expect_error([] { load_model(file("bad_activation.keras")); },
               {"'hidden'", "sparse_plus_unknown"});
  expect_error(
      [] { load_model(file("cnn_arch_keras3.json"), {.weights = file("mlp_keras2_weights.h5")}); },
      {"mlp_keras2_weights.h5", "weights for 2 layers", "model 'cnn' has 3"});
  expect_error([] { load_model(file("reference.json")); }, {"class_name"});
}

}  // namespace
}  // namespace kiln
