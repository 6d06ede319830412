// Adam and SGD: slot creation, validation and the single backend update call.
#include "kiln/optimizers.h"

#include <limits>

#include "backend/backend.h"
#include "core/check.h"

namespace kiln {

namespace {

// The variables' values and gradients side by side; a variable that is frozen or has no gradient
// is an Error (Optimizer::apply in kiln/optimizers.h says why kiln does not skip it as Keras does).
struct UpdateSet {
  std::vector<Tensor> params, grads;
};

UpdateSet collect(const std::vector<std::shared_ptr<Variable>>& variables) {
  UpdateSet set;
  for (const auto& v : variables) {
    KILN_CHECK(v->trainable() && v->grad().defined(),
               "optimizer: variable '{}' has no gradient (was it used in the loss?)", v->name());
    KILN_CHECK(v->grad().shape() == v->value().shape(),
               "optimizer: gradient of '{}' has shape {}, expected {}", v->name(),
               shape_str(v->grad().shape()), shape_str(v->value().shape()));
    set.params.push_back(v->value());
    set.grads.push_back(v->grad());
  }
  return set;
}

std::vector<Tensor> zeros_like_all(const std::vector<Tensor>& params) {
  std::vector<Tensor> out;
  for (const Tensor& p : params) out.push_back(Tensor::zeros(p.shape(), p.dtype(), p.device()));
  return out;
}

void check_slots(const char* who, const std::vector<Tensor>& slots,
                 const std::vector<Tensor>& params) {
  KILN_CHECK(slots.size() == params.size(), "{}: {} slot tensors for {} variables", who,
             slots.size(), params.size());
  for (std::size_t i = 0; i < slots.size(); ++i) {
    KILN_CHECK(slots[i].shape() == params[i].shape() && slots[i].device() == params[i].device(),
               "{}: slot {} has shape {} on {}, its variable {} on {}", who, i,
               shape_str(slots[i].shape()), slots[i].device().str(), shape_str(params[i].shape()),
               params[i].device().str());
  }
}

}  // namespace

Optimizer::Optimizer(double learning_rate) : learning_rate_(learning_rate) {
  set_learning_rate(learning_rate);
}

void Optimizer::set_learning_rate(double lr) {
  KILN_CHECK(lr > 0.0, "optimizer: learning rate must be > 0, found {}", lr);
  learning_rate_ = lr;
}

Adam::Adam(const AdamOptions& options) : Optimizer(options.learning_rate), options_(options) {
  KILN_CHECK(options.beta_1 >= 0 && options.beta_1 < 1 && options.beta_2 >= 0 && options.beta_2 < 1,
             "Adam: betas must be in [0, 1), found {} and {}", options.beta_1, options.beta_2);
  KILN_CHECK(options.epsilon > 0, "Adam: epsilon must be > 0, found {}", options.epsilon);
}

namespace {

// `slot` (a one-element device tensor) holds `value` afterwards; written in place when it is
// already on `device`, so that a captured step, which reads it at a fixed address, sees the change.
template <class T>
void store_scalar(Tensor& slot, T value, Device device) {
  const Tensor host = Tensor::from_vector(std::vector<T>{value}, {1});
  if (slot.defined() && slot.device() == device) {
    slot.copy_from(host);
  } else {
    slot = host.to(device);
  }
}

}  // namespace

void Adam::upload_state(Device device) {
  KILN_CHECK(iterations_ < std::numeric_limits<std::int32_t>::max(),
             "Adam: {} steps is more than the int32 step counter holds", iterations_);
  if (!device_step_.defined() || device_step_.device() != device || uploaded_step_ != iterations_) {
    store_scalar(device_step_, static_cast<std::int32_t>(iterations_), device);
    uploaded_step_ = iterations_;
  }
  if (!device_learning_rate_.defined() || device_learning_rate_.device() != device ||
      uploaded_learning_rate_ != learning_rate_) {
    store_scalar(device_learning_rate_, learning_rate_, device);
    uploaded_learning_rate_ = learning_rate_;
  }
}

void Adam::count_replayed_step() {
  ++iterations_;  // the replayed update advanced the device counter
  uploaded_step_ = iterations_;
}

void Adam::forget_captured_step() {
  --iterations_;        // the captured update never ran
  uploaded_step_ = -1;  // the device counter is written again before the next update
}

void Adam::apply(const std::vector<std::shared_ptr<Variable>>& variables) {
  UpdateSet set = collect(variables);
  if (set.params.empty()) return;
  if (m_.empty()) {
    m_ = zeros_like_all(set.params);
    v_ = zeros_like_all(set.params);
  }
  check_slots("Adam", m_, set.params);
  const Device device = set.params[0].device();
  upload_state(device);
  backend::AdamStep step{options_.beta_1, options_.beta_2, options_.epsilon, device_step_,
                         device_learning_rate_};
  backend::backend_for(device).adam_update(set.params, set.grads, m_, v_, step);
  ++iterations_;  // the device counter advanced with the update
  uploaded_step_ = iterations_;
}

std::vector<Tensor> Adam::state() const {
  std::vector<Tensor> slots = m_;
  slots.insert(slots.end(), v_.begin(), v_.end());
  return slots;
}

void Adam::load_state(const std::vector<Tensor>& slots, std::int64_t iterations) {
  KILN_CHECK(slots.size() % 2 == 0, "Adam: expected m and v slots, found {} tensors", slots.size());
  KILN_CHECK(iterations >= 0, "Adam: iterations must be >= 0, found {}", iterations);
  const auto half = static_cast<std::ptrdiff_t>(slots.size() / 2);
  m_.assign(slots.begin(), slots.begin() + half);
  v_.assign(slots.begin() + half, slots.end());
  iterations_ = iterations;
}

SGD::SGD(const SGDOptions& options) : Optimizer(options.learning_rate), options_(options) {
  KILN_CHECK(options.momentum >= 0, "SGD: momentum must be >= 0, found {}", options.momentum);
}

void SGD::apply(const std::vector<std::shared_ptr<Variable>>& variables) {
  UpdateSet set = collect(variables);
  if (set.params.empty()) return;
  if (velocity_.empty()) velocity_ = zeros_like_all(set.params);
  check_slots("SGD", velocity_, set.params);
  ++iterations_;
  backend::SgdStep step{learning_rate_, options_.momentum, options_.nesterov};
  backend::backend_for(set.params[0].device()).sgd_update(set.params, set.grads, velocity_, step);
}

std::vector<Tensor> SGD::state() const { return velocity_; }

void SGD::load_state(const std::vector<Tensor>& slots, std::int64_t iterations) {
  velocity_ = slots;
  iterations_ = iterations;
}

}  // namespace kiln
