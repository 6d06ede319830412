// BatchNormalization (Keras 3's formulation): in training, normalise with the batch's mean and
// biased variance and move the moving statistics towards them; in inference, normalise with the
// moving statistics. Both through tf.nn.batch_normalization's arithmetic (ops.h).
#include "backend/backend.h"
#include "core/check.h"
#include "layers/layer_types.h"

namespace kiln::layers {

namespace {

// target = target * momentum + value * (1 - momentum), in place (target keeps its storage, so a
// captured step that replays this updates the same memory).
void move_towards(Tensor& target, const Tensor& value, double momentum) {
  backend::Backend& be = backend::backend_for(target.device());
  Tensor moved = Tensor::zeros(target.shape(), target.dtype(), target.device());
  be.axpy(momentum, target, moved);
  be.axpy(1.0 - momentum, value, moved);
  be.copy(target.raw_data(), moved.raw_data(), moved.nbytes());
}

class BatchNormalizationLayer final : public ShapePreservingLayer {
 public:
  explicit BatchNormalizationLayer(const BatchNormalizationOptions& options)
      : ShapePreservingLayer("batch_normalization", options.name), options_(options) {
    KILN_CHECK(options.epsilon > 0.0, "BatchNormalization '{}': epsilon must be > 0, found {}",
               name(), options.epsilon);
    KILN_CHECK(options.momentum >= 0.0 && options.momentum <= 1.0,
               "BatchNormalization '{}': momentum must be in [0, 1], found {}", name(),
               options.momentum);
  }
  std::string type() const override { return "BatchNormalization"; }

  Shape output_shape(const std::vector<Shape>& inputs) const override {
    check_input_count(inputs, 1);
    const int rank = static_cast<int>(inputs[0].size()) + 1;
    if (inputs[0].empty())
      fail_shape("expected an input of rank >= 2 (batch, ..., features)", inputs);
    if (options_.axis != -1 && options_.axis != rank - 1) {
      fail_shape(fmt::format("kiln normalises over the last axis (-1 or {}), found axis {}",
                             rank - 1, options_.axis),
                 inputs);
    }
    if (built() && weights().back()->value().dim(0) != inputs[0].back()) {
      fail_shape(fmt::format("expected {} features on the last axis (built for them), found {}",
                             weights().back()->value().dim(0), inputs[0].back()),
                 inputs);
    }
    return inputs[0];
  }

  std::string config_json() const override {
    Json c = base_config(*this);
    c["axis"] = options_.axis;
    c["momentum"] = options_.momentum;
    c["epsilon"] = options_.epsilon;
    c["center"] = options_.center;
    c["scale"] = options_.scale;
    c["beta_initializer"] = initializer("Zeros");
    c["gamma_initializer"] = initializer("Ones");
    c["moving_mean_initializer"] = initializer("Zeros");
    c["moving_variance_initializer"] = initializer("Ones");
    for (const char* k :
         {"beta_regularizer", "gamma_regularizer", "beta_constraint", "gamma_constraint"}) {
      c[k] = nullptr;
    }
    return c.dump();
  }

 private:
  void create_weights(const std::vector<Shape>& inputs, Device device) override {
    const std::int64_t features = inputs[0].back();
    if (options_.scale)
      gamma_ = add_weight("gamma:0", Tensor::full({features}, 1.0, DType::f32, device));
    if (options_.center)
      beta_ = add_weight("beta:0", Tensor::zeros({features}, DType::f32, device));
    moving_mean_ =
        add_weight("moving_mean:0", Tensor::zeros({features}, DType::f32, device), false);
    moving_variance_ =
        add_weight("moving_variance:0", Tensor::full({features}, 1.0, DType::f32, device), false);
  }

  Tensor forward(const std::vector<Tensor>& inputs, bool training) override {
    const Tensor& x = inputs[0];
    const Tensor gamma = gamma_ ? gamma_->value() : Tensor();
    const Tensor beta = beta_ ? beta_->value() : Tensor();
    if (!training || !trainable()) {  // a frozen layer runs in inference mode (Keras 2.1+)
      return batch_normalization(x, moving_mean_->value(), moving_variance_->value(), beta, gamma,
                                 options_.epsilon);
    }
    const Moments batch = moments(x);
    move_towards(moving_mean_->value(), batch.mean, options_.momentum);
    move_towards(moving_variance_->value(), batch.variance, options_.momentum);
    return batch_normalization(x, batch.mean, batch.variance, beta, gamma, options_.epsilon);
  }

  BatchNormalizationOptions options_;
  std::shared_ptr<Variable> gamma_, beta_, moving_mean_, moving_variance_;
};

}  // namespace

}  // namespace kiln::layers

namespace kiln {

LayerRef BatchNormalization(const BatchNormalizationOptions& options) {
  return LayerRef(std::make_shared<layers::BatchNormalizationLayer>(options));
}

}  // namespace kiln
