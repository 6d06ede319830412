// DepthwiseConv2D and SeparableConv2D: a convolution of each input channel with its own
// depth_multiplier kernels (depthwise_conv2d), and for SeparableConv2D a 1x1 convolution after it.
// Glorot-uniform kernels with Keras's fans for (kh, kw, in, out) shapes, zero biases.
#include "core/check.h"
#include "layers/layer_types.h"
#include "ops/fused_ops.h"
#include "ops/op_helpers.h"

namespace kiln::layers {

namespace {

class DepthwiseLayer final : public WindowedLayer {
 public:
  // filters == 0: DepthwiseConv2D; otherwise SeparableConv2D with that many filters.
  DepthwiseLayer(std::int64_t filters, Size2 kernel_size, const DepthwiseConv2DOptions& options)
      : WindowedLayer(filters == 0 ? "depthwise_conv2d" : "separable_conv2d", options.name),
        filters_(filters),
        kernel_size_(kernel_size),
        options_(options) {
    KILN_CHECK(options.depth_multiplier >= 1, "{} '{}': depth_multiplier must be >= 1, found {}",
               type(), name(), options.depth_multiplier);
    KILN_CHECK(filters >= 0, "{} '{}': filters must be >= 1, found {}", type(), name(), filters);
    ops::check_window(type().c_str(), kernel_size, options.strides, options.padding);
    check_activation(*this, type(), options.activation);
  }

  std::string type() const override { return separable() ? "SeparableConv2D" : "DepthwiseConv2D"; }

  Shape output_shape(const std::vector<Shape>& inputs) const override {
    const Size2 out = window_output(inputs, kernel_size_, options_.strides, options_.padding);
    return {out.h, out.w, separable() ? filters_ : inputs[0][2] * options_.depth_multiplier};
  }

  std::string config_json() const override {
    Json c = base_config(*this);
    if (separable()) c["filters"] = filters_;
    c["kernel_size"] = size2_json(kernel_size_);
    c["strides"] = size2_json(options_.strides);
    c["padding"] = padding_json(options_.padding);
    c["data_format"] = "channels_last";
    c["dilation_rate"] = Json::array({1, 1});
    c["activation"] = options_.activation;
    c["use_bias"] = options_.use_bias;
    c["depth_multiplier"] = options_.depth_multiplier;
    c["depthwise_initializer"] = initializer("GlorotUniform");
    if (separable()) c["pointwise_initializer"] = initializer("GlorotUniform");
    c["bias_initializer"] = initializer("Zeros");
    std::vector<std::string> empty = {"depthwise_regularizer", "bias_regularizer",
                                      "activity_regularizer", "depthwise_constraint",
                                      "bias_constraint"};
    if (separable()) empty.insert(empty.end(), {"pointwise_regularizer", "pointwise_constraint"});
    for (const std::string& k : empty) c[k] = nullptr;
    return c.dump();
  }

 private:
  bool separable() const { return filters_ > 0; }

  void create_weights(const std::vector<Shape>& inputs, Device device) override {
    const std::int64_t channels = inputs[0][2], m = options_.depth_multiplier;
    const std::int64_t receptive = kernel_size_.h * kernel_size_.w;
    add_weight("depthwise_kernel:0",
               glorot_uniform("depthwise_kernel", {kernel_size_.h, kernel_size_.w, channels, m},
                              receptive * channels, receptive * m, device));
    if (separable()) {
      add_weight("pointwise_kernel:0",
                 glorot_uniform("pointwise_kernel", {1, 1, channels * m, filters_}, channels * m,
                                filters_, device));
    }
    const std::int64_t outputs = separable() ? filters_ : channels * m;
    if (options_.use_bias) add_weight("bias:0", Tensor::zeros({outputs}, DType::f32, device));
  }

  Tensor forward(const std::vector<Tensor>& inputs, bool) override {
    const Tensor bias = options_.use_bias ? weights().back()->value() : Tensor();
    const Tensor& depthwise = weights()[0]->value();
    if (!separable()) {
      return activation(
          depthwise_conv2d(inputs[0], depthwise, bias, options_.strides, options_.padding),
          options_.activation);
    }
    const Tensor spread =
        depthwise_conv2d(inputs[0], depthwise, Tensor(), options_.strides, options_.padding);
    const auto fused = ops::fusable_activation(options_.activation);
    const Tensor y =
        ops::conv2d_activation(spread, weights()[1]->value(), bias, 1, Padding::valid(), fused);
    return fused ? y : activation(y, options_.activation);
  }

  std::int64_t filters_;
  Size2 kernel_size_;
  DepthwiseConv2DOptions options_;
};

}  // namespace

}  // namespace kiln::layers

namespace kiln {

LayerRef DepthwiseConv2D(Size2 kernel_size, const DepthwiseConv2DOptions& options) {
  return LayerRef(std::make_shared<layers::DepthwiseLayer>(0, kernel_size, options));
}

LayerRef SeparableConv2D(std::int64_t filters, Size2 kernel_size,
                         const DepthwiseConv2DOptions& options) {
  KILN_CHECK(filters >= 1, "SeparableConv2D: filters must be >= 1, found {}", filters);
  return LayerRef(std::make_shared<layers::DepthwiseLayer>(filters, kernel_size, options));
}

}  // namespace kiln
