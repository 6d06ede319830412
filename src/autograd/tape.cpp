// GradientTape: the reverse walk. Gradients are kept in a map keyed by tensor identity; a second
// contribution to the same tensor is added into a fresh tensor so no backward step's result is
// modified after it was returned.
#include "kiln/tape.h"

#include <unordered_map>
#include <unordered_set>

#include "autograd/numerics.h"
#include "autograd/record.h"
#include "backend/backend.h"
#include "core/check.h"

namespace kiln {

namespace {

thread_local GradientTape* active_tape = nullptr;
thread_local bool grad_disabled = false;

void add_into(std::unordered_map<const void*, Tensor>& grads, const Tensor& key, const Tensor& g) {
  auto [it, inserted] = grads.try_emplace(key.id(), g);
  if (inserted) return;
  Tensor total = it->second.clone();
  backend::backend_for(total.device()).axpy(1.0, g, total);
  it->second = total;
}

// The node's step, with its layer current (so the non-finite guard and an out-of-memory error
// name it).
std::vector<Tensor> run_backward_step(detail::TapeNode& node, const Tensor& grad_output,
                                      const std::vector<bool>& needed) {
  const autograd::LayerLabel* layer = node.layer ? &*node.layer : nullptr;
  return autograd::run_in_layer(layer, "the backward pass",
                                [&] { return node.step(grad_output, needed); });
}

}  // namespace

struct TapeAccess {
  static void push(GradientTape& tape, std::unique_ptr<detail::TapeNode> node) {
    tape.nodes_.push_back(std::move(node));
  }
};

namespace autograd {

bool recording() { return active_tape != nullptr && !grad_disabled; }

void record(const char* name, std::vector<Tensor> inputs, const Tensor& output, BackwardStep step) {
  check_finite(name, output);
  if (!recording()) return;
  auto node = std::make_unique<detail::TapeNode>();
  node->name = name;
  node->inputs = std::move(inputs);
  node->output = output;
  node->step = std::move(step);
  if (const LayerLabel* layer = current_layer()) node->layer = *layer;
  TapeAccess::push(*active_tape, std::move(node));
}

}  // namespace autograd

Variable::Variable(std::string name, Tensor value, bool trainable)
    : name_(std::move(name)), value_(std::move(value)), trainable_(trainable) {}

void Variable::zero_grad() {
  if (!grad_.defined()) {
    grad_ = Tensor::zeros(value_.shape(), value_.dtype(), value_.device());
  } else {
    backend::backend_for(grad_.device()).fill(grad_, 0.0);
  }
}

GradientTape::GradientTape() : previous_(active_tape) { active_tape = this; }

GradientTape::~GradientTape() {
  if (active_tape == this) active_tape = previous_;
}

std::size_t GradientTape::size() const { return nodes_.size(); }

std::vector<Tensor> GradientTape::gradient(const Tensor& target, const std::vector<Tensor>& sources,
                                           const Tensor& target_grad) {
  return walk(target, sources, target_grad, nullptr);
}

namespace {

// For each node, the sources whose gradient is final once the reverse walk has done that node:
// those it is the first (in recording order) to take as an input. Sources no node takes are
// returned in `unused`.
std::vector<std::vector<std::size_t>> final_after(
    const std::vector<std::unique_ptr<detail::TapeNode>>& nodes, const std::vector<Tensor>& sources,
    std::vector<std::size_t>* unused) {
  std::unordered_map<const void*, std::vector<std::size_t>> by_id;
  for (std::size_t i = 0; i < sources.size(); ++i) by_id[sources[i].id()].push_back(i);
  std::vector<std::vector<std::size_t>> after(nodes.size());
  for (std::size_t n = 0; n < nodes.size() && !by_id.empty(); ++n) {
    for (const Tensor& input : nodes[n]->inputs) {
      auto found = by_id.find(input.id());
      if (found == by_id.end()) continue;
      after[n].insert(after[n].end(), found->second.begin(), found->second.end());
      by_id.erase(found);
    }
  }
  for (const auto& [id, indices] : by_id)
    unused->insert(unused->end(), indices.begin(), indices.end());
  return after;
}

}  // namespace

std::vector<Tensor> GradientTape::walk(
    const Tensor& target, const std::vector<Tensor>& sources, const Tensor& target_grad,
    const std::function<void(std::size_t, const Tensor&)>& on_final) {
  KILN_CHECK(!used_, "GradientTape::gradient: this tape was already used; record a new one");
  used_ = true;
  if (active_tape == this) active_tape = previous_;

  Tensor seed = target_grad;
  if (!seed.defined()) {
    KILN_CHECK(target.numel() == 1,
               "GradientTape::gradient: target of shape {} has more than one element; pass "
               "target_grad",
               shape_str(target.shape()));
    seed = Tensor::full(target.shape(), 1.0, target.dtype(), target.device());
  }
  KILN_CHECK(seed.shape() == target.shape() && seed.dtype() == target.dtype(),
             "GradientTape::gradient: target_grad must match target {} {}, found {} {}",
             dtype_name(target.dtype()), shape_str(target.shape()), dtype_name(seed.dtype()),
             shape_str(seed.shape()));

  // A tensor needs a gradient when it is a source or was produced on the tape.
  std::unordered_set<const void*> source_ids;
  for (const Tensor& s : sources) source_ids.insert(s.id());
  std::unordered_set<const void*> wanted = source_ids;
  for (const auto& node : nodes_) wanted.insert(node->output.id());

  std::unordered_map<const void*, Tensor> grads;
  grads.emplace(target.id(), seed);
  auto gradient_of = [&](std::size_t i) {
    auto found = grads.find(sources[i].id());
    return found != grads.end()
               ? found->second
               : Tensor::zeros(sources[i].shape(), sources[i].dtype(), sources[i].device());
  };
  std::vector<std::size_t> unused;
  const auto finals = on_final ? final_after(nodes_, sources, &unused)
                               : std::vector<std::vector<std::size_t>>(nodes_.size());
  // Each node is released once walked, so the activations it holds are freed as early as in
  // PyTorch's graph. No id is reused while it matters: the keys in `grads` belong to sources
  // or to outputs of nodes not walked yet, and those stay alive.
  for (std::size_t n = nodes_.size(); n-- > 0;) {
    detail::TapeNode& node = *nodes_[n];
    auto found = grads.find(node.output.id());
    if (found != grads.end()) {
      const Tensor grad_output = found->second;
      if (source_ids.count(node.output.id()) == 0) grads.erase(found);  // frees memory early
      std::vector<bool> needed(node.inputs.size());
      for (std::size_t i = 0; i < node.inputs.size(); ++i) {
        needed[i] = wanted.count(node.inputs[i].id()) > 0;
      }
      std::vector<Tensor> input_grads = run_backward_step(node, grad_output, needed);
      for (std::size_t i = 0; i < node.inputs.size(); ++i) {
        if (needed[i] && input_grads.at(i).defined())
          add_into(grads, node.inputs[i], input_grads[i]);
      }
    }
    nodes_[n].reset();
    for (std::size_t i : finals[n]) on_final(i, gradient_of(i));
  }
  nodes_.clear();
  for (std::size_t i : unused) on_final(i, gradient_of(i));

  std::vector<Tensor> result;
  result.reserve(sources.size());
  for (std::size_t i = 0; i < sources.size(); ++i) result.push_back(gradient_of(i));
  return result;
}

namespace {

void add_gradient(Variable& v, const Tensor& grad) {
  if (!v.grad().defined()) {
    v.grad() = grad.clone();
  } else {
    backend::backend_for(v.grad().device()).axpy(1.0, grad, v.grad());
  }
}

}  // namespace

void GradientTape::accumulate(const Tensor& target,
                              const std::vector<std::shared_ptr<Variable>>& variables) {
  std::vector<Tensor> sources;
  sources.reserve(variables.size());
  for (const auto& v : variables) sources.push_back(v->value());
  std::vector<Tensor> grads = gradient(target, sources);
  for (std::size_t i = 0; i < variables.size(); ++i) add_gradient(*variables[i], grads[i]);
}

void GradientTape::accumulate(const Tensor& target,
                              const std::vector<std::shared_ptr<Variable>>& variables,
                              const std::function<void(std::size_t)>& on_final) {
  std::vector<Tensor> sources;
  sources.reserve(variables.size());
  for (const auto& v : variables) sources.push_back(v->value());
  walk(target, sources, Tensor(), [&](std::size_t i, const Tensor& grad) {
    add_gradient(*variables[i], grad);
    on_final(i);
  });
}

NoGrad::NoGrad() : previous_(grad_disabled) { grad_disabled = true; }
NoGrad::~NoGrad() { grad_disabled = previous_; }

}  // namespace kiln
