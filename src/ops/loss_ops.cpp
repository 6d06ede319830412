// Cross-entropy losses (Keras argument order: y_true, y_pred; mean over the batch).
// Each works from logits: given probabilities straight from softmax / sigmoid it takes their
// logits (remembered on the output, as Keras does with `_keras_logits`), which keeps the loss
// finite where log(p) would underflow. Probabilities of any other origin are refused with a
// clear message rather than silently clipped (Keras clips them to [1e-7, 1 - 1e-7]).
#include "autograd/record.h"
#include "core/tensor_impl.h"
#include "kiln/ops.h"
#include "ops/op_helpers.h"

namespace kiln {

namespace {

Tensor logits_of(const char* op, const Tensor& y_pred, bool from_logits, detail::Squash squash) {
  ops::check_floating(op, y_pred, "y_pred");
  if (from_logits) return y_pred;
  const auto& impl = y_pred.impl();
  KILN_CHECK(impl->squash == squash && impl->logits != nullptr,
             "{}: y_pred must come straight from a {} activation, or pass from_logits = true "
             "(y_pred has shape {})",
             op, squash == detail::Squash::softmax ? "softmax" : "sigmoid",
             shape_str(y_pred.shape()));
  return Tensor(impl->logits);
}

// Per-row softmax cross-entropy; `target` is one-hot (rows, classes) or i32 labels (rows).
Tensor softmax_cross_entropy_rows(const char* op, const Tensor& logits2d, const Tensor& target) {
  const std::int64_t rows = logits2d.dim(0);
  Tensor probs = ops::empty_like(logits2d);
  Tensor loss = ops::empty_as(logits2d, {rows});
  backend::Backend& be = ops::backend_of(logits2d);
  be.softmax_cross_entropy_forward(logits2d, target, probs, loss);
  autograd::record(
      op, {logits2d}, loss, [probs, target](const Tensor& dloss, const std::vector<bool>&) {
        Tensor dlogits = ops::empty_like(probs);
        ops::backend_of(dloss).softmax_cross_entropy_backward(probs, target, dloss, dlogits);
        return std::vector<Tensor>{dlogits};
      });
  return loss;
}

Tensor as_rows(const Tensor& logits) { return reshape(logits, {-1, logits.dim(-1)}); }

}  // namespace

Tensor categorical_crossentropy(const Tensor& y_true, const Tensor& y_pred, bool from_logits) {
  const char* op = "categorical_crossentropy";
  const Tensor logits = logits_of(op, y_pred, from_logits, detail::Squash::softmax);
  ops::check_compatible(op, logits, y_true, "y_true");
  KILN_CHECK(y_true.shape() == logits.shape(),
             "{}: y_true {} and y_pred {} must have the same shape (y_true is one-hot)", op,
             shape_str(y_true.shape()), shape_str(logits.shape()));
  KILN_CHECK(logits.rank() >= 1 && logits.numel() > 0, "{}: y_pred {} is empty", op,
             shape_str(logits.shape()));
  return mean(softmax_cross_entropy_rows(op, as_rows(logits), y_true.view({-1, logits.dim(-1)})));
}

Tensor sparse_categorical_crossentropy(const Tensor& y_true, const Tensor& y_pred,
                                       bool from_logits) {
  const char* op = "sparse_categorical_crossentropy";
  const Tensor logits = logits_of(op, y_pred, from_logits, detail::Squash::softmax);
  KILN_CHECK(logits.rank() >= 1 && logits.numel() > 0, "{}: y_pred {} is empty", op,
             shape_str(logits.shape()));
  const std::int64_t rows = logits.numel() / logits.dim(-1);
  ops::check_defined(op, y_true, "y_true");
  KILN_CHECK(y_true.dtype() == DType::i32, "{}: y_true must hold int32 labels, found {}", op,
             dtype_name(y_true.dtype()));
  KILN_CHECK(y_true.numel() == rows && y_true.device() == logits.device(),
             "{}: y_true {} must hold one label per row of y_pred {}", op,
             shape_str(y_true.shape()), shape_str(logits.shape()));
  if (y_true.device().is_cpu()) ops::check_index_range(op, y_true, logits.dim(-1), "y_true");
  return mean(softmax_cross_entropy_rows(op, as_rows(logits), y_true.view({rows})));
}

Tensor binary_crossentropy(const Tensor& y_true, const Tensor& y_pred, bool from_logits) {
  const char* op = "binary_crossentropy";
  const Tensor logits = logits_of(op, y_pred, from_logits, detail::Squash::sigmoid);
  ops::check_compatible(op, logits, y_true, "y_true");
  KILN_CHECK(y_true.shape() == logits.shape(),
             "{}: y_true {} and y_pred {} must have the same shape", op, shape_str(y_true.shape()),
             shape_str(logits.shape()));
  KILN_CHECK(logits.numel() > 0, "{}: y_pred {} is empty", op, shape_str(logits.shape()));
  Tensor loss = ops::empty_like(logits);
  ops::backend_of(logits).sigmoid_cross_entropy_forward(logits, y_true, loss);
  autograd::record(
      op, {logits}, loss, [logits, y_true](const Tensor& dloss, const std::vector<bool>&) {
        Tensor dlogits = ops::empty_like(logits);
        ops::backend_of(dloss).sigmoid_cross_entropy_backward(logits, y_true, dloss, dlogits);
        return std::vector<Tensor>{dlogits};
      });
  return mean(loss);
}

}  // namespace kiln
