// Reads a TF.js graph model (tfjs-converter's "graph-model" format) into an OpGraph:
// model.json holds modelTopology.node[] (name, op, inputs, AttrValue JSON) and weightsManifest,
// a list of groups whose shard files, concatenated in order, hold the weights one after another
// in the manifest's order. A weight is float32 / int32 as stored, or quantised: float16
// (IEEE half) or uint8 / uint16 (value = q * scale + min), both read back as float32.
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>

#include "core/check.h"
#include "model/op_graph_impl.h"

namespace kiln {

namespace {

namespace fs = std::filesystem;
using Json = nlohmann::json;

std::string read_bytes(const fs::path& path, const char* what) {
  std::ifstream in(path, std::ios::binary);
  KILN_CHECK(in.good(), "cannot read the TF.js {} {}", what, path.string());
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

Json parse_model_json(const fs::path& path) {
  const std::string text = read_bytes(path, "model");
  try {
    return Json::parse(text);
  } catch (const Json::exception& e) {
    fail("{}: not a TF.js model.json ({})", path.string(), e.what());
  }
}

float half_to_float(std::uint16_t h) {
  const int sign = (h >> 15) != 0 ? -1 : 1;
  const int exponent = (h >> 10) & 0x1f;
  const int mantissa = h & 0x3ff;
  if (exponent == 0) return static_cast<float>(sign * std::ldexp(mantissa, -24));
  if (exponent == 31) return mantissa == 0 ? static_cast<float>(sign) * INFINITY : NAN;
  return static_cast<float>(sign * std::ldexp(mantissa + 1024, exponent - 25));
}

template <class T>
std::vector<T> read_values(const std::string& bytes, std::size_t offset, std::int64_t count) {
  std::vector<T> values(static_cast<std::size_t>(count));
  std::memcpy(values.data(), bytes.data() + offset, values.size() * sizeof(T));
  return values;
}

std::size_t stored_size(const std::string& dtype, const std::string& name) {
  if (dtype == "float32" || dtype == "int32") return 4;
  if (dtype == "float16" || dtype == "uint16") return 2;
  if (dtype == "uint8" || dtype == "bool") return 1;
  fail(
      "TF.js weight '{}': unsupported dtype '{}' (expected float32, int32, float16, uint16, uint8)",
      name, dtype);
}

// One weight of `count` elements at `offset` of the concatenated shards.
Tensor decode_weight(const Json& spec, const std::string& bytes, std::size_t offset,
                     std::int64_t count, const Shape& shape) {
  const std::string name = spec.at("name");
  const std::string dtype = spec.at("dtype");
  if (!spec.contains("quantization")) {
    if (dtype == "float32")
      return Tensor::from_vector(read_values<float>(bytes, offset, count), shape);
    if (dtype == "int32") {
      return Tensor::from_vector(read_values<std::int32_t>(bytes, offset, count), shape);
    }
    fail("TF.js weight '{}': unsupported dtype '{}' (expected float32 or int32)", name, dtype);
  }
  const Json& q = spec.at("quantization");
  const std::string stored = q.at("dtype");
  std::vector<float> values(static_cast<std::size_t>(count));
  if (stored == "float16") {
    const std::vector<std::uint16_t> halves = read_values<std::uint16_t>(bytes, offset, count);
    for (std::size_t i = 0; i < values.size(); ++i) values[i] = half_to_float(halves[i]);
  } else if (stored == "uint8" || stored == "uint16") {
    const float scale = q.at("scale"), min = q.at("min");
    for (std::size_t i = 0; i < values.size(); ++i) {
      const auto* p = reinterpret_cast<const unsigned char*>(bytes.data() + offset);
      const float level =
          stored == "uint8" ? p[i] : static_cast<float>(p[2 * i] | (p[2 * i + 1] << 8));
      values[i] = level * scale + min;
    }
  } else {
    fail("TF.js weight '{}': unsupported quantisation '{}' (expected float16, uint8, uint16)", name,
         stored);
  }
  Tensor t = Tensor::from_vector(values, shape);
  return dtype == "int32" ? t.astype(DType::i32) : t;
}

void read_weight_group(const Json& group, const fs::path& dir, OpGraph::Impl& graph) {
  std::string bytes;
  for (const Json& path : group.at("paths"))
    bytes += read_bytes(dir / path.get<std::string>(), "weight shard");
  std::size_t offset = 0;
  for (const Json& spec : group.at("weights")) {
    const std::string name = spec.at("name");
    const Shape shape = spec.at("shape").get<Shape>();
    std::int64_t count = 1;
    for (std::int64_t d : shape) count *= d;
    const std::string stored =
        spec.contains("quantization") ? spec["quantization"].at("dtype") : spec.at("dtype");
    const std::size_t size = static_cast<std::size_t>(count) * stored_size(stored, name);
    KILN_CHECK(offset + size <= bytes.size(),
               "TF.js weight '{}' {} ends at byte {}, but the shards {} hold {} bytes", name,
               shape_str(shape), offset + size, group.at("paths").dump(), bytes.size());
    graph.weights[name] = decode_weight(spec, bytes, offset, count, shape);
    offset += size;
  }
  KILN_CHECK(offset == bytes.size(), "TF.js shards {} hold {} bytes, the manifest describes {}",
             group.at("paths").dump(), bytes.size(), offset);
}

TfGraphNode read_node(const Json& j) {
  TfGraphNode node{j.at("name"), j.at("op"), {}, j.value("attr", Json::object())};
  for (const Json& input : j.value("input", Json::array())) {
    const std::string text = input;
    if (!text.empty() && text[0] != '^') node.inputs.push_back(text);
  }
  return node;
}

std::vector<std::string> signature_names(const Json& model, const char* key) {
  std::vector<std::string> names;
  if (!model.contains("signature") || !model["signature"].contains(key)) return names;
  for (const auto& [name, value] : model["signature"][key].items()) {
    names.push_back(value.value("name", name));
  }
  return names;
}

// Without a signature (BlazeFace's model.json has none), TF.js's loader takes the Placeholder
// nodes as the inputs and the nodes nothing reads as the outputs, in node order; so does kiln,
// leaving out constants nothing reads.
void inputs_and_outputs_from_nodes(OpGraph::Impl& graph) {
  std::vector<char> read(graph.nodes.size(), 0);
  for (const TfGraphNode& node : graph.nodes) {
    for (const std::string& input : node.inputs) {
      const auto it = graph.index.find(input.substr(0, input.rfind(':')));  // "node" or "node:k"
      if (it != graph.index.end()) read[it->second] = 1;
    }
  }
  for (std::size_t i = 0; i < graph.nodes.size(); ++i) {
    const TfGraphNode& node = graph.nodes[i];
    if (node.op == "Placeholder") {
      graph.inputs.push_back(node.name);
    } else if (read[i] == 0 && node.op != "Const") {
      graph.outputs.push_back(node.name);
    }
  }
}

}  // namespace

OpGraph OpGraph::load_tfjs(const std::string& model_json) {
  const fs::path path(model_json);
  const Json model = parse_model_json(path);
  KILN_CHECK(model.contains("modelTopology") && model["modelTopology"].contains("node"),
             "{}: expected a TF.js graph model (modelTopology.node), found keys {}", model_json,
             model.is_object() ? model.dump().substr(0, 80) : model.type_name());
  auto graph = std::make_unique<Impl>();
  try {
    for (const Json& j : model["modelTopology"]["node"]) {
      graph->index[j.at("name")] = graph->nodes.size();
      graph->nodes.push_back(read_node(j));
      const TfGraphNode& node = graph->nodes.back();
      KILN_CHECK(tf::find_op(node.op) != nullptr, "unsupported TF.js op '{}' at node '{}'", node.op,
                 node.name);
    }
    for (const Json& group : model.value("weightsManifest", Json::array())) {
      read_weight_group(group, path.parent_path(), *graph);
    }
  } catch (const Json::exception& e) {
    fail("{}: malformed TF.js graph model ({})", model_json, e.what());
  }
  graph->inputs = signature_names(model, "inputs");
  graph->outputs = signature_names(model, "outputs");
  if (graph->inputs.empty() && graph->outputs.empty()) inputs_and_outputs_from_nodes(*graph);
  tf::fuse_ops(*graph);
  return OpGraph(std::move(graph));
}

}  // namespace kiln
