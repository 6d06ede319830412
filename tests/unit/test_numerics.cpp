// The non-finite guard names the first op and layer that produce NaN/Inf; without it, fit stops
// at a NaN loss with a message.
#include <gtest/gtest.h>

#include <limits>

#include "kiln/error.h"
#include "kiln/model.h"
#include "kiln/numerics.h"

namespace kiln {
namespace {

std::unique_ptr<Sequential> tiny_model() {
  clear_session();
  return std::make_unique<Sequential>(std::vector<LayerRef>{
      InputLayer({4}), Dense(3, {.activation = "relu"}), Dense(2, {.activation = "softmax"})});
}

void poison(Model& model, const std::string& layer) {
  Tensor& kernel = model.get_layer(layer)->weights()[0]->value();
  kernel.data<float>()[1] = std::numeric_limits<float>::quiet_NaN();
}

TEST(Numerics, GuardNamesOpLayerShapeAndCount) {
  auto model = tiny_model();
  poison(*model, "dense_1");
  const Tensor x = Tensor::full({5, 4}, 1.0);
  EXPECT_NO_THROW(model->call(x));  // off by default
  set_check_numerics(true);
  try {
    model->call(x);
    ADD_FAILURE() << "expected the guard to stop at dense_1";
  } catch (const Error& e) {
    const std::string message = e.what();
    EXPECT_NE(message.find("op 'dense' in layer 'dense_1' produced 5 non-finite value(s)"),
              std::string::npos)
        << message;
    EXPECT_NE(message.find("shape (5, 2)"), std::string::npos) << message;
  }
  set_check_numerics(false);
}

TEST(Numerics, FitStopsAtNanLoss) {
  auto model = tiny_model();
  model->compile(std::make_shared<Adam>(), "sparse_categorical_crossentropy");
  poison(*model, "dense_1");
  const Tensor x = Tensor::full({8, 4}, 1.0);
  const Tensor y = Tensor::from_vector<std::int32_t>({0, 1, 0, 1, 0, 1, 0, 1}, {8});
  int epochs_ended = 0;
  FitOptions options;
  options.verbose = 0;
  options.epochs = 2;
  options.on_epoch_end = [&](int, const std::map<std::string, double>&) { ++epochs_ended; };
  try {
    model->fit(x, y, options);
    ADD_FAILURE() << "fit must stop";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("the loss became nan at epoch 1, by step 1/1"),
              std::string::npos)
        << e.what();
  }
  EXPECT_EQ(epochs_ended, 0);  // no epoch-end callback, so no checkpoint overwritten
}

}  // namespace
}  // namespace kiln
