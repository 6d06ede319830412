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
  KILN_CHECK(!used_, "GradientTape::gradient: this tape was already used; record a new one");
  used_ = true;
  if (active_tape == this) active_tape = previous_;

  Tensor seed = target_grad;
  if (!seed.defined()) {
    KILN_CHECK(target.numel() == 1,
               "GradientTape::gradient: target of shape {} has more than one element; pass "
               "target_grad", shape_str(target.shape()));
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
  // Each node is released once walked, so the activations it holds are freed as early as in
  // PyTorch's graph. No id is reused while it matters: the keys in `grads` belong to sources
  // or to outputs of nodes not walked yet, and those stay alive.
  for (auto it = nodes_.rbegin(); it != nodes_.rend(); it->reset(), ++it) {
    detail::TapeNode& node = **it;
    auto found = grads.find(node.output.id());
    if (found == grads.end()) continue;
    const Tensor grad_output = found->second;
    if (source_ids.count(node.output.id()) == 0) grads.erase(found);  // frees memory early
    std::vector<bool> needed(node.inputs.size());
    for (std::size_t i = 0; i < node.inputs.size(); ++i) {
      needed[i] = wanted.count(node.inputs[i].id()) > 0;
    }
    std::vector<Tensor> input_grads = run_backward_step(node, grad_output, needed);
    for (std::size_t i = 0; i < node.inputs.size(); ++i) {
      if (needed[i] && input_grads.at(i).defined()) add_into(grads, node.inputs[i], input_grads[i]);
    }
  }
  nodes_.clear();

  std::vector<Tensor> result;
  result.reserve(sources.size());
  for (const Tensor& s : sources) {
    auto found = grads.find(s.id());
    result.push_back(found != grads.end() ? found->second
                                          : Tensor::zeros(s.shape(), s.dtype(), s.device()));
  }
  return result;
}

void GradientTape::accumulate(const Tensor& target,
                              const std::vector<std::shared_ptr<Variable>>& variables) {
  std::vector<Tensor> sources;
  sources.reserve(variables.size());
  for (const auto& v : variables) sources.push_back(v->value());
  std::vector<Tensor> grads = gradient(target, sources);
  for (std::size_t i = 0; i < variables.size(); ++i) {
    Variable& v = *variables[i];
    if (!v.grad().defined()) {
      v.grad() = grads[i].clone();
    } else {
      backend::backend_for(v.grad().device()).axpy(1.0, grads[i], v.grad());
    }
  }
}

NoGrad::NoGrad() : previous_(grad_disabled) { grad_disabled = true; }
NoGrad::~NoGrad() { grad_disabled = previous_; }

}  // namespace kiln
