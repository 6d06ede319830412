// Optimizers (Keras defaults). apply() updates every trainable variable from its grad() in one
// backend call, then leaves the gradients as they are (the trainer zeroes them).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "kiln/export.h"
#include "kiln/tape.h"

namespace kiln {

class KILN_API Optimizer {
 public:
  virtual ~Optimizer() = default;
  virtual std::string name() const = 0;
  // One update of `variables` from their gradients; every one must be trainable and have a
  // gradient of its own shape (kiln::Error otherwise; nothing is updated then). Keras instead
  // warns and skips a variable whose gradient is None. kiln does not need that: fit gives every
  // trainable variable a gradient, zeroed each step (Note [Gradient buffers] in
  // src/model/training.cpp), so a variable outside the loss gets 0 and stays where it is, as a
  // skipped one would. A variable without any gradient reaches apply() only from a hand-written
  // loop, where it is a mistake (a variable not used in the loss) that a warning would hide.
  virtual void apply(const std::vector<std::shared_ptr<Variable>>& variables) = 0;
  // Steps taken so far.
  std::int64_t iterations() const { return iterations_; }
  double learning_rate() const { return learning_rate_; }
  void set_learning_rate(double lr);
  // Slot tensors (e.g. Adam's m and v), in variable order, for checkpoints.
  virtual std::vector<Tensor> state() const = 0;
  // Restores slots from state() of an optimizer over the same variables (validated).
  virtual void load_state(const std::vector<Tensor>& slots, std::int64_t iterations) = 0;

  // Captured steps (Note [Captured steps] in src/model/step_graph.cpp). capturable: apply() reads
  // everything that changes from step to step from device memory (PyTorch's Adam(capturable=True)),
  // so its captured update can be replayed. count_replayed_step: a replay advanced the device
  // state without apply() running on the host. forget_captured_step: the apply() run while
  // capturing never happened on the device (the capture failed).
  virtual bool capturable() const { return false; }
  virtual void count_replayed_step() { ++iterations_; }
  virtual void forget_captured_step() { --iterations_; }

 protected:
  explicit Optimizer(double learning_rate);
  std::int64_t iterations_ = 0;
  double learning_rate_;
};

struct AdamOptions {
  double learning_rate = 1e-3, beta_1 = 0.9, beta_2 = 0.999, epsilon = 1e-7;
};

// Adam as Keras computes it: p -= lr·sqrt(1-β2^t)/(1-β1^t) · m / (sqrt(v) + ε). The step counter
// t and the learning rate are kept on the variables' device as well (uploaded when they change
// on the host), and the update reads them there.
class KILN_API Adam final : public Optimizer {
 public:
  explicit Adam(const AdamOptions& options = {});
  std::string name() const override { return "Adam"; }
  void apply(const std::vector<std::shared_ptr<Variable>>& variables) override;
  std::vector<Tensor> state() const override;
  void load_state(const std::vector<Tensor>& slots, std::int64_t iterations) override;
  const AdamOptions& options() const { return options_; }
  bool capturable() const override { return true; }
  void count_replayed_step() override;
  void forget_captured_step() override;

 private:
  // Refreshes the device copies of the step counter and learning rate when the host's differ.
  void upload_state(Device device);
  AdamOptions options_;
  std::vector<Tensor> m_, v_;
  Tensor device_step_, device_learning_rate_;  // i32 t, f64 lr (backend::AdamStep)
  std::int64_t uploaded_step_ = -1;
  double uploaded_learning_rate_ = 0.0;
};

struct SGDOptions {
  double learning_rate = 0.01, momentum = 0.0;
  bool nesterov = false;
};

// SGD with optional (Nesterov) momentum, Keras formulation.
class KILN_API SGD final : public Optimizer {
 public:
  explicit SGD(const SGDOptions& options = {});
  std::string name() const override { return "SGD"; }
  void apply(const std::vector<std::shared_ptr<Variable>>& variables) override;
  std::vector<Tensor> state() const override;
  void load_state(const std::vector<Tensor>& slots, std::int64_t iterations) override;

 private:
  SGDOptions options_;
  std::vector<Tensor> velocity_;
};

}  // namespace kiln
