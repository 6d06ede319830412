// kiln::OpGraph: runs the nodes an output needs in topological order (depth-first from the
// outputs), each through its TensorFlow op's kernel (tf_ops.cpp), and frees every value once its
// last consumer has run. Also the attribute decoding the kernels share.
#include <algorithm>
#include <chrono>

#include "core/check.h"
#include "kiln/tape.h"
#include "model/op_graph_impl.h"

namespace kiln {

namespace {

struct OutputRef {
  std::string node;
  std::size_t index = 0;
};

OutputRef parse_ref(const std::string& text) {
  const auto colon = text.rfind(':');
  if (colon == std::string::npos || colon + 1 == text.size() ||
      text.find_first_not_of("0123456789", colon + 1) != std::string::npos) {
    return {text, 0};
  }
  return {text.substr(0, colon), std::stoul(text.substr(colon + 1))};
}

// The nodes `outputs` depend on, each after its inputs.
std::vector<std::size_t> run_order(const OpGraph::Impl& g,
                                   const std::vector<std::string>& outputs) {
  std::vector<std::size_t> order;
  std::vector<char> state(g.nodes.size(), 0);              // 0 unseen, 1 on the stack, 2 done
  std::vector<std::pair<std::size_t, std::size_t>> stack;  // (node, next input to visit)
  auto push = [&](const std::string& ref, const std::string& from) {
    const std::string name = parse_ref(ref).node;
    const auto it = g.index.find(name);
    KILN_CHECK(it != g.index.end(), "graph: node '{}' (asked for by {}) does not exist", name,
               from);
    KILN_CHECK(state[it->second] != 1, "graph: a cycle through node '{}'", name);
    if (state[it->second] == 0) {
      state[it->second] = 1;
      stack.emplace_back(it->second, 0);
    }
  };
  for (const std::string& out : outputs) {
    push(out, "the caller");
    while (!stack.empty()) {
      auto& [node, next] = stack.back();
      const TfGraphNode& n = g.nodes[node];
      if (next < n.inputs.size()) {
        const std::string& input = n.inputs[next++];
        push(input, "node '" + n.name + "'");
        continue;
      }
      state[node] = 2;
      order.push_back(node);
      stack.pop_back();
    }
  }
  return order;
}

// A fed tensor must have its placeholder's rank and every extent it fixes (-1: any).
void check_feed_shape(const std::string& name, const Shape& expected, const Tensor& fed) {
  if (expected.empty()) return;  // no shape recorded
  bool fits = static_cast<std::size_t>(fed.rank()) == expected.size();
  for (std::size_t i = 0; fits && i < expected.size(); ++i) {
    fits = expected[i] < 0 || expected[i] == fed.dim(static_cast<int>(i));
  }
  KILN_CHECK(fits, "graph: input '{}' expects shape {} (-1: any), found {}", name,
             shape_str(expected), shape_str(fed.shape()));
}

}  // namespace

OpGraph::OpGraph(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
OpGraph::OpGraph(OpGraph&&) noexcept = default;
OpGraph& OpGraph::operator=(OpGraph&&) noexcept = default;
OpGraph::~OpGraph() = default;

const std::vector<std::string>& OpGraph::input_names() const { return impl_->inputs; }
const std::vector<std::string>& OpGraph::output_names() const { return impl_->outputs; }
std::size_t OpGraph::node_count() const { return impl_->nodes.size(); }

std::int64_t OpGraph::parameter_count() const {
  std::int64_t total = 0;
  for (const auto& [name, t] : impl_->weights) total += t.numel();
  return total;
}

void OpGraph::to(Device device) {
  for (auto& [name, t] : impl_->weights) t = t.to(device);
  impl_->device = device;
}

Device OpGraph::device() const { return impl_->device; }

Shape OpGraph::input_shape(const std::string& name) const {
  const auto it = impl_->index.find(name);
  KILN_CHECK(it != impl_->index.end() && impl_->nodes[it->second].op == "Placeholder",
             "graph: '{}' is not an input (inputs: {})", name, fmt::join(impl_->inputs, ", "));
  Shape shape;
  const nlohmann::json& attr = impl_->nodes[it->second].attr;
  if (!attr.contains("shape")) return shape;
  for (const auto& dim : attr["shape"]["shape"].value("dim", nlohmann::json::array())) {
    shape.push_back(std::stoll(dim.value("size", std::string("-1"))));
  }
  return shape;
}

std::vector<Tensor> OpGraph::run(const std::vector<std::pair<std::string, Tensor>>& feeds,
                                 const std::vector<std::string>& outputs,
                                 std::vector<NodeTime>* times) const {
  const NoGrad no_tape;
  const Impl& g = *impl_;
  const std::vector<std::size_t> order = run_order(g, outputs);
  // Consumers left per node; the asked-for outputs count as one more, so they survive.
  std::vector<int> uses(g.nodes.size(), 0);
  for (std::size_t node : order) {
    for (const std::string& input : g.nodes[node].inputs) ++uses[g.index.at(parse_ref(input).node)];
  }
  for (const std::string& out : outputs) ++uses[g.index.at(parse_ref(out).node)];
  std::vector<std::vector<Tensor>> values(g.nodes.size());
  for (std::size_t node : order) {
    const TfGraphNode& n = g.nodes[node];
    std::vector<Tensor> inputs;
    for (const std::string& input : n.inputs) {
      const OutputRef ref = parse_ref(input);
      const std::size_t from = g.index.at(ref.node);
      KILN_CHECK(ref.index < values[from].size(),
                 "graph: node '{}' reads output {} of '{}', which has {}", n.name, ref.index,
                 ref.node, values[from].size());
      inputs.push_back(values[from][ref.index]);
    }
    if (n.op == "Placeholder") {
      const auto it = std::find_if(feeds.begin(), feeds.end(),
                                   [&](const auto& feed) { return feed.first == n.name; });
      KILN_CHECK(it != feeds.end(), "graph: input '{}' was not fed", n.name);
      check_feed_shape(n.name, input_shape(n.name), it->second);
      values[node] = {it->second};
    } else if (n.op == "Const") {
      const auto it = g.weights.find(n.name);
      KILN_CHECK(it != g.weights.end(), "graph: constant '{}' has no weight in the manifest",
                 n.name);
      values[node] = {it->second};
    } else {
      const auto start = std::chrono::steady_clock::now();
      try {
        values[node] = (*tf::find_op(n.op))(tf::Attributes(n), inputs);
      } catch (const Error& e) {
        fail("graph: {} node '{}': {}", n.op, n.name, e.what());
      }
      if (times != nullptr) {
        times->push_back(
            {n.name, n.op,
             std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start)
                 .count()});
      }
    }
    for (const std::string& input : n.inputs) {
      const std::size_t from = g.index.at(parse_ref(input).node);
      if (--uses[from] == 0) values[from].clear();
    }
  }
  std::vector<Tensor> results;
  for (const std::string& out : outputs) {
    const OutputRef ref = parse_ref(out);
    const std::vector<Tensor>& v = values[g.index.at(ref.node)];
    KILN_CHECK(ref.index < v.size(), "graph: node '{}' has {} outputs, asked for output {}",
               ref.node, v.size(), ref.index);
    results.push_back(v[ref.index]);
  }
  return results;
}

namespace tf {

namespace {
// TF.js writes int64 attributes as strings ("2"), some converters as numbers.
std::int64_t as_int(const nlohmann::json& j) {
  return j.is_string() ? std::stoll(j.get<std::string>()) : j.get<std::int64_t>();
}
}  // namespace

std::string base64_decode(const std::string& text) {
  static const std::string alphabet =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  unsigned bits = 0;
  int count = 0;
  for (char ch : text) {
    if (ch == '=') break;
    const auto value = alphabet.find(ch);
    KILN_CHECK(value != std::string::npos, "base64: unexpected character '{}' in '{}'", ch, text);
    bits = (bits << 6) | static_cast<unsigned>(value);
    count += 6;
    if (count >= 8) {
      count -= 8;
      out.push_back(static_cast<char>((bits >> count) & 0xff));
    }
  }
  return out;
}

const nlohmann::json& Attributes::find(const std::string& key) const {
  KILN_CHECK(node_.attr.contains(key), "node '{}' ({}) has no attribute '{}'", node_.name, node_.op,
             key);
  return node_.attr[key];
}

std::string Attributes::string(const std::string& key) const {
  return base64_decode(find(key).at("s").get<std::string>());
}

std::vector<std::string> Attributes::strings(const std::string& key) const {
  std::vector<std::string> result;
  if (!node_.attr.contains(key)) return result;
  for (const auto& s : node_.attr[key]["list"].value("s", nlohmann::json::array())) {
    result.push_back(base64_decode(s.get<std::string>()));
  }
  return result;
}

std::vector<std::int64_t> Attributes::ints(const std::string& key) const {
  std::vector<std::int64_t> result;
  for (const auto& i : find(key).at("list").value("i", nlohmann::json::array())) {
    result.push_back(as_int(i));
  }
  return result;
}

double Attributes::number(const std::string& key) const { return find(key).at("f").get<double>(); }

std::int64_t Attributes::integer(const std::string& key, std::int64_t otherwise) const {
  if (!node_.attr.contains(key)) return otherwise;
  return as_int(node_.attr[key].at("i"));
}

bool Attributes::boolean(const std::string& key, bool otherwise) const {
  if (!node_.attr.contains(key)) return otherwise;
  return node_.attr[key].value("b", false);
}

std::string Attributes::type(const std::string& key) const {
  return find(key).at("type").get<std::string>();
}

}  // namespace tf
}  // namespace kiln
