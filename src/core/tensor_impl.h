// The state behind a kiln::Tensor handle (kiln/tensor.h forward-declares it). Internal: programs
// that link libkiln.so see the handle's member functions only, so the fields below may change
// without touching the public headers.
#pragma once

#include <cstddef>
#include <memory>

#include "kiln/dtype.h"
#include "kiln/shape.h"
#include "kiln/tensor.h"

namespace kiln::detail {

// Note [Logits on probabilities]
// ~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~
// softmax and sigmoid leave on their output what they squashed and the tensor they squashed
// (src/ops/activation_ops.cpp), so a cross-entropy given those probabilities works from the
// logits, as Keras does with `_keras_logits` (src/ops/loss_ops.cpp). The bookkeeping lives here,
// on the output's TensorImpl, rather than in a side table keyed by tensor: it lives and dies with
// the output (a side table would need weak keys and a lock, and could answer for a reused
// address), copies of the handle share it, and view / narrow (new TensorImpls) drop it, since a
// reshaped or sliced tensor is no longer the activation's output. Kept out of kiln/tensor.h: it is
// how the losses find their input, not part of what a tensor is.
enum class Squash : unsigned char { none, softmax, sigmoid };

struct TensorImpl {
  std::shared_ptr<Storage> storage;
  std::size_t offset = 0;  // bytes from storage->data
  Shape shape;
  DType dtype = DType::f32;
  Squash squash = Squash::none;        // Note [Logits on probabilities]
  std::shared_ptr<TensorImpl> logits;  // set when squash != none
};

}  // namespace kiln::detail
