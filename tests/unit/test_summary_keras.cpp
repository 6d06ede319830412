// summary()'s parameter counts against what Keras prints for the same model: MobileNet v1
// (keras.applications.MobileNet(), alpha 1, 224x224x3, 1000 classes), rebuilt here layer by layer
// as keras/applications/mobilenet.py builds it. Keras 2's MobileNet().summary() ends with
//   Total params: 4,253,864
//   Trainable params: 4,231,976
//   Non-trainable params: 21,888
// (the 21,888 are the moving mean and variance of its 27 BatchNormalization layers: 2 * 10,944
// channels). Frozen as in Keras's transfer-learning recipe (every layer but the classifier
// `conv_preds` set trainable = False), Keras counts every weight of a frozen layer as
// non-trainable: the classifier's 1024 * 1000 + 1000 = 1,025,000 stay trainable.
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "kiln/layers.h"
#include "kiln/model.h"

namespace kiln {
namespace {

void add_conv_block(std::vector<LayerRef>& layers, std::int64_t filters, std::int64_t stride,
                    const std::string& name) {
  layers.push_back(
      Conv2D(filters, 3,
             {.strides = stride, .padding = Padding::same(), .use_bias = false, .name = name}));
  layers.push_back(BatchNormalization({.name = name + "_bn"}));
  layers.push_back(ReLU({.max_value = 6.0}, name + "_relu"));
}

void add_depthwise_block(std::vector<LayerRef>& layers, std::int64_t filters, std::int64_t stride,
                         int id) {
  const std::string block = std::to_string(id);
  if (stride == 2) {
    layers.push_back(ZeroPadding2D(Padding::explicit_amounts(0, 1, 0, 1), "conv_pad_" + block));
  }
  layers.push_back(DepthwiseConv2D(3, {.strides = stride,
                                       .padding = stride == 1 ? Padding::same() : Padding::valid(),
                                       .use_bias = false,
                                       .name = "conv_dw_" + block}));
  layers.push_back(BatchNormalization({.name = "conv_dw_" + block + "_bn"}));
  layers.push_back(ReLU({.max_value = 6.0}, "conv_dw_" + block + "_relu"));
  layers.push_back(Conv2D(
      filters, 1, {.padding = Padding::same(), .use_bias = false, .name = "conv_pw_" + block}));
  layers.push_back(BatchNormalization({.name = "conv_pw_" + block + "_bn"}));
  layers.push_back(ReLU({.max_value = 6.0}, "conv_pw_" + block + "_relu"));
}

std::unique_ptr<Sequential> mobilenet() {
  std::vector<LayerRef> layers{InputLayer({224, 224, 3}, "input_1")};
  add_conv_block(layers, 32, 2, "conv1");
  const std::vector<std::pair<std::int64_t, std::int64_t>> blocks{
      {64, 1},  {128, 2}, {128, 1}, {256, 2}, {256, 1},  {512, 2}, {512, 1},
      {512, 1}, {512, 1}, {512, 1}, {512, 1}, {1024, 2}, {1024, 1}};
  for (std::size_t i = 0; i < blocks.size(); ++i) {
    add_depthwise_block(layers, blocks[i].first, blocks[i].second, static_cast<int>(i) + 1);
  }
  layers.push_back(GlobalAveragePooling2D(true, "global_average_pooling2d"));
  layers.push_back(Dropout(1e-3, "dropout"));
  layers.push_back(Conv2D(1000, 1, {.padding = Padding::same(), .name = "conv_preds"}));
  layers.push_back(Reshape({1000}, "reshape_2"));
  layers.push_back(Activation("softmax", "predictions"));
  return std::make_unique<Sequential>(layers, "mobilenet_1.00_224");
}

std::string line_of(const std::string& summary, const std::string& start) {
  const std::size_t at = summary.find(start);
  if (at == std::string::npos) return "";
  return summary.substr(at, summary.find('\n', at) - at);
}

TEST(SummaryAgainstKeras, MobileNetCountsItsMovingStatisticsAsNonTrainable) {
  const auto model = mobilenet();
  const std::string summary = model->summary();
  EXPECT_EQ(line_of(summary, "Total params:"), "Total params: 4,253,864") << summary;
  EXPECT_EQ(line_of(summary, "Trainable params:"), "Trainable params: 4,231,976");
  EXPECT_EQ(line_of(summary, "Non-trainable params:"), "Non-trainable params: 21,888");
}

TEST(SummaryAgainstKeras, MobileNetFrozenButItsClassifier) {
  const auto model = mobilenet();
  for (const LayerPtr& layer : model->layers()) layer->set_trainable(layer->name() == "conv_preds");
  const std::string summary = model->summary();
  EXPECT_EQ(line_of(summary, "Total params:"), "Total params: 4,253,864") << summary;
  EXPECT_EQ(line_of(summary, "Trainable params:"), "Trainable params: 1,025,000");
  EXPECT_EQ(line_of(summary, "Non-trainable params:"), "Non-trainable params: 3,228,864");
}

}  // namespace
}  // namespace kiln
