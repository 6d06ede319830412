// Ops for imported inference graphs (TF.js graph models, kiln::OpGraph): TensorFlow's
// broadcasting arithmetic, spatial mean, bilinear resize in either coordinate mode, top-k,
// strided slice. Inference only: none records on the tape. Images are NHWC.
#pragma once

#include <cstdint>
#include <vector>

#include "kiln/export.h"
#include "kiln/ops.h"
#include "kiln/tensor.h"

namespace kiln {

// TensorFlow's binary ops. equal gives u8 (0 or 1); floor_divide and floor_mod round toward
// minus infinity (Python's // and %), on i32 or floats.
enum class BinaryOp : unsigned char { add, subtract, multiply, floor_divide, floor_mod, equal };

// a op b with NumPy broadcasting (shapes aligned at the end; an extent of 1 repeats). Both of
// one dtype (f32, f64 or i32; floor_* and equal also u8 for equal's inputs).
KILN_API Tensor broadcast_binary(const Tensor& a, const Tensor& b, BinaryOp op);

// x (n, h, w, c) -> (n, 1, 1, c): the mean over height and width (tf.reduce_mean(x, [1, 2],
// keepdims=True)).
KILN_API Tensor spatial_mean(const Tensor& x);

// tf.compat.v1.image.resize_bilinear: x (n, h, w, c) -> (n, size.h, size.w, c). Source position
// of output o along an axis of in -> out pixels:
//   align_corners:       o * (in - 1) / (out - 1)
//   half_pixel_centers:  (o + 0.5) * in / out - 0.5   (Keras 2 UpSampling2D, torch)
//   neither (TF1):       o * in / out
// then lower = max(floor(p), 0), upper = min(ceil(p), in - 1), weight p - floor(p).
struct ResizeMode {
  bool align_corners = false;
  bool half_pixel_centers = false;
};
KILN_API Tensor resize_bilinear(const Tensor& x, Size2 size, ResizeMode mode = {});

// The k largest values along the last axis, sorted descending; a tie goes to the lower index
// (tf.math.top_k). values (..., k) of x's dtype, indices (..., k) i32.
struct TopK {
  Tensor values, indices;
};
KILN_API TopK top_k(const Tensor& x, std::int64_t k);

// x[begin[0]:…:strides[0], begin[1]:…, …] with `sizes` elements along each axis (resolved by the
// caller; strides may be negative). The output has shape `sizes`.
KILN_API Tensor strided_slice(const Tensor& x, const std::vector<std::int64_t>& begin,
                              const std::vector<std::int64_t>& strides,
                              const std::vector<std::int64_t>& sizes);

// TensorFlow's hard-swish as its graphs spell it (MobileNetV3: Mul, Add, Relu6, Mul):
// y = (x * scale) * relu6(x + shift), evaluated in that order, so that it equals the unfused ops
// exactly; one pass over x on the CPU. Floating x.
KILN_API Tensor hard_swish(const Tensor& x, double scale = 1.0 / 6.0, double shift = 3.0);

// x[indices] along axis 0 (tf.gather(x, indices, axis=0)): x (rows, ...), i32 indices of any
// shape -> indices.shape + x.shape[1:]. Indices out of [0, rows) are an Error.
KILN_API Tensor gather(const Tensor& x, const Tensor& indices);

}  // namespace kiln
