// Layer base: naming, lazy building, seeded Glorot initialisation, graph calls.
#include <cmath>
#include <map>
#include <mutex>

#include "autograd/numerics.h"
#include "core/check.h"
#include "core/counter_rng.h"
#include "kiln/layers.h"
#include "layers/naming.h"

namespace kiln {

namespace {

std::mutex naming_mutex;
std::map<std::string, int>& name_counters() {
  static std::map<std::string, int> counters;
  return counters;
}
std::uint64_t global_seed = 1337;

}  // namespace

std::string unique_name(const std::string& prefix) {
  std::lock_guard lock(naming_mutex);
  const int n = name_counters()[prefix]++;
  return n == 0 ? prefix : prefix + "_" + std::to_string(n);
}

namespace {

std::vector<Shape> shapes_of(const std::vector<Tensor>& xs) {
  std::vector<Shape> shapes;
  for (const Tensor& x : xs) {
    KILN_CHECK(x.defined() && x.rank() >= 1, "layer input must have a batch dimension");
    shapes.emplace_back(x.shape().begin() + 1, x.shape().end());
  }
  return shapes;
}

std::string shapes_text(const std::vector<Shape>& shapes) {
  std::string text;
  for (std::size_t i = 0; i < shapes.size(); ++i) {
    if (i > 0) text += ", ";
    text += batch_shape_str(shapes[i]);
  }
  return text;
}

}  // namespace

void set_random_seed(std::uint64_t seed) { global_seed = seed; }
std::uint64_t random_seed() { return global_seed; }

void clear_session() {
  std::lock_guard lock(naming_mutex);
  name_counters().clear();
}

const Shape& SymbolicTensor::shape() const {
  KILN_CHECK(node_ != nullptr, "SymbolicTensor: undefined (not the output of a layer call)");
  return node_->shape;
}

Layer& SymbolicTensor::layer() const {
  KILN_CHECK(node_ != nullptr, "SymbolicTensor: undefined (not the output of a layer call)");
  return *node_->layer;
}

Layer::Layer(const std::string& prefix, const std::string& name)
    : name_(name.empty() ? unique_name(prefix) : name) {}

Layer::~Layer() = default;

std::int64_t Layer::count_params() const {
  std::int64_t total = 0;
  for (const auto& w : weights_) total += w->value().numel();
  return total;
}

void Layer::build(const std::vector<Shape>& inputs, Device device) {
  if (built_) return;
  output_shape(inputs);  // validates
  create_weights(inputs, device);
  built_ = true;
}

void Layer::create_weights(const std::vector<Shape>&, Device) {}

Tensor Layer::call(const std::vector<Tensor>& inputs, bool training) {
  const std::vector<Shape> shapes = shapes_of(inputs);
  output_shape(shapes);  // validates before any kernel runs
  const autograd::LayerLabel label{name_, type()};
  return autograd::run_in_layer(&label, "the forward pass", [&] {
    build(shapes, inputs.at(0).device());
    return forward(inputs, training);
  });
}

SymbolicTensor Layer::operator()(const SymbolicTensor& x) {
  return (*this)(std::vector<SymbolicTensor>{x});
}

SymbolicTensor Layer::operator()(const std::vector<SymbolicTensor>& xs) {
  KILN_CHECK(!called_,
             "layer '{}': already called in a graph; kiln does not share a layer "
             "between calls, create a second layer",
             name_);
  auto node = std::make_shared<GraphNode>();
  node->layer = shared_from_this();
  std::vector<Shape> shapes;
  for (const SymbolicTensor& x : xs) {
    KILN_CHECK(x.node() != nullptr, "layer '{}': input is an undefined SymbolicTensor", name_);
    node->inputs.push_back(x.node());
    shapes.push_back(x.shape());
  }
  node->shape = output_shape(shapes);
  build(shapes, Device::cpu());
  called_ = true;
  return SymbolicTensor(node);
}

Tensor Layer::glorot_uniform(const std::string& weight, const Shape& shape, std::int64_t fan_in,
                             std::int64_t fan_out, Device device) const {
  const double limit = std::sqrt(6.0 / static_cast<double>(fan_in + fan_out));
  const std::uint64_t seed = rng::mix64(global_seed ^ rng::hash_text(name_ + "/" + weight));
  return Tensor::uniform(shape, -limit, limit, seed, DType::f32, device);
}

std::shared_ptr<Variable> Layer::add_weight(const std::string& weight, Tensor value,
                                            bool trainable) {
  auto variable = std::make_shared<Variable>(name_ + "/" + weight, std::move(value), trainable);
  weights_.push_back(variable);
  return variable;
}

void Layer::check_input_count(const std::vector<Shape>& inputs, std::size_t expected) const {
  KILN_CHECK(inputs.size() == expected, "layer '{}' ({}): expected {} input(s), found {}", name_,
             type(), expected, inputs.size());
}

void Layer::fail_shape(const std::string& what, const std::vector<Shape>& inputs) const {
  fail("layer '{}' ({}): {}; input shape(s): {}", name_, type(), what, shapes_text(inputs));
}

}  // namespace kiln
