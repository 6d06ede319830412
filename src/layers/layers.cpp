// The concrete layers: shape rules (checked before any kernel runs), weights, forward passes and
// Keras 2 configs.
#include "layers/layer_types.h"

#include "core/check.h"
#include "core/counter_rng.h"
#include "ops/activations.h"
#include "ops/fused_ops.h"
#include "ops/op_helpers.h"

namespace kiln::layers {

void check_activation(const Layer& layer, const std::string& type, const std::string& activation) {
  if (ops::is_activation(activation)) return;
  fail("{} '{}': unsupported activation '{}'; kiln supports {}", type, layer.name(), activation,
       ops::activation_name_list());
}

Json padding_json(const Padding& p) {
  if (p.kind == Padding::Kind::valid) return "valid";
  if (p.kind == Padding::Kind::same) return "same";
  return Json::array({Json::array({p.top, p.bottom}), Json::array({p.left, p.right})});
}

Json initializer(const char* class_name) {
  Json config = Json::object();
  if (std::string(class_name) == "GlorotUniform") config["seed"] = nullptr;
  return {{"class_name", class_name}, {"config", config}};
}

namespace {

// The keys Keras writes for a layer with a kernel and a bias (Conv2D, Dense): activation, bias,
// initializers, and no regularizers or constraints.
void add_weighted_layer_keys(Json& c, const std::string& activation, bool use_bias) {
  c["activation"] = activation;
  c["use_bias"] = use_bias;
  c["kernel_initializer"] = initializer("GlorotUniform");
  c["bias_initializer"] = initializer("Zeros");
  for (const char* k : {"kernel_regularizer", "bias_regularizer", "activity_regularizer",
                        "kernel_constraint", "bias_constraint"}) {
    c[k] = nullptr;
  }
}

std::int64_t product(const Shape& shape) {
  std::int64_t p = 1;
  for (std::int64_t e : shape) p *= e;
  return p;
}

}  // namespace

Json base_config(const Layer& layer) {
  return {{"name", layer.name()}, {"trainable", layer.trainable()}, {"dtype", "float32"}};
}

Json size2_json(Size2 s) { return Json::array({s.h, s.w}); }

// ---- InputLayer

InputLayerImpl::InputLayerImpl(Shape shape, const std::string& name)
    : Layer("input", name), shape_(std::move(shape)) {
  for (std::int64_t e : shape_) {
    KILN_CHECK(e >= 1, "Input: extents must be >= 1, found shape {}", shape_str(shape_));
  }
}

Shape InputLayerImpl::output_shape(const std::vector<Shape>& inputs) const {
  if (!inputs.empty() && inputs[0] != shape_) {
    fail_shape("expected input shape " + batch_shape_str(shape_), inputs);
  }
  return shape_;
}

Tensor InputLayerImpl::forward(const std::vector<Tensor>& inputs, bool) { return inputs.at(0); }

std::string InputLayerImpl::config_json() const {
  Json shape = Json::array({nullptr});
  for (std::int64_t e : shape_) shape.push_back(e);
  return Json{{"batch_input_shape", shape},
              {"dtype", "float32"},
              {"sparse", false},
              {"ragged", false},
              {"name", name()}}
      .dump();
}

// ---- Conv2D

Conv2DImpl::Conv2DImpl(std::int64_t filters, Size2 kernel_size, const Conv2DOptions& options)
    : WindowedLayer("conv2d", options.name),
      filters_(filters),
      kernel_size_(kernel_size),
      options_(options) {
  KILN_CHECK(filters >= 1, "Conv2D '{}': filters must be >= 1, found {}", name(), filters);
  ops::check_window("Conv2D", kernel_size, options.strides, options.padding);
  check_activation(*this, "Conv2D", options.activation);
}

Size2 WindowedLayer::window_output(const std::vector<Shape>& inputs, Size2 window, Size2 strides,
                                   const Padding& padding) const {
  check_input_count(inputs, 1);
  const Shape& in = inputs[0];
  if (in.size() != 3)
    fail_shape("expected an input of rank 4 (batch, height, width, channels)", inputs);
  if (built() && weights()[0]->value().dim(2) != in[2]) {
    fail_shape(fmt::format("expected {} input channels (built for them), found {}",
                           weights()[0]->value().dim(2), in[2]),
               inputs);
  }
  const WindowAxis rows = window_axis(in[0], window.h, strides.h, padding, true);
  const WindowAxis cols = window_axis(in[1], window.w, strides.w, padding, false);
  if (rows.output <= 0 || cols.output <= 0) {
    fail_shape(fmt::format("kernel {}x{} is larger than the padded input", window.h, window.w),
               inputs);
  }
  return {rows.output, cols.output};
}

Shape Conv2DImpl::output_shape(const std::vector<Shape>& inputs) const {
  const Size2 out = window_output(inputs, kernel_size_, options_.strides, options_.padding);
  return {out.h, out.w, filters_};
}

void Conv2DImpl::create_weights(const std::vector<Shape>& inputs, Device device) {
  const std::int64_t channels = inputs[0][2];
  const std::int64_t receptive = kernel_size_.h * kernel_size_.w;
  add_weight("kernel:0",
             glorot_uniform("kernel", {kernel_size_.h, kernel_size_.w, channels, filters_},
                            receptive * channels, receptive * filters_, device));
  if (options_.use_bias) add_weight("bias:0", Tensor::zeros({filters_}, DType::f32, device));
}

Tensor Conv2DImpl::forward(const std::vector<Tensor>& inputs, bool) {
  const Tensor bias = options_.use_bias ? weights()[1]->value() : Tensor();
  const auto fused = ops::fusable_activation(options_.activation);
  const Tensor y = ops::conv2d_activation(inputs[0], weights()[0]->value(), bias, options_.strides,
                                          options_.padding, fused);
  return fused ? y : activation(y, options_.activation);
}

std::string Conv2DImpl::config_json() const {
  Json c = base_config(*this);
  c["filters"] = filters_;
  c["kernel_size"] = size2_json(kernel_size_);
  c["strides"] = size2_json(options_.strides);
  c["padding"] = padding_json(options_.padding);
  c["data_format"] = "channels_last";
  c["dilation_rate"] = Json::array({1, 1});
  c["groups"] = 1;
  add_weighted_layer_keys(c, options_.activation, options_.use_bias);
  return c.dump();
}

// ---- pooling

namespace {
const char* pool_prefix(Pool2DImpl::Mode mode) {
  switch (mode) {
    case Pool2DImpl::Mode::max: return "max_pooling2d";
    case Pool2DImpl::Mode::min: return "min_pooling2d";
    case Pool2DImpl::Mode::avg: return "average_pooling2d";
  }
  return "pooling2d";
}
}  // namespace

Pool2DImpl::Pool2DImpl(Mode mode, const Pool2DOptions& options)
    : Layer(pool_prefix(mode), options.name),
      mode_(mode),
      pool_size_(options.pool_size),
      strides_(options.strides.value_or(options.pool_size)),
      padding_(options.padding) {
  ops::check_window(type().c_str(), pool_size_, strides_, padding_);
}

std::string Pool2DImpl::type() const {
  switch (mode_) {
    case Mode::max: return "MaxPooling2D";
    case Mode::min: return "MinPooling2D";
    case Mode::avg: return "AveragePooling2D";
  }
  return "Pooling2D";
}

Shape Pool2DImpl::output_shape(const std::vector<Shape>& inputs) const {
  check_input_count(inputs, 1);
  const Shape& in = inputs[0];
  if (in.size() != 3)
    fail_shape("expected an input of rank 4 (batch, height, width, channels)", inputs);
  const WindowAxis rows = window_axis(in[0], pool_size_.h, strides_.h, padding_, true);
  const WindowAxis cols = window_axis(in[1], pool_size_.w, strides_.w, padding_, false);
  if (rows.output <= 0 || cols.output <= 0) {
    fail_shape(
        fmt::format("pool size {}x{} is larger than the padded input", pool_size_.h, pool_size_.w),
        inputs);
  }
  return {rows.output, cols.output, in[2]};
}

Tensor Pool2DImpl::forward(const std::vector<Tensor>& inputs, bool) {
  switch (mode_) {
    case Mode::max: return max_pool2d(inputs[0], pool_size_, strides_, padding_);
    case Mode::min: return min_pool2d(inputs[0], pool_size_, strides_, padding_);
    case Mode::avg: return avg_pool2d(inputs[0], pool_size_, strides_, padding_);
  }
  fail("layer '{}': unknown pooling mode", name());
}

std::string Pool2DImpl::config_json() const {
  Json c = base_config(*this);
  c["pool_size"] = size2_json(pool_size_);
  c["padding"] = padding_json(padding_);
  c["strides"] = size2_json(strides_);
  c["data_format"] = "channels_last";
  return c.dump();
}

// ---- Dense

DenseImpl::DenseImpl(std::int64_t units, const DenseOptions& options)
    : Layer("dense", options.name), units_(units), options_(options) {
  KILN_CHECK(units >= 1, "Dense '{}': units must be >= 1, found {}", name(), units);
  check_activation(*this, "Dense", options.activation);
}

Shape DenseImpl::output_shape(const std::vector<Shape>& inputs) const {
  check_input_count(inputs, 1);
  if (inputs[0].size() != 1) {
    fail_shape("expected an input of rank 2 (batch, features); add a Flatten layer before it",
               inputs);
  }
  if (built() && weights()[0]->value().dim(0) != inputs[0][0]) {
    fail_shape(fmt::format("expected {} input features (built for them), found {}",
                           weights()[0]->value().dim(0), inputs[0][0]),
               inputs);
  }
  return {units_};
}

void DenseImpl::create_weights(const std::vector<Shape>& inputs, Device device) {
  const std::int64_t in = inputs[0][0];
  add_weight("kernel:0", glorot_uniform("kernel", {in, units_}, in, units_, device));
  if (options_.use_bias) add_weight("bias:0", Tensor::zeros({units_}, DType::f32, device));
}

Tensor DenseImpl::forward(const std::vector<Tensor>& inputs, bool) {
  const Tensor bias = options_.use_bias ? weights()[1]->value() : Tensor();
  const auto fused = ops::fusable_activation(options_.activation);
  const Tensor y = ops::dense_activation(inputs[0], weights()[0]->value(), bias, fused);
  return fused ? y : activation(y, options_.activation);
}

std::string DenseImpl::config_json() const {
  Json c = base_config(*this);
  c["units"] = units_;
  add_weighted_layer_keys(c, options_.activation, options_.use_bias);
  return c.dump();
}

// ---- Flatten

FlattenImpl::FlattenImpl(const std::string& name) : Layer("flatten", name) {}

Shape FlattenImpl::output_shape(const std::vector<Shape>& inputs) const {
  check_input_count(inputs, 1);
  return {product(inputs[0])};
}

Tensor FlattenImpl::forward(const std::vector<Tensor>& inputs, bool) { return flatten(inputs[0]); }

std::string FlattenImpl::config_json() const {
  Json c = base_config(*this);
  c["data_format"] = "channels_last";
  return c.dump();
}

// ---- Concatenate

ConcatenateImpl::ConcatenateImpl(int axis, const std::string& name)
    : Layer("concatenate", name), axis_(axis) {}

Shape ConcatenateImpl::output_shape(const std::vector<Shape>& inputs) const {
  if (inputs.size() < 2) fail_shape("expected at least 2 inputs", inputs);
  const int rank = static_cast<int>(inputs[0].size()) + 1;  // with the batch
  const int axis = axis_ < 0 ? axis_ + rank : axis_;
  if (axis < 1 || axis >= rank) fail_shape(fmt::format("axis {} is out of range", axis_), inputs);
  const auto a = static_cast<std::size_t>(axis - 1);
  Shape out = inputs[0];
  out[a] = 0;
  for (const Shape& s : inputs) {
    Shape masked = s;
    if (masked.size() == out.size()) masked[a] = 0;
    if (masked != out)
      fail_shape(fmt::format("shapes must agree except along axis {}", axis_), inputs);
  }
  for (const Shape& s : inputs) out[a] += s[a];
  return out;
}

Tensor ConcatenateImpl::forward(const std::vector<Tensor>& inputs, bool) {
  return concatenate(inputs, axis_);
}

std::string ConcatenateImpl::config_json() const {
  Json c = base_config(*this);
  c["axis"] = axis_;
  return c.dump();
}

// ---- Dropout

DropoutImpl::DropoutImpl(double rate, const std::string& name)
    : Layer("dropout", name), rate_(rate) {
  KILN_CHECK(rate >= 0.0 && rate < 1.0, "Dropout '{}': rate must be in [0, 1), found {}",
             this->name(), rate);
}

Shape DropoutImpl::output_shape(const std::vector<Shape>& inputs) const {
  check_input_count(inputs, 1);
  return inputs[0];
}

Tensor DropoutImpl::forward(const std::vector<Tensor>& inputs, bool training) {
  if (!training) return inputs[0];
  const std::uint64_t seed =
      rng::mix64(random_seed() ^ rng::mix64(calls_++) ^ rng::hash_text(name()));
  return dropout(inputs[0], rate_, true, seed);
}

std::string DropoutImpl::config_json() const {
  Json c = base_config(*this);
  c["rate"] = rate_;
  c["noise_shape"] = nullptr;
  c["seed"] = nullptr;
  return c.dump();
}

// ---- Activation

ActivationImpl::ActivationImpl(std::string activation, const std::string& name)
    : Layer("activation", name), activation_(std::move(activation)) {
  check_activation(*this, "Activation", activation_);
}

Shape ActivationImpl::output_shape(const std::vector<Shape>& inputs) const {
  check_input_count(inputs, 1);
  return inputs[0];
}

Tensor ActivationImpl::forward(const std::vector<Tensor>& inputs, bool) {
  return activation(inputs[0], activation_);
}

std::string ActivationImpl::config_json() const {
  Json c = base_config(*this);
  c["activation"] = activation_;
  return c.dump();
}

}  // namespace kiln::layers

namespace kiln {

using namespace layers;

SymbolicTensor Input(const Shape& shape, const std::string& name) {
  auto layer = std::make_shared<InputLayerImpl>(shape, name);
  return (*layer)(std::vector<SymbolicTensor>{});
}

LayerRef InputLayer(const Shape& shape, const std::string& name) {
  return LayerRef(std::make_shared<InputLayerImpl>(shape, name));
}

LayerRef Conv2D(std::int64_t filters, Size2 kernel_size, const Conv2DOptions& options) {
  return LayerRef(std::make_shared<Conv2DImpl>(filters, kernel_size, options));
}

LayerRef MaxPooling2D(const Pool2DOptions& options) {
  return LayerRef(std::make_shared<Pool2DImpl>(Pool2DImpl::Mode::max, options));
}

LayerRef MinPooling2D(const Pool2DOptions& options) {
  return LayerRef(std::make_shared<Pool2DImpl>(Pool2DImpl::Mode::min, options));
}

LayerRef AveragePooling2D(const Pool2DOptions& options) {
  return LayerRef(std::make_shared<Pool2DImpl>(Pool2DImpl::Mode::avg, options));
}

namespace {
Pool2DOptions pool_of_size(Size2 pool_size, const std::string& name) {
  Pool2DOptions options;
  options.pool_size = pool_size;
  options.name = name;
  return options;
}
}  // namespace

LayerRef MaxPooling2D(Size2 pool_size, const std::string& name) {
  return MaxPooling2D(pool_of_size(pool_size, name));
}

LayerRef MinPooling2D(Size2 pool_size, const std::string& name) {
  return MinPooling2D(pool_of_size(pool_size, name));
}

LayerRef AveragePooling2D(Size2 pool_size, const std::string& name) {
  return AveragePooling2D(pool_of_size(pool_size, name));
}

LayerRef Dense(std::int64_t units, const DenseOptions& options) {
  return LayerRef(std::make_shared<DenseImpl>(units, options));
}

LayerRef Flatten(const std::string& name) { return LayerRef(std::make_shared<FlattenImpl>(name)); }

LayerRef Concatenate(int axis, const std::string& name) {
  return LayerRef(std::make_shared<ConcatenateImpl>(axis, name));
}

LayerRef Dropout(double rate, const std::string& name) {
  return LayerRef(std::make_shared<DropoutImpl>(rate, name));
}

LayerRef Activation(const std::string& activation, const std::string& name) {
  return LayerRef(std::make_shared<ActivationImpl>(activation, name));
}

}  // namespace kiln
