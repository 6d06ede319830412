// Rows of the op table (op_table.h) for the layers added for Keras files: their Backend methods
// (general ReLU, maximum, channel_affine, inverse_sqrt, bilinear resize, depthwise convolution)
// on odd sizes, offsets, NaN, ties, padding, strides and empty batches; and
// each new layer run whole — forward and the gradients of its inputs and weights — so that the
// layers composed from existing ops are compared across devices too.
#include <cmath>
#include <string>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include "kiln/layers.h"
#include "op_table.h"

namespace kiln::cuda_test {

namespace {

using backend::Backend;
using backend::GeneralRelu;
using Outputs = std::vector<Tensor>;

void add_general_relu_cases(std::vector<OpCase>& cases) {
  const GeneralRelu relus[] = {{0.0, 0.0, 6.0}, {0.3, 0.0, INFINITY}, {0.1, 0.5, 2.0}};
  for (std::size_t r = 0; r < std::size(relus); ++r) {
    const GeneralRelu f = relus[r];
    for (std::int64_t n : {0, 1, 4099}) {
      const std::string tag = fmt::format("{}_{}", r, n);
      cases.push_back(
          {"general_relu_forward_" + tag, kElementwise, n > 0, false, [=](Backend& be, Device d) {
             const Tensor x = offset_copy(with_specials(Device::cpu(), {n}, 400, -8, 8), d, 1);
             Tensor y = output_on(d, {n});
             be.general_relu_forward(f, x, y);
             return Outputs{y};
           }});
      cases.push_back(
          {"general_relu_backward_" + tag, kElementwise, false, false, [=](Backend& be, Device d) {
             const Tensor x = with_ties(d, {n}, 401);
             Tensor dx = output_on(d, {n});
             be.general_relu_backward(f, x, uniform_on(d, {n}, 402), dx);
             return Outputs{dx};
           }});
    }
  }
}

void add_smooth_activation_cases(std::vector<OpCase>& cases) {
  using backend::SmoothActivation;
  const std::pair<const char*, SmoothActivation> kinds[] = {
      {"elu", SmoothActivation::elu},           {"selu", SmoothActivation::selu},
      {"softplus", SmoothActivation::softplus}, {"softsign", SmoothActivation::softsign},
      {"gelu", SmoothActivation::gelu},         {"exponential", SmoothActivation::exponential},
      {"mish", SmoothActivation::mish}};
  for (const auto& [name, f] : kinds) {
    for (std::int64_t n : {0, 1, 4099}) {
      const std::string tag = fmt::format("{}_{}", name, n);
      const SmoothActivation kind = f;
      cases.push_back({"smooth_activation_forward_" + tag, kElementwise, n > 0, false,
                       [=](Backend& be, Device d) {
                         const Tensor host = with_specials(Device::cpu(), {n}, 405, -8, 8);
                         const Tensor x = offset_copy(host, d, 1);
                         Tensor y = output_on(d, {n});
                         be.smooth_activation_forward(kind, x, y);
                         return Outputs{y};
                       }});
      cases.push_back({"smooth_activation_backward_" + tag, kElementwise, false, false,
                       [=](Backend& be, Device d) {
                         const Tensor x = uniform_on(d, {n}, 406, -8, 8);
                         Tensor dx = output_on(d, {n});
                         be.smooth_activation_backward(kind, x, uniform_on(d, {n}, 407), dx);
                         return Outputs{dx};
                       }});
    }
  }
}

void add_maximum_cases(std::vector<OpCase>& cases) {
  for (std::int64_t n : {0, 3, 5003}) {
    cases.push_back(
        {fmt::format("maximum_{}", n), kExact, n > 0, false, [=](Backend& be, Device d) {
           const Tensor a = with_specials(d, {n}, 410), b = with_ties(d, {n}, 411);
           Tensor out = output_on(d, {n});
           be.maximum(a, b, out);
           return Outputs{out};
         }});
    cases.push_back(
        {fmt::format("maximum_backward_{}", n), kExact, false, false, [=](Backend& be, Device d) {
           const Tensor a = with_ties(d, {n}, 412), b = with_ties(d, {n}, 413);
           Tensor da = output_on(d, {n}), db = output_on(d, {n});
           be.maximum_backward(a, b, uniform_on(d, {n}, 414), da, db);
           return Outputs{da, db};
         }});
  }
}

void add_channel_cases(std::vector<OpCase>& cases) {
  for (const Shape& shape : {Shape{0, 4}, Shape{7, 1}, Shape{3, 5, 6, 13}, Shape{2000, 32}}) {
    const std::int64_t c = shape.back();
    const std::string tag = fmt::format("{}x{}", shape.front(), c);
    for (bool with_shift : {false, true}) {
      cases.push_back({fmt::format("channel_affine_{}{}", tag, with_shift ? "_shift" : ""),
                       kElementwise, false, false, [=](Backend& be, Device d) {
                         const Tensor x = offset_copy(uniform_on(Device::cpu(), shape, 420), d, 3);
                         const Tensor shift = with_shift ? uniform_on(d, {c}, 422) : Tensor();
                         Tensor y = output_on(d, shape);
                         be.channel_affine(x, uniform_on(d, {c}, 421), shift, y);
                         return Outputs{y};
                       }});
    }
  }
  for (std::int64_t n : {0, 1, 517}) {
    cases.push_back(
        {fmt::format("inverse_sqrt_{}", n), kElementwise, false, false, [=](Backend& be, Device d) {
           Tensor y = output_on(d, {n});
           be.inverse_sqrt(uniform_on(d, {n}, 430, 0.0, 4.0), 1e-3, y);
           return Outputs{y};
         }});
  }
}

void add_resize_cases(std::vector<OpCase>& cases) {
  struct Resize {
    Shape small;
    std::int64_t oh, ow;
  };
  for (const Resize& r : {Resize{{2, 3, 4, 5}, 6, 12}, Resize{{1, 1, 1, 3}, 3, 2},
                          Resize{{3, 7, 5, 2}, 7, 15}, Resize{{0, 2, 2, 1}, 4, 4}}) {
    const Shape large{r.small[0], r.oh, r.ow, r.small[3]};
    const std::string tag =
        fmt::format("{}x{}x{}_to_{}x{}", r.small[0], r.small[1], r.small[2], r.oh, r.ow);
    cases.push_back(
        {"resize_bilinear_forward_" + tag, kElementwise, false, false, [=](Backend& be, Device d) {
           Tensor y = output_on(d, large);
           be.resize_bilinear_forward(uniform_on(d, r.small, 460), y);
           return Outputs{y};
         }});
    cases.push_back(
        {"resize_bilinear_backward_" + tag, kStrict, false, false, [=](Backend& be, Device d) {
           Tensor dx = output_on(d, r.small);
           be.resize_bilinear_backward(uniform_on(d, large, 461), dx);
           return Outputs{dx};
         }});
  }
}

void add_depthwise_cases(std::vector<OpCase>& cases) {
  struct Depthwise {
    const char* name;
    backend::Conv2dGeometry g;
  };
  // n, h, w, c, kh, kw, o (= c * m), oh, ow, strides, pad top / left
  const Depthwise geometries[] = {
      {"3x3_m1", {2, 7, 6, 5, 3, 3, 5, 5, 4, 1, 1, 0, 0}},
      {"3x3_m2_same_stride2", {2, 7, 8, 3, 3, 3, 6, 4, 4, 2, 2, 1, 0}},
      {"2x3_m3_padded", {1, 5, 5, 2, 2, 3, 6, 5, 3, 1, 2, 1, 1}},
      {"1x1_m2", {3, 4, 4, 4, 1, 1, 8, 4, 4, 1, 1, 0, 0}},
      {"empty_batch", {0, 5, 5, 2, 3, 3, 2, 3, 3, 1, 1, 0, 0}},
  };
  for (const Depthwise& geometry : geometries) {
    const backend::Conv2dGeometry g = geometry.g;
    const Shape x{g.n, g.h, g.w, g.c}, w{g.kh, g.kw, g.c, g.o / g.c}, y{g.n, g.oh, g.ow, g.o};
    const std::string tag = geometry.name;
    cases.push_back(
        {"depthwise_conv2d_forward_" + tag, kStrict, false, false, [=](Backend& be, Device d) {
           Tensor out = output_on(d, y);
           be.depthwise_conv2d_forward(g, uniform_on(d, x, 470), uniform_on(d, w, 471), out);
           return Outputs{out};
         }});
    cases.push_back({"depthwise_conv2d_backward_data_" + tag, kStrict, false, false,
                     [=](Backend& be, Device d) {
                       Tensor dx = output_on(d, x);
                       be.depthwise_conv2d_backward_data(g, uniform_on(d, y, 472),
                                                         uniform_on(d, w, 473), dx);
                       return Outputs{dx};
                     }});
    cases.push_back({"depthwise_conv2d_backward_filter_" + tag, kStrict, false, false,
                     [=](Backend& be, Device d) {
                       Tensor dw = output_on(d, w);
                       be.depthwise_conv2d_backward_filter(g, uniform_on(d, x, 474),
                                                           uniform_on(d, y, 475), dw);
                       return Outputs{dw};
                     }});
  }
}

// A layer run whole on `d` with fixed weights: its output, the gradient of sum(output * r) for each input and each
// weight, and the weights after the call (BatchNormalization moves its statistics in training).
Outputs run_layer(const LayerRef& layer, const std::vector<Shape>& shapes, bool training,
                  Device d) {
  std::vector<Tensor> inputs;
  for (std::size_t i = 0; i < shapes.size(); ++i)
    inputs.push_back(uniform_on(d, shapes[i], 440 + i, -2, 3));
  std::vector<Shape> per_sample;
  for (const Shape& s : shapes) per_sample.emplace_back(s.begin() + 1, s.end());
  layer->build(per_sample, d);
  // Fixed weights: auto names (and so the seeded initial values) differ between the two runs.
  // Positive, so that BatchNormalization's moving variance stays a variance.
  for (std::size_t i = 0; i < layer->weights().size(); ++i) {
    Tensor& value = layer->weights()[i]->value();
    value = uniform_on(d, value.shape(), 480 + i, 0.5, 1.5);
  }
  std::vector<Tensor> sources = inputs;
  for (const auto& w : layer->weights()) sources.push_back(w->value());
  Outputs outputs;
  {
    GradientTape tape;
    const Tensor y = layer->call(inputs, training);
    outputs.push_back(y);
    const std::vector<Tensor> grads = tape.gradient(y, sources, uniform_on(d, y.shape(), 450));
    outputs.insert(outputs.end(), grads.begin(), grads.end());
  }
  for (const auto& w : layer->weights()) outputs.push_back(w->value());
  return outputs;
}

struct LayerRow {
  std::string name;
  std::function<LayerRef()> make;
  std::vector<Shape> shapes;
  bool training = false;
};

void add_layer_cases(std::vector<OpCase>& cases) {
  const Shape image{3, 5, 6, 4};
  const std::vector<LayerRow> rows = {
      {"relu6", [] { return ReLU({.max_value = 6.0}); }, {image}},
      {"relu_threshold",
       [] {
         return ReLU({0.2, 1.5, 0.5});
       },
       {image}},
      {"leaky_relu", [] { return LeakyReLU(0.3); }, {image}},
      {"softmax", [] { return Softmax(); }, {{4, 11}}},
      {"rescaling", [] { return Rescaling(1.0 / 255, -0.5); }, {image}},
      {"reshape",
       [] {
         return Reshape({-1, 8});
       },
       {image}},
      {"zero_padding",
       [] { return ZeroPadding2D(Padding::explicit_amounts(1, 2, 3, 0)); },
       {image}},
      {"global_average_pooling", [] { return GlobalAveragePooling2D(); }, {image}},
      {"global_max_pooling", [] { return GlobalMaxPooling2D(true); }, {image}},
      {"upsampling_nearest", [] { return UpSampling2D(Size2(2, 3)); }, {image}},
      {"add", [] { return Add(); }, {image, image, image}},
      {"subtract", [] { return Subtract(); }, {image, image}},
      {"multiply", [] { return Multiply(); }, {image, image, image}},
      {"average", [] { return Average(); }, {image, image, image}},
      {"maximum", [] { return Maximum(); }, {image, image}},
      {"batch_normalization_training", [] { return BatchNormalization(); }, {image}, true},
      {"batch_normalization_inference",
       [] { return BatchNormalization({.epsilon = 0.01}); },
       {image}},
      {"batch_normalization_dense",
       [] { return BatchNormalization({.center = false}); },
       {{37, 9}},
       true},
      {"upsampling_bilinear", [] { return UpSampling2D(Size2(3, 2), "bilinear"); }, {image}},
      {"depthwise_conv2d",
       [] {
         return DepthwiseConv2D(3,
                                {.strides = 2, .padding = Padding::same(), .depth_multiplier = 2});
       },
       {image}},
      {"separable_conv2d",
       [] { return SeparableConv2D(7, Size2(2, 3), {.activation = "relu"}); },
       {image}},
      {"batch_normalization_frozen",
       [] {
         LayerRef frozen = BatchNormalization();
         frozen->set_trainable(false);  // inference mode, also in training
         return frozen;
       },
       {image},
       true},
  };
  std::vector<LayerRow> all = rows;
  for (const char* name :
       {"relu6", "leaky_relu", "swish", "silu", "hard_sigmoid", "hard_swish", "hard_silu", "elu",
        "selu", "softplus", "softsign", "gelu", "exponential", "mish"}) {
    all.push_back(
        {std::string("activation_") + name, [name] { return Activation(name); }, {image}});
  }
  for (const LayerRow& row : all) {
    cases.push_back({"layer_" + row.name, kStrict, false, false, [row](Backend&, Device d) {
                       return run_layer(row.make(), row.shapes, row.training, d);
                     }});
  }
}

}  // namespace

std::vector<OpCase> layer_cases() {
  std::vector<OpCase> cases;
  add_general_relu_cases(cases);
  add_smooth_activation_cases(cases);
  add_maximum_cases(cases);
  add_channel_cases(cases);
  add_resize_cases(cases);
  add_depthwise_cases(cases);
  add_layer_cases(cases);
  return cases;
}

}  // namespace kiln::cuda_test
