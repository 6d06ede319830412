// Layers in Keras's vocabulary. A layer builds its weights lazily from the first input shape
// (Glorot-uniform kernels, zero biases, seeded), has a unique name (`conv2d`, `conv2d_1`, … or
// the user's) and a JSON config in Keras 2's format. Calling a layer on SymbolicTensors builds a
// model graph; Model (model.h) runs it on real tensors.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "kiln/export.h"
#include "kiln/ops.h"
#include "kiln/tape.h"
#include "kiln/tensor.h"

namespace kiln {

class Layer;

// One call of a layer in a graph: its inputs and its output shape (batch excluded).
struct GraphNode {
  std::shared_ptr<Layer> layer;
  std::vector<std::shared_ptr<GraphNode>> inputs;
  Shape shape;
};

// The output of a layer call in a model graph (Keras's KerasTensor): a shape without the batch.
class KILN_API SymbolicTensor {
 public:
  SymbolicTensor() = default;
  explicit SymbolicTensor(std::shared_ptr<GraphNode> node) : node_(std::move(node)) {}
  const Shape& shape() const;
  Layer& layer() const;
  const std::shared_ptr<GraphNode>& node() const { return node_; }

 private:
  std::shared_ptr<GraphNode> node_;
};

class KILN_API Layer : public std::enable_shared_from_this<Layer> {
 public:
  virtual ~Layer();
  Layer(const Layer&) = delete;
  Layer& operator=(const Layer&) = delete;

  const std::string& name() const { return name_; }
  // Keras class name: "Conv2D", "MaxPooling2D", …
  virtual std::string type() const = 0;
  // Output shape (batch excluded) for these input shapes; Error naming the layer when they do
  // not fit.
  virtual Shape output_shape(const std::vector<Shape>& inputs) const = 0;
  // Forward pass on batches (recorded on the active tape). Builds the weights on first use.
  Tensor call(const std::vector<Tensor>& inputs, bool training);
  // Creates the weights for these input shapes on `device`; a no-op once built.
  void build(const std::vector<Shape>& inputs, Device device);
  bool built() const { return built_; }

  const std::vector<std::shared_ptr<Variable>>& weights() const { return weights_; }
  std::int64_t count_params() const;
  // Keras's layer.trainable. A frozen layer (false) keeps its weights through fit (they are left
  // out of Model::trainable_weights and counted as "Non-trainable params"), and a frozen
  // BatchNormalization normalises with its moving statistics even in training, as Keras 2.1+
  // does. Set it before training (afterwards, compile again with a fresh optimizer).
  bool trainable() const { return trainable_; }
  void set_trainable(bool trainable) { trainable_ = trainable; }
  // The layer's Keras 2 config as a JSON object text: {"name": ..., "trainable": true, ...}.
  virtual std::string config_json() const = 0;
  // Whether a training call draws fresh host-side randomness (a seed per call), so that a
  // captured step replayed later would repeat the first call's draw (Note [Captured steps]).
  virtual bool draws_per_call() const { return false; }

  // Graph building: apply the layer to symbolic inputs.
  SymbolicTensor operator()(const SymbolicTensor& x);
  SymbolicTensor operator()(const std::vector<SymbolicTensor>& xs);

 protected:
  // `prefix` is the snake_case base of auto names ("conv2d"); `name` the user's, or empty.
  Layer(const std::string& prefix, const std::string& name);
  virtual void create_weights(const std::vector<Shape>& inputs, Device device);
  virtual Tensor forward(const std::vector<Tensor>& inputs, bool training) = 0;
  // Glorot-uniform tensor, seeded by the global seed, this layer's name and the weight's name.
  Tensor glorot_uniform(const std::string& weight, const Shape& shape, std::int64_t fan_in,
                        std::int64_t fan_out, Device device) const;
  // A non-trainable weight (BatchNormalization's moving statistics) gets no gradient and is left
  // alone by the optimizers.
  std::shared_ptr<Variable> add_weight(const std::string& weight, Tensor value,
                                       bool trainable = true);
  void check_input_count(const std::vector<Shape>& inputs, std::size_t expected) const;
  [[noreturn]] void fail_shape(const std::string& what, const std::vector<Shape>& inputs) const;

 private:
  std::string name_;
  std::vector<std::shared_ptr<Variable>> weights_;
  bool trainable_ = true;
  bool built_ = false;
  bool called_ = false;
};

using LayerPtr = std::shared_ptr<Layer>;

// What the layer factories return: the layer, callable on SymbolicTensors.
class KILN_API LayerRef {
 public:
  LayerRef(LayerPtr layer) : layer_(std::move(layer)) {}  // NOLINT(google-explicit-constructor)
  SymbolicTensor operator()(const SymbolicTensor& x) const { return (*layer_)(x); }
  SymbolicTensor operator()(const std::vector<SymbolicTensor>& xs) const { return (*layer_)(xs); }
  Layer* operator->() const { return layer_.get(); }
  Layer& operator*() const { return *layer_; }
  const LayerPtr& ptr() const { return layer_; }

 private:
  LayerPtr layer_;
};

// Seeds weight initialisation and dropout (like keras.utils.set_random_seed). Default 1337.
KILN_API void set_random_seed(std::uint64_t seed);
KILN_API std::uint64_t random_seed();
// Resets the auto-name counters (like keras.backend.clear_session()).
KILN_API void clear_session();

struct Conv2DOptions {
  Size2 strides = 1;
  Padding padding = Padding::valid();
  std::string activation = "linear";
  bool use_bias = true;
  std::string name;
};

// Keras's MaxPooling2D(pool_size, strides, padding, name), and the same for the others.
struct Pool2DOptions : PoolWindow {
  std::string name;
};

struct DenseOptions {
  std::string activation = "linear";
  bool use_bias = true;
  std::string name;
};

// The input of a functional model: shape without the batch, e.g. {28, 28, 1}.
KILN_API SymbolicTensor Input(const Shape& shape, const std::string& name = "");
// An input layer for Sequential models: Sequential({InputLayer({28, 28, 1}), …}).
KILN_API LayerRef InputLayer(const Shape& shape, const std::string& name = "");
KILN_API LayerRef Conv2D(std::int64_t filters, Size2 kernel_size,
                         const Conv2DOptions& options = {});
KILN_API LayerRef MaxPooling2D(const Pool2DOptions& options = {});
KILN_API LayerRef MinPooling2D(const Pool2DOptions& options = {});
KILN_API LayerRef AveragePooling2D(const Pool2DOptions& options = {});
// The common case: windows of pool_size, strides pool_size, valid padding.
KILN_API LayerRef MaxPooling2D(Size2 pool_size, const std::string& name = "");
KILN_API LayerRef MinPooling2D(Size2 pool_size, const std::string& name = "");
KILN_API LayerRef AveragePooling2D(Size2 pool_size, const std::string& name = "");
KILN_API LayerRef Dense(std::int64_t units, const DenseOptions& options = {});
KILN_API LayerRef Flatten(const std::string& name = "");
KILN_API LayerRef Concatenate(int axis = -1, const std::string& name = "");
KILN_API LayerRef Dropout(double rate, const std::string& name = "");
KILN_API LayerRef Activation(const std::string& activation, const std::string& name = "");

// ---- more of Keras's layers (Keras's defaults; the differences from Keras are in docs/LAYERS.md)

struct BatchNormalizationOptions {
  int axis = -1;  // kiln normalises over the last axis only (channels_last)
  double momentum = 0.99;
  double epsilon = 1e-3;
  bool center = true;  // beta
  bool scale = true;   // gamma
  std::string name;
};
// Weights gamma, beta (trainable), moving_mean, moving_variance (not trainable), in Keras's order.
// Training: normalises with the batch's mean and biased variance and moves the moving statistics
// (moving = moving * momentum + batch * (1 - momentum)); inference: uses the moving statistics.
KILN_API LayerRef BatchNormalization(const BatchNormalizationOptions& options = {});
// relu(x, negative_slope, max_value, threshold) — ReLU({.max_value = 6.0}) is ReLU6.
KILN_API LayerRef ReLU(const ReluOptions& options = {}, const std::string& name = "");
KILN_API LayerRef LeakyReLU(double negative_slope = 0.3, const std::string& name = "");
// Softmax over `axis`; kiln supports the last axis.
KILN_API LayerRef Softmax(int axis = -1, const std::string& name = "");
// y = x * scale + offset.
KILN_API LayerRef Rescaling(double scale, double offset = 0.0, const std::string& name = "");
// (batch, ...) -> (batch, target_shape...); one extent of target_shape may be -1 (inferred).
KILN_API LayerRef Reshape(const Shape& target_shape, const std::string& name = "");
// Zeros around images (batch, h, w, c): explicit amounts, e.g. Padding::symmetric(1, 1).
KILN_API LayerRef ZeroPadding2D(const Padding& padding = Padding::symmetric(1, 1),
                                const std::string& name = "");
// (batch, h, w, c) -> (batch, c), or (batch, 1, 1, c) with keepdims.
KILN_API LayerRef GlobalAveragePooling2D(bool keepdims = false, const std::string& name = "");
KILN_API LayerRef GlobalMaxPooling2D(bool keepdims = false, const std::string& name = "");
// Repeats each pixel size.h x size.w times ("nearest"), or interpolates ("bilinear", half-pixel
// centres as tf.image.resize).
KILN_API LayerRef UpSampling2D(Size2 size = 2, const std::string& interpolation = "nearest",
                               const std::string& name = "");
struct DepthwiseConv2DOptions {
  Size2 strides = 1;
  Padding padding = Padding::valid();
  std::int64_t depth_multiplier = 1;
  std::string activation = "linear";
  bool use_bias = true;
  std::string name;
};
// Weights depthwise_kernel (kh, kw, c, depth_multiplier) and bias (c * depth_multiplier).
KILN_API LayerRef DepthwiseConv2D(Size2 kernel_size, const DepthwiseConv2DOptions& options = {});
// A depthwise convolution, then a 1x1 convolution to `filters` channels with the bias and
// activation. Weights depthwise_kernel (kh, kw, c, depth_multiplier), pointwise_kernel
// (1, 1, c * depth_multiplier, filters), bias (filters).
KILN_API LayerRef SeparableConv2D(std::int64_t filters, Size2 kernel_size,
                                  const DepthwiseConv2DOptions& options = {});
// Merges of two or more inputs of one shape (Subtract: exactly two).
KILN_API LayerRef Add(const std::string& name = "");
KILN_API LayerRef Subtract(const std::string& name = "");
KILN_API LayerRef Multiply(const std::string& name = "");
KILN_API LayerRef Average(const std::string& name = "");
KILN_API LayerRef Maximum(const std::string& name = "");

}  // namespace kiln
