// Rewrites of an OpGraph's nodes into fused kiln ops, made once when the graph is read. A
// rewritten node keeps its name, its value and its consumers; the nodes it no longer reads stay
// in the graph and run only when asked for.
//   hard-swish (MobileNetV3): Mul(Mul(x, scale), Relu6(Add(x, shift))), the two Muls' operands
//   in either order, scale and shift scalar constants -> _KilnHardSwish(x) {scale, shift}: one
//   pass over x instead of four (kiln::hard_swish, which evaluates the same expression in the
//   same order, so the value is the same).
#include <optional>

#include "model/op_graph_impl.h"

namespace kiln::tf {

namespace {

// The node an input reference reads when it is the node's first output ("name" or "name:0").
const TfGraphNode* producer(const OpGraph::Impl& g, const std::string& ref) {
  std::string name = ref;
  if (name.size() > 2 && name.compare(name.size() - 2, 2, ":0") == 0) name.resize(name.size() - 2);
  if (name.find(':') != std::string::npos) return nullptr;
  const auto it = g.index.find(name);
  return it == g.index.end() ? nullptr : &g.nodes[it->second];
}

std::optional<double> scalar_constant(const OpGraph::Impl& g, const std::string& ref) {
  const TfGraphNode* node = producer(g, ref);
  if (node == nullptr || node->op != "Const") return std::nullopt;
  const auto it = g.weights.find(node->name);
  if (it == g.weights.end() || it->second.numel() != 1 || it->second.dtype() != DType::f32) {
    return std::nullopt;
  }
  return static_cast<double>(it->second.to_vector<float>()[0]);
}

bool same_value(const std::string& a, const std::string& b) {
  const auto strip = [](const std::string& ref) {
    return ref.size() > 2 && ref.compare(ref.size() - 2, 2, ":0") == 0
               ? ref.substr(0, ref.size() - 2)
               : ref;
  };
  return strip(a) == strip(b);
}

// x op constant or constant op x: (x, constant), when one operand of `node` is a scalar constant.
std::optional<std::pair<std::string, double>> with_constant(const OpGraph::Impl& g,
                                                            const TfGraphNode& node) {
  if (node.inputs.size() != 2) return std::nullopt;
  for (int c = 0; c < 2; ++c) {
    if (const auto value = scalar_constant(g, node.inputs[static_cast<std::size_t>(c)])) {
      return std::make_pair(node.inputs[static_cast<std::size_t>(1 - c)], *value);
    }
  }
  return std::nullopt;
}

void fuse_hard_swish(OpGraph::Impl& g, TfGraphNode& node) {
  if (node.op != "Mul" || node.inputs.size() != 2) return;
  for (int r = 0; r < 2; ++r) {
    const TfGraphNode* relu6 = producer(g, node.inputs[static_cast<std::size_t>(r)]);
    const TfGraphNode* scaled = producer(g, node.inputs[static_cast<std::size_t>(1 - r)]);
    if (relu6 == nullptr || scaled == nullptr || relu6->op != "Relu6" || scaled->op != "Mul" ||
        relu6->inputs.size() != 1) {
      continue;
    }
    const TfGraphNode* shifted = producer(g, relu6->inputs[0]);
    if (shifted == nullptr || (shifted->op != "Add" && shifted->op != "AddV2")) continue;
    const auto shift = with_constant(g, *shifted);
    const auto scale = with_constant(g, *scaled);
    if (!shift || !scale || !same_value(shift->first, scale->first)) continue;
    node.op = "_KilnHardSwish";
    node.inputs = {shift->first};
    node.attr = {{"scale", {{"f", scale->second}}}, {"shift", {{"f", shift->second}}}};
    return;
  }
}

}  // namespace

void fuse_ops(OpGraph::Impl& graph) {
  for (TfGraphNode& node : graph.nodes) fuse_hard_swish(graph, node);
}

}  // namespace kiln::tf
