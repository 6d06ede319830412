// A model file with the layers added for Keras files (DepthwiseConv2D, BatchNormalization, ReLU,
// LeakyReLU, UpSampling2D, ZeroPadding2D, GlobalAveragePooling2D), written as tf.keras 2.x writes
// it through h5py with weights in Keras's order, loads and predicts what a numpy model with the
// same weights predicts (tests/reference/keras2_layer_file.py; Debian's python3-h5py).
#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>

#include <nlohmann/json.hpp>

#include "kiln/model_io.h"
#include "temp_dir.h"

namespace kiln {
namespace {

using KerasLayerFiles = testing::TempDirTest;

TEST_F(KerasLayerFiles, Keras2FileMatchesTheNumpyModel) {
  clear_session();
  const std::string command = "/usr/bin/python3 " + std::string(KILN_SOURCE_DIR) +
                              "/tests/reference/keras2_layer_file.py " + dir_.string();
  ASSERT_EQ(std::system(command.c_str()), 0) << "writing the Keras-style file failed: " << command
                                             << " (needs Debian python3-h5py and python3-numpy)";
  auto model = load_model(path("model.h5"));
  const auto bn = model->get_layer("batch_normalization");
  ASSERT_EQ(bn->weights().size(), 4u);
  EXPECT_FALSE(bn->weights()[2]->trainable());
  std::vector<float> x(2 * 5 * 4 * 3);
  std::ifstream(path("x.bin"), std::ios::binary)
      .read(reinterpret_cast<char*>(x.data()),
            static_cast<std::streamsize>(x.size() * sizeof(float)));
  const std::vector<float> probs =
      model->predict(Tensor::from_vector(x, {2, 5, 4, 3})).to_vector<float>();
  std::ifstream in(path("ref.json"));
  const auto want = nlohmann::json::parse(in)["probs"].get<std::vector<double>>();
  ASSERT_EQ(probs.size(), want.size());
  for (std::size_t i = 0; i < want.size(); ++i) EXPECT_NEAR(probs[i], want[i], 1e-5) << i;
  EXPECT_NE(model->summary().find("Non-trainable params: 12\n"), std::string::npos)
      << model->summary();
}

}  // namespace
}  // namespace kiln
