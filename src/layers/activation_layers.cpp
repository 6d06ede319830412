// ReLU, LeakyReLU, Softmax and Rescaling: shape-preserving layers without weights.
#include "core/check.h"
#include "layers/layer_types.h"

namespace kiln::layers {

namespace {

class ReluLayer final : public ShapePreservingLayer {
 public:
  ReluLayer(const ReluOptions& options, const std::string& name)
      : ShapePreservingLayer("re_lu", name), options_(options) {
    KILN_CHECK(options.max_value.value_or(0.0) >= 0.0,
               "ReLU '{}': max_value must be >= 0 (or None), found {}", this->name(),
               *options.max_value);
    KILN_CHECK(options.negative_slope >= 0.0, "ReLU '{}': negative_slope must be >= 0, found {}",
               this->name(), options.negative_slope);
    KILN_CHECK(options.threshold >= 0.0, "ReLU '{}': threshold must be >= 0, found {}",
               this->name(), options.threshold);
  }
  std::string type() const override { return "ReLU"; }
  std::string config_json() const override {
    Json c = base_config(*this);
    c["max_value"] = options_.max_value ? Json(*options_.max_value) : Json(nullptr);
    c["negative_slope"] = options_.negative_slope;
    c["threshold"] = options_.threshold;
    return c.dump();
  }

 private:
  Tensor forward(const std::vector<Tensor>& inputs, bool) override {
    return relu(inputs[0], options_);
  }
  ReluOptions options_;
};

class LeakyReluLayer final : public ShapePreservingLayer {
 public:
  LeakyReluLayer(double negative_slope, const std::string& name)
      : ShapePreservingLayer("leaky_re_lu", name), negative_slope_(negative_slope) {
    KILN_CHECK(negative_slope >= 0.0, "LeakyReLU '{}': negative_slope must be >= 0, found {}",
               this->name(), negative_slope);
  }
  std::string type() const override { return "LeakyReLU"; }
  // Keras 2 spells the slope "alpha"; Keras 3 reads that spelling too.
  std::string config_json() const override {
    Json c = base_config(*this);
    c["alpha"] = negative_slope_;
    return c.dump();
  }

 private:
  Tensor forward(const std::vector<Tensor>& inputs, bool) override {
    return relu(inputs[0], ReluOptions{negative_slope_, std::nullopt, 0.0});
  }
  double negative_slope_;
};

class SoftmaxLayer final : public ShapePreservingLayer {
 public:
  SoftmaxLayer(int axis, const std::string& name)
      : ShapePreservingLayer("softmax", name), axis_(axis) {}
  std::string type() const override { return "Softmax"; }
  Shape output_shape(const std::vector<Shape>& inputs) const override {
    check_input_count(inputs, 1);
    const int rank = static_cast<int>(inputs[0].size()) + 1;
    if (axis_ != -1 && axis_ != rank - 1) {
      fail_shape(fmt::format("kiln's Softmax works over the last axis (-1 or {}), found axis {}",
                             rank - 1, axis_),
                 inputs);
    }
    return inputs[0];
  }
  std::string config_json() const override {
    Json c = base_config(*this);
    c["axis"] = axis_;
    return c.dump();
  }

 private:
  Tensor forward(const std::vector<Tensor>& inputs, bool) override { return softmax(inputs[0]); }
  int axis_;
};

class RescalingLayer final : public ShapePreservingLayer {
 public:
  RescalingLayer(double scale, double offset, const std::string& name)
      : ShapePreservingLayer("rescaling", name), scale_(scale), offset_(offset) {}
  std::string type() const override { return "Rescaling"; }
  std::string config_json() const override {
    Json c = base_config(*this);
    c["scale"] = scale_;
    c["offset"] = offset_;
    return c.dump();
  }

 private:
  // x * scale + offset through a one-channel view, so every device runs it in one pass.
  Tensor forward(const std::vector<Tensor>& inputs, bool) override {
    const Tensor& x = inputs[0];
    const Tensor scale = Tensor::full({1}, scale_, x.dtype(), x.device());
    const Tensor offset = Tensor::full({1}, offset_, x.dtype(), x.device());
    return reshape(channel_affine(reshape(x, {x.numel(), 1}), scale, offset), x.shape());
  }
  double scale_, offset_;
};

}  // namespace

}  // namespace kiln::layers

namespace kiln {

LayerRef ReLU(const ReluOptions& options, const std::string& name) {
  return LayerRef(std::make_shared<layers::ReluLayer>(options, name));
}

LayerRef LeakyReLU(double negative_slope, const std::string& name) {
  return LayerRef(std::make_shared<layers::LeakyReluLayer>(negative_slope, name));
}

LayerRef Softmax(int axis, const std::string& name) {
  return LayerRef(std::make_shared<layers::SoftmaxLayer>(axis, name));
}

LayerRef Rescaling(double scale, double offset, const std::string& name) {
  return LayerRef(std::make_shared<layers::RescalingLayer>(scale, offset, name));
}

}  // namespace kiln
