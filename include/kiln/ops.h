// Differentiable ops. Each checks its arguments (kiln::Error naming the op and the shapes),
// allocates its output on the inputs' device, runs the device's kernel and records its backward
// step on the active tape. Images are NHWC, conv kernels HWIO (kh, kw, in, out), dense kernels
// (in, out).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "kiln/export.h"
#include "kiln/tensor.h"

namespace kiln {

// A pair of extents (height, width); one number means both.
struct Size2 {
  std::int64_t h = 1, w = 1;
  Size2() = default;
  Size2(std::int64_t both) : h(both), w(both) {}  // NOLINT(google-explicit-constructor)
  Size2(std::int64_t height, std::int64_t width) : h(height), w(width) {}
  bool operator==(const Size2&) const = default;
};

// Padding of a convolution or pooling window, as Keras spells it:
// "valid" (none), "same" (output = ceil(input / stride), the extra row/column at the bottom/right)
// or explicit amounts.
struct KILN_API Padding {
  enum class Kind : unsigned char { valid, same, explicit_amounts };
  Kind kind = Kind::valid;
  std::int64_t top = 0, bottom = 0, left = 0, right = 0;

  static Padding valid() { return {}; }
  static Padding same() { return {Kind::same}; }
  static Padding symmetric(std::int64_t h, std::int64_t w) {
    return {Kind::explicit_amounts, h, h, w, w};
  }
  static Padding explicit_amounts(std::int64_t top, std::int64_t bottom, std::int64_t left,
                                  std::int64_t right) {
    return {Kind::explicit_amounts, top, bottom, left, right};
  }
  // "valid", "same", "N" or "H,W" or "T,B,L,R".
  static Padding parse(const std::string& text);
  std::string str() const;  // "valid", "same" or "(t, b, l, r)"
};

// A pooling window in Keras's names. The pooling layers (Pool2DOptions, layers.h) and pool_image
// (PoolImageOptions, image.h) take one.
struct PoolWindow {
  Size2 pool_size = 2;
  std::optional<Size2> strides;  // default: pool_size (Keras)
  Padding padding = Padding::valid();
};

// Output extent and the padding before the first window along one axis (Keras/TF rules).
struct WindowAxis {
  std::int64_t output = 0, pad_before = 0, pad_after = 0;
};
KILN_API WindowAxis window_axis(std::int64_t input, std::int64_t window, std::int64_t stride,
                                const Padding& padding, bool vertical);

// ---- convolution and pooling
// x (n, h, w, c), kernel (kh, kw, c, o), bias (o) or undefined -> (n, oh, ow, o)
KILN_API Tensor conv2d(const Tensor& x, const Tensor& kernel, const Tensor& bias = Tensor(),
                       Size2 strides = 1, const Padding& padding = Padding::valid());
// x (n, h, w, c) -> (n, oh, ow, c); strides default to the pool size (Keras).
KILN_API Tensor max_pool2d(const Tensor& x, Size2 pool_size, std::optional<Size2> strides = {},
                           const Padding& padding = Padding::valid());
KILN_API Tensor min_pool2d(const Tensor& x, Size2 pool_size, std::optional<Size2> strides = {},
                           const Padding& padding = Padding::valid());
KILN_API Tensor avg_pool2d(const Tensor& x, Size2 pool_size, std::optional<Size2> strides = {},
                           const Padding& padding = Padding::valid());

// ---- dense: x (n, in) @ kernel (in, out) + bias (out) -> (n, out); bias may be undefined
KILN_API Tensor dense(const Tensor& x, const Tensor& kernel, const Tensor& bias = Tensor());
KILN_API Tensor matmul(const Tensor& a, const Tensor& b);  // (m, k) @ (k, n)

// ---- activations (elementwise; softmax over the last axis)
KILN_API Tensor relu(const Tensor& x);
KILN_API Tensor sigmoid(const Tensor& x);
KILN_API Tensor tanh(const Tensor& x);
KILN_API Tensor softmax(const Tensor& x);
// By Keras name: "linear", "relu", "sigmoid", "tanh", "softmax".
KILN_API Tensor activation(const Tensor& x, const std::string& name);

// ---- shape and arithmetic
KILN_API Tensor reshape(const Tensor& x, const Shape& shape);
// (n, ...) -> (n, prod(...))
KILN_API Tensor flatten(const Tensor& x);
// Joins tensors whose shapes agree except along `axis` (negative counts from the end).
KILN_API Tensor concatenate(const std::vector<Tensor>& xs, int axis = -1);
KILN_API Tensor add(const Tensor& a, const Tensor& b);  // same shapes
KILN_API Tensor scale(const Tensor& x, double factor);
KILN_API Tensor sum(const Tensor& x);   // all elements -> shape ()
KILN_API Tensor mean(const Tensor& x);  // all elements -> shape ()
// Training: zeroes each element with probability `rate` and scales the rest by 1/(1-rate);
// inference: identity. The mask is a function of (seed, element index).
KILN_API Tensor dropout(const Tensor& x, double rate, bool training, std::uint64_t seed);

// ---- the ops of the Keras layers (ReLU, merges, BatchNormalization, Rescaling, padding, …)
// Keras's relu(x, negative_slope, max_value, threshold), threshold and max_value >= 0:
// y = x > threshold ? min(x, max_value) : negative_slope * (x - threshold).
struct ReluOptions {
  double negative_slope = 0.0;
  std::optional<double> max_value;
  double threshold = 0.0;
};
KILN_API Tensor relu(const Tensor& x, const ReluOptions& options);
// Elementwise on tensors of one shape (the merge layers).
KILN_API Tensor subtract(const Tensor& a, const Tensor& b);
KILN_API Tensor multiply(const Tensor& a, const Tensor& b);
// max(a, b); NaN in either wins; the gradient of a tie goes to a (TensorFlow's rule).
KILN_API Tensor maximum(const Tensor& a, const Tensor& b);
// x (..., c) -> (c): the sum over every axis but the last.
KILN_API Tensor channel_sum(const Tensor& x);
// x (..., c), scale (c), shift (c) or undefined -> x * scale + shift along the last axis.
KILN_API Tensor channel_affine(const Tensor& x, const Tensor& scale,
                               const Tensor& shift = Tensor());
// 1 / sqrt(x + epsilon), elementwise.
KILN_API Tensor inverse_sqrt(const Tensor& x, double epsilon);
// Batch mean and (biased) variance of x (..., c) over every axis but the last -> two (c) tensors.
struct Moments {
  Tensor mean, variance;
};
KILN_API Moments moments(const Tensor& x);
// tf.nn.batch_normalization over the last axis: a = scale / sqrt(variance + epsilon),
// y = x * a + (offset - mean * a). scale and offset may be undefined (1 and 0).
KILN_API Tensor batch_normalization(const Tensor& x, const Tensor& mean, const Tensor& variance,
                                    const Tensor& offset, const Tensor& scale, double epsilon);
// x (n, h, w, c) -> (n, top + h + bottom, left + w + right, c), zeros around.
KILN_API Tensor zero_pad2d(const Tensor& x, const Padding& amounts);
// x (n, h, w, c) -> (n, h * size.h, w * size.w, c), each pixel repeated (nearest neighbour).
KILN_API Tensor upsample2d_nearest(const Tensor& x, Size2 size);
// x (n, h, w, c) -> (n, h * size.h, w * size.w, c), bilinear with half-pixel centres
// (tf.image.resize, as Keras's UpSampling2D(interpolation="bilinear")).
KILN_API Tensor upsample2d_bilinear(const Tensor& x, Size2 size);
// Depthwise convolution: x (n, h, w, c), kernel (kh, kw, c, m), bias (c * m) or undefined ->
// (n, oh, ow, c * m); output channel k * m + j is input channel k convolved with kernel[.., .., k, j].
KILN_API Tensor depthwise_conv2d(const Tensor& x, const Tensor& kernel,
                                 const Tensor& bias = Tensor(), Size2 strides = 1,
                                 const Padding& padding = Padding::valid());

// ---- losses, Keras argument order (y_true, y_pred), mean over the batch -> shape ()
// y_pred: probabilities straight from softmax/sigmoid (the loss then works from their logits,
// as Keras does), or logits with from_logits = true.
KILN_API Tensor categorical_crossentropy(const Tensor& y_true, const Tensor& y_pred,
                                         bool from_logits = false);
// y_true: i32 labels (n) or (n, 1)
KILN_API Tensor sparse_categorical_crossentropy(const Tensor& y_true, const Tensor& y_pred,
                                                bool from_logits = false);
// y_true in [0, 1], same shape as y_pred; mean over every element
KILN_API Tensor binary_crossentropy(const Tensor& y_true, const Tensor& y_pred,
                                    bool from_logits = false);

// ---- not differentiable
KILN_API Tensor argmax(const Tensor& x);  // over the last axis -> i32
KILN_API Tensor one_hot(const Tensor& labels, std::int64_t classes, DType dtype = DType::f32);
// rows of x picked by i32 indices: (k, ...)
KILN_API Tensor gather_rows(const Tensor& x, const Tensor& indices);

}  // namespace kiln
