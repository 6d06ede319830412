// float64 gradient checks (central differences) of every differentiable op and loss, on at least
// three shapes each.
#include "gradcheck.h"

#include "kiln/error.h"

namespace kiln {
namespace {

using testing::expect_gradients_match;
using testing::random_f64;

struct ConvCase {
  Shape x, kernel;
  Size2 strides;
  Padding padding;
};

TEST(Gradients, Conv2d) {
  const std::vector<ConvCase> cases = {
      {{2, 5, 5, 2}, {3, 3, 2, 3}, 1, Padding::valid()},
      {{1, 6, 7, 3}, {3, 3, 3, 2}, 2, Padding::same()},
      {{2, 4, 5, 1}, {2, 3, 1, 2}, Size2(1, 2), Padding::explicit_amounts(1, 0, 2, 1)},
      {{1, 5, 5, 2}, {5, 5, 2, 2}, 1, Padding::same()},
  };
  std::uint64_t seed = 1;
  for (const ConvCase& c : cases) {
    const Tensor b = random_f64({c.kernel[3]}, seed++);
    expect_gradients_match("conv2d " + shape_str(c.x),
                           [&](const std::vector<Tensor>& in) {
                             return conv2d(in[0], in[1], in[2], c.strides, c.padding);
                           },
                           {random_f64(c.x, seed++), random_f64(c.kernel, seed++), b});
  }
}

TEST(Gradients, Pooling) {
  struct PoolCase {
    Shape x;
    Size2 size;
    std::optional<Size2> strides;
    Padding padding;
  };
  const std::vector<PoolCase> cases = {
      {{2, 4, 4, 3}, 2, {}, Padding::valid()},
      {{1, 5, 7, 2}, 3, Size2(2), Padding::same()},
      {{2, 5, 5, 1}, Size2(2, 3), Size2(1, 2), Padding::valid()},
  };
  std::uint64_t seed = 100;
  for (const PoolCase& c : cases) {
    for (auto* pool : {&max_pool2d, &min_pool2d, &avg_pool2d}) {
      expect_gradients_match(
          "pool " + shape_str(c.x),
          [&](const std::vector<Tensor>& in) { return pool(in[0], c.size, c.strides, c.padding); },
          {random_f64(c.x, seed++)});
    }
  }
}

TEST(Gradients, DenseAndMatmul) {
  for (const auto& [n, in, out] :
       std::vector<std::tuple<int, int, int>>{{1, 3, 2}, {4, 5, 3}, {3, 7, 1}}) {
    expect_gradients_match(
        "dense", [](const std::vector<Tensor>& v) { return dense(v[0], v[1], v[2]); },
        {random_f64({n, in}, 11), random_f64({in, out}, 12), random_f64({out}, 13)});
    expect_gradients_match("matmul",
                           [](const std::vector<Tensor>& v) { return matmul(v[0], v[1]); },
                           {random_f64({n, in}, 14), random_f64({in, out}, 15)});
  }
}

TEST(Gradients, Activations) {
  for (const Shape& shape : {Shape{7}, Shape{3, 4}, Shape{2, 3, 2, 2}}) {
    // relu is not differentiable at 0: keep inputs away from it.
    Tensor x = random_f64(shape, 21, 0.1, 1.0);
    double* v = x.data<double>();
    for (std::int64_t i = 0; i < x.numel(); i += 2) v[i] = -v[i];
    expect_gradients_match("relu", [](const std::vector<Tensor>& in) { return relu(in[0]); }, {x});
    expect_gradients_match("sigmoid", [](const std::vector<Tensor>& in) { return sigmoid(in[0]); },
                           {random_f64(shape, 22, -3, 3)});
    expect_gradients_match("tanh", [](const std::vector<Tensor>& in) { return tanh(in[0]); },
                           {random_f64(shape, 23, -2, 2)});
    expect_gradients_match("softmax", [](const std::vector<Tensor>& in) { return softmax(in[0]); },
                           {random_f64(shape, 24, -3, 3)});
  }
}

TEST(Gradients, ShapeOps) {
  for (const Shape& shape : {Shape{2, 3}, Shape{2, 2, 3, 1}, Shape{1, 4, 2}}) {
    expect_gradients_match("flatten", [](const std::vector<Tensor>& in) { return flatten(in[0]); },
                           {random_f64(shape, 31)});
    expect_gradients_match("reshape",
                           [](const std::vector<Tensor>& in) { return reshape(in[0], {-1}); },
                           {random_f64(shape, 32)});
    Shape other = shape;
    other.back() += 2;
    expect_gradients_match("concatenate last",
                           [](const std::vector<Tensor>& in) {
                             return concatenate({in[0], in[1]}, -1);
                           },
                           {random_f64(shape, 33), random_f64(other, 34)});
    Shape rows = shape;
    rows[0] += 1;
    expect_gradients_match("concatenate axis 0",
                           [](const std::vector<Tensor>& in) {
                             return concatenate({in[0], in[1]}, 0);
                           },
                           {random_f64(shape, 35), random_f64(rows, 36)});
    expect_gradients_match("add", [](const std::vector<Tensor>& in) { return add(in[0], in[1]); },
                           {random_f64(shape, 37), random_f64(shape, 38)});
    expect_gradients_match("scale+mean",
                           [](const std::vector<Tensor>& in) { return mean(scale(in[0], 2.5)); },
                           {random_f64(shape, 39)});
    expect_gradients_match(
        "dropout", [](const std::vector<Tensor>& in) { return dropout(in[0], 0.4, true, 5); },
        {random_f64(shape, 40)});
  }
}

TEST(Gradients, Losses) {
  for (const auto& [rows, classes] : std::vector<std::pair<int, int>>{{1, 3}, {4, 5}, {6, 2}}) {
    std::vector<std::int32_t> labels;
    std::vector<double> hot(static_cast<std::size_t>(rows * classes), 0.0);
    for (int r = 0; r < rows; ++r) {
      labels.push_back((r * 7 + 1) % classes);
      hot[static_cast<std::size_t>(r * classes + labels.back())] = 1.0;
    }
    const Tensor y_hot = Tensor::from_vector(hot, {rows, classes});
    const Tensor y_sparse = Tensor::from_vector(labels, {rows});
    const Tensor logits = random_f64({rows, classes}, 51, -3, 3);
    expect_gradients_match("categorical_crossentropy(softmax)",
                           [&](const std::vector<Tensor>& in) {
                             return categorical_crossentropy(y_hot, softmax(in[0]));
                           },
                           {logits});
    expect_gradients_match(
        "categorical_crossentropy(logits)",
        [&](const std::vector<Tensor>& in) { return categorical_crossentropy(y_hot, in[0], true); },
        {logits});
    expect_gradients_match("sparse_categorical_crossentropy",
                           [&](const std::vector<Tensor>& in) {
                             return sparse_categorical_crossentropy(y_sparse, softmax(in[0]));
                           },
                           {logits});
    const Tensor targets = Tensor::uniform({rows, classes}, 0, 1, 52, DType::f64);
    expect_gradients_match(
        "binary_crossentropy(sigmoid)",
        [&](const std::vector<Tensor>& in) { return binary_crossentropy(targets, sigmoid(in[0])); },
        {logits});
  }
}

TEST(Gradients, SeedModelShapedChain) {
  // conv -> pool -> dense -> softmax CE end to end, as the seed model composes them.
  const Tensor y = Tensor::from_vector<std::int32_t>({1, 0}, {2});
  expect_gradients_match(
      "chain",
      [&](const std::vector<Tensor>& in) {
        Tensor h = max_pool2d(relu(conv2d(in[0], in[1], in[2])), 2);
        return sparse_categorical_crossentropy(y, softmax(dense(flatten(h), in[3], in[4])));
      },
      {random_f64({2, 6, 6, 1}, 61), random_f64({3, 3, 1, 2}, 62), random_f64({2}, 63),
       random_f64({8, 2}, 64), random_f64({2}, 65)});
}

}  // namespace
}  // namespace kiln
