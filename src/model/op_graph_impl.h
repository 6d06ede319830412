// The inside of kiln::OpGraph: nodes as the TF.js model.json stores them (attributes kept as
// JSON), the weights as tensors, and the kernels of each TensorFlow op (tf_ops.cpp).
#pragma once

#include <cstdint>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <unordered_map>
#include <vector>

#include "kiln/op_graph.h"

namespace kiln {

// (Named apart from the Keras graph's kiln::GraphNode in kiln/layers.h: one name for two structs
// is an ODR violation, which ASan caught as a heap overflow in ~Model.)
struct TfGraphNode {
  std::string name, op;
  std::vector<std::string> inputs;  // "node" or "node:k"; control inputs ("^node") dropped
  nlohmann::json attr;              // TF.js's AttrValue JSON (strings base64-encoded)
};

struct OpGraph::Impl {
  std::vector<TfGraphNode> nodes;
  std::unordered_map<std::string, std::size_t> index;  // node name -> position in nodes
  std::unordered_map<std::string, Tensor> weights;     // Const nodes' values
  std::vector<std::string> inputs, outputs;
  Device device = Device::cpu();
};

namespace tf {

// A node's attributes, decoded; each getter raises an Error naming the node when missing.
class Attributes {
 public:
  explicit Attributes(const TfGraphNode& node) : node_(node) {}
  std::string string(const std::string& key) const;
  std::vector<std::string> strings(const std::string& key) const;  // empty list when absent
  double number(const std::string& key) const;                     // a float attribute
  std::vector<std::int64_t> ints(const std::string& key) const;
  std::int64_t integer(const std::string& key, std::int64_t otherwise) const;
  bool boolean(const std::string& key, bool otherwise) const;
  std::string type(const std::string& key) const;  // "DT_FLOAT", …
  const TfGraphNode& node() const { return node_; }

 private:
  const nlohmann::json& find(const std::string& key) const;
  const TfGraphNode& node_;
};

// Runs one node on its input values; returns its outputs (TopKV2 has two).
using OpKernel = std::function<std::vector<Tensor>(const Attributes&, const std::vector<Tensor>&)>;

// The kernel of a TensorFlow op, or null when kiln does not run it.
const OpKernel* find_op(const std::string& op);

// Rewrites node patterns into fused kiln ops (op_graph_fusion.cpp); once, after reading.
void fuse_ops(OpGraph::Impl& graph);

// RFC 4648 base64, as TF.js encodes string attributes.
std::string base64_decode(const std::string& text);

}  // namespace tf
}  // namespace kiln
