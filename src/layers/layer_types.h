// The concrete layer classes behind the factories in kiln/layers.h (internal: the model loader
// constructs them from Keras configs).
#pragma once

#include <nlohmann/json.hpp>

#include "kiln/layers.h"

namespace kiln::layers {

using Json = nlohmann::ordered_json;

// Keys every Keras 2 layer config starts with.
Json base_config(const Layer& layer);
Json size2_json(Size2 s);
Json padding_json(const Padding& p);
// {"class_name": …, "config": {}} ({"seed": null} for GlorotUniform), as Keras writes it.
Json initializer(const char* class_name);
// Error naming the layer (its type and name) unless `activation` is one kiln::activation() takes
// (ops::activation_names()).
void check_activation(const Layer& layer, const std::string& type, const std::string& activation);

// A layer of one input whose output has the input's shape (activations, BatchNormalization).
class ShapePreservingLayer : public Layer {
 public:
  Shape output_shape(const std::vector<Shape>& inputs) const override {
    check_input_count(inputs, 1);
    return inputs[0];
  }

 protected:
  using Layer::Layer;
};

// A layer sliding a window over one image input (Conv2D, DepthwiseConv2D, SeparableConv2D).
class WindowedLayer : public Layer {
 protected:
  using Layer::Layer;
  // The output extents (oh, ow) of `window` over inputs[0] (h, w, c), after checking the rank,
  // the channels against the weights once built (weights()[0] is (kh, kw, c, …)) and that the
  // window fits in the padded input.
  Size2 window_output(const std::vector<Shape>& inputs, Size2 window, Size2 strides,
                      const Padding& padding) const;
};

class InputLayerImpl final : public Layer {
 public:
  InputLayerImpl(Shape shape, const std::string& name);
  std::string type() const override { return "InputLayer"; }
  Shape output_shape(const std::vector<Shape>& inputs) const override;
  std::string config_json() const override;
  const Shape& shape() const { return shape_; }

 private:
  Tensor forward(const std::vector<Tensor>& inputs, bool training) override;
  Shape shape_;
};

class Conv2DImpl final : public WindowedLayer {
 public:
  Conv2DImpl(std::int64_t filters, Size2 kernel_size, const Conv2DOptions& options);
  std::string type() const override { return "Conv2D"; }
  Shape output_shape(const std::vector<Shape>& inputs) const override;
  std::string config_json() const override;

 private:
  void create_weights(const std::vector<Shape>& inputs, Device device) override;
  Tensor forward(const std::vector<Tensor>& inputs, bool training) override;
  std::int64_t filters_;
  Size2 kernel_size_;
  Conv2DOptions options_;
};

class Pool2DImpl final : public Layer {
 public:
  enum class Mode { max, min, avg };
  Pool2DImpl(Mode mode, const Pool2DOptions& options);
  std::string type() const override;
  Shape output_shape(const std::vector<Shape>& inputs) const override;
  std::string config_json() const override;

 private:
  Tensor forward(const std::vector<Tensor>& inputs, bool training) override;
  Mode mode_;
  Size2 pool_size_;
  Size2 strides_;
  Padding padding_;
};

class DenseImpl final : public Layer {
 public:
  DenseImpl(std::int64_t units, const DenseOptions& options);
  std::string type() const override { return "Dense"; }
  Shape output_shape(const std::vector<Shape>& inputs) const override;
  std::string config_json() const override;

 private:
  void create_weights(const std::vector<Shape>& inputs, Device device) override;
  Tensor forward(const std::vector<Tensor>& inputs, bool training) override;
  std::int64_t units_;
  DenseOptions options_;
};

class FlattenImpl final : public Layer {
 public:
  explicit FlattenImpl(const std::string& name);
  std::string type() const override { return "Flatten"; }
  Shape output_shape(const std::vector<Shape>& inputs) const override;
  std::string config_json() const override;

 private:
  Tensor forward(const std::vector<Tensor>& inputs, bool training) override;
};

class ConcatenateImpl final : public Layer {
 public:
  ConcatenateImpl(int axis, const std::string& name);
  std::string type() const override { return "Concatenate"; }
  Shape output_shape(const std::vector<Shape>& inputs) const override;
  std::string config_json() const override;

 private:
  Tensor forward(const std::vector<Tensor>& inputs, bool training) override;
  int axis_;
};

class DropoutImpl final : public Layer {
 public:
  DropoutImpl(double rate, const std::string& name);
  std::string type() const override { return "Dropout"; }
  bool draws_per_call() const override { return true; }
  Shape output_shape(const std::vector<Shape>& inputs) const override;
  std::string config_json() const override;

 private:
  Tensor forward(const std::vector<Tensor>& inputs, bool training) override;
  double rate_;
  std::uint64_t calls_ = 0;
};

class ActivationImpl final : public Layer {
 public:
  ActivationImpl(std::string activation, const std::string& name);
  std::string type() const override { return "Activation"; }
  Shape output_shape(const std::vector<Shape>& inputs) const override;
  std::string config_json() const override;

 private:
  Tensor forward(const std::vector<Tensor>& inputs, bool training) override;
  std::string activation_;
};

}  // namespace kiln::layers
