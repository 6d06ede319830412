// The merge layers Add, Subtract, Multiply, Average and Maximum: two or more inputs of one shape
// (Subtract: exactly two), folded left to right as Keras does. Keras also broadcasts inputs whose
// extents differ by 1s; kiln asks for equal shapes and says which differ.
#include "core/check.h"
#include "layers/layer_types.h"

namespace kiln::layers {

namespace {

enum class Merge { add, subtract, multiply, average, maximum };

struct MergeNames {
  const char* type;
  const char* prefix;
};

MergeNames names_of(Merge merge) {
  switch (merge) {
    case Merge::add: return {"Add", "add"};
    case Merge::subtract: return {"Subtract", "subtract"};
    case Merge::multiply: return {"Multiply", "multiply"};
    case Merge::average: return {"Average", "average"};
    case Merge::maximum: return {"Maximum", "maximum"};
  }
  return {"Merge", "merge"};
}

class MergeLayer final : public Layer {
 public:
  MergeLayer(Merge merge, const std::string& name)
      : Layer(names_of(merge).prefix, name), merge_(merge) {}
  std::string type() const override { return names_of(merge_).type; }

  Shape output_shape(const std::vector<Shape>& inputs) const override {
    if (merge_ == Merge::subtract) {
      check_input_count(inputs, 2);
    } else if (inputs.size() < 2) {
      fail_shape(fmt::format("expected at least 2 inputs, found {}", inputs.size()), inputs);
    }
    for (const Shape& s : inputs) {
      if (s != inputs[0]) fail_shape("expected inputs of one shape", inputs);
    }
    return inputs[0];
  }

  std::string config_json() const override { return base_config(*this).dump(); }

 private:
  Tensor forward(const std::vector<Tensor>& inputs, bool) override {
    Tensor out = inputs[0];
    for (std::size_t i = 1; i < inputs.size(); ++i) out = combine(out, inputs[i]);
    if (merge_ == Merge::average) out = scale(out, 1.0 / static_cast<double>(inputs.size()));
    return out;
  }

  Tensor combine(const Tensor& a, const Tensor& b) const {
    switch (merge_) {
      case Merge::add:
      case Merge::average: return add(a, b);
      case Merge::subtract: return subtract(a, b);
      case Merge::multiply: return multiply(a, b);
      case Merge::maximum: return maximum(a, b);
    }
    fail("layer '{}': unknown merge", name());
  }

  Merge merge_;
};

LayerRef merge_layer(Merge merge, const std::string& name) {
  return LayerRef(std::make_shared<MergeLayer>(merge, name));
}

}  // namespace

}  // namespace kiln::layers

namespace kiln {

LayerRef Add(const std::string& name) { return layers::merge_layer(layers::Merge::add, name); }
LayerRef Subtract(const std::string& name) {
  return layers::merge_layer(layers::Merge::subtract, name);
}
LayerRef Multiply(const std::string& name) {
  return layers::merge_layer(layers::Merge::multiply, name);
}
LayerRef Average(const std::string& name) {
  return layers::merge_layer(layers::Merge::average, name);
}
LayerRef Maximum(const std::string& name) {
  return layers::merge_layer(layers::Merge::maximum, name);
}

}  // namespace kiln
