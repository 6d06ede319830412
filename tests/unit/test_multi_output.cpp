// The two-headed model's API: weighted total loss, name-keyed targets, and the errors of
// mismatched names and shapes.
#include <gtest/gtest.h>

#include "kiln/error.h"
#include "kiln/model.h"

namespace kiln {
namespace {

struct TwoHeads {
  std::unique_ptr<Model> model;
  TensorMap x, y;
};

TwoHeads two_heads() {
  clear_session();
  TwoHeads t;
  t.model = odd_even_model();
  const Tensor images = Tensor::uniform({6, 28, 28, 1}, 0, 1, 3);
  const Tensor labels = Tensor::from_vector<std::int32_t>({0, 1, 2, 3, 4, 5}, {6});
  t.x = {{"input", images}};
  t.y = {{"num_out", one_hot(labels, 10)},
         {"odd_out", Tensor::from_vector<float>({0, 1, 0, 1, 0, 1}, {6, 1})}};
  return t;
}

std::string message_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "no error";
}

TEST(MultiOutput, TotalLossIsTheWeightedSum) {
  TwoHeads t = two_heads();
  CompileOptions c;
  c.loss = {{"num_out", "categorical_crossentropy"}, {"odd_out", "binary_crossentropy"}};
  c.loss_weights = {{"num_out", 0.5}, {"odd_out", 2.0}};
  c.metrics = {{"num_out", {"accuracy"}}, {"odd_out", {"accuracy"}}};
  t.model->compile(c);
  const auto logs = t.model->evaluate(t.x, t.y, 6);
  EXPECT_NEAR(logs.at("loss"), 0.5 * logs.at("num_out_loss") + 2.0 * logs.at("odd_out_loss"), 1e-5);
  const auto step = t.model->train_step(t.x, t.y).to_host();
  EXPECT_NEAR(step.at("loss"), 0.5 * step.at("num_out_loss") + 2.0 * step.at("odd_out_loss"), 1e-5);
  EXPECT_GE(logs.at("odd_out_accuracy"), 0.0);
  const TensorMap p = t.model->predict(t.x);
  EXPECT_EQ(p.at("num_out").shape(), (Shape{6, 10}));
  EXPECT_EQ(p.at("odd_out").shape(), (Shape{6, 1}));
}

TEST(MultiOutput, ErrorsNameTheOutputs) {
  TwoHeads t = two_heads();
  CompileOptions bad;
  bad.loss = {{"num_out", "categorical_crossentropy"}, {"even_out", "binary_crossentropy"}};
  EXPECT_NE(message_of([&] { t.model->compile(bad); }).find("'even_out', which is not an output"),
            std::string::npos);
  CompileOptions c;
  c.loss = {{"num_out", "categorical_crossentropy"}, {"odd_out", "binary_crossentropy"}};
  t.model->compile(c);
  TensorMap missing = t.y;
  missing.erase("odd_out");
  EXPECT_NE(message_of([&] {
              t.model->evaluate(t.x, missing);
            }).find("no target given for output 'odd_out'"),
            std::string::npos);
  TensorMap wrong = t.y;
  wrong["odd_out"] = Tensor::zeros({6, 2});
  const std::string shape_error = message_of([&] { t.model->train_step(t.x, wrong); });
  EXPECT_NE(shape_error.find("binary_crossentropy: y_true (6, 2) and y_pred (6, 1)"),
            std::string::npos)
      << shape_error;
  SymbolicTensor other = Input({4}, "other");
  SymbolicTensor unreachable = Dense(2, {.name = "head"})(other);
  SymbolicTensor in = Input({4}, "in");
  EXPECT_NE(message_of([&] {
              Model m({in}, {unreachable});
            }).find("reads input 'other', which is not among"),
            std::string::npos);
}

}  // namespace
}  // namespace kiln
