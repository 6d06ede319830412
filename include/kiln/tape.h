// Autograd, define-by-run like TensorFlow's GradientTape: while a tape is alive on a thread, every
// differentiable op records a node (inputs, output, backward step); gradient() walks the nodes in
// reverse. Gradients of a value used twice add up.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "kiln/export.h"
#include "kiln/tensor.h"

namespace kiln {

namespace detail {
struct TapeNode;
}

// A trainable parameter: a value and the gradient accumulated into it.
class KILN_API Variable {
 public:
  Variable(std::string name, Tensor value, bool trainable = true);
  const std::string& name() const { return name_; }
  Tensor& value() { return value_; }
  const Tensor& value() const { return value_; }
  // The accumulated gradient (same shape/dtype/device as value; undefined until first used).
  Tensor& grad() { return grad_; }
  bool trainable() const { return trainable_; }
  void zero_grad();

 private:
  std::string name_;
  Tensor value_;
  Tensor grad_;
  bool trainable_;
};

class KILN_API GradientTape {
 public:
  // Starts recording on this thread (the innermost live tape records).
  GradientTape();
  ~GradientTape();
  GradientTape(const GradientTape&) = delete;
  GradientTape& operator=(const GradientTape&) = delete;

  // d target / d source for each source; a source the target does not depend on gets zeros.
  // `target_grad` seeds the walk (same shape as target); by default target must have one
  // element and is seeded with 1. Stops recording; the tape can be asked once.
  std::vector<Tensor> gradient(const Tensor& target, const std::vector<Tensor>& sources,
                               const Tensor& target_grad = Tensor());
  // Adds d target / d variable into every variable's grad() (+=).
  void accumulate(const Tensor& target, const std::vector<std::shared_ptr<Variable>>& variables);
  // The same, calling on_final(i) as soon as variables[i]'s grad() holds its final value, while
  // the walk goes on with the earlier nodes (a data-parallel step starts all-reducing the last
  // layers' gradients then). Every index is called once.
  void accumulate(const Tensor& target, const std::vector<std::shared_ptr<Variable>>& variables,
                  const std::function<void(std::size_t)>& on_final);

  // Number of recorded nodes.
  std::size_t size() const;

 private:
  // gradient()'s walk; on_final(i, gradient) is called once per source as soon as no node left
  // to walk can add to its gradient.
  std::vector<Tensor> walk(const Tensor& target, const std::vector<Tensor>& sources,
                           const Tensor& target_grad,
                           const std::function<void(std::size_t, const Tensor&)>& on_final);
  std::vector<std::unique_ptr<detail::TapeNode>> nodes_;
  GradientTape* previous_;
  bool used_ = false;
  friend struct TapeAccess;
};

// While alive, no tape records on this thread (inference, metrics, optimizer updates).
class KILN_API NoGrad {
 public:
  NoGrad();
  ~NoGrad();
  NoGrad(const NoGrad&) = delete;
  NoGrad& operator=(const NoGrad&) = delete;

 private:
  bool previous_;
};

}  // namespace kiln
