// Kernels of the spatial layers added for Keras files, f32, NHWC, all assigning (=):
//   resize_bilinear_forward   y (n, oh, ow, c) from x (n, h, w, c) with half-pixel centres
//                             (backend.h gives the formula; tf.image.resize's arithmetic), or
//                             align-corners / TF1 asymmetric ones (ResizeShape's flags)
//   resize_bilinear_backward  dx (n, h, w, c) from dy (n, oh, ow, c): each dx element gathers
//                             the dy elements that read it, weighted, so no atomics
//   depthwise_conv2d_*        x (n, h, w, c), w (kh, kw, c, m), y (n, oh, ow, c * m); output
//                             channel k * m + j reads input channel k with w[.., .., k, j].
//                             backward_data: one thread per dx element (gather);
//                             backward_filter: one block per dw element, a tree reduction over
//                             the batch and the output positions (deterministic)
// Every launcher queues its work on `stream` and returns at once.
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>

namespace kiln::cuda::kernels {

struct ResizeShape {
  std::int64_t n = 0, h = 0, w = 0, c = 0, oh = 0, ow = 0;
  // The source-position rule (kiln/graph_ops.h, ResizeMode); the backward pass takes the
  // default, half-pixel centres, only.
  bool align_corners = false, half_pixel_centers = true;
};

struct DepthwiseShape {
  std::int64_t n = 0, h = 0, w = 0, c = 0, m = 0;
  std::int64_t kh = 0, kw = 0, oh = 0, ow = 0;
  std::int64_t stride_h = 1, stride_w = 1, pad_top = 0, pad_left = 0;
};

void resize_bilinear_forward(const ResizeShape& s, const float* x, float* y, cudaStream_t stream);
void resize_bilinear_backward(const ResizeShape& s, const float* dy, float* dx,
                              cudaStream_t stream);
void depthwise_conv2d_forward(const DepthwiseShape& s, const float* x, const float* w, float* y,
                              cudaStream_t stream);
void depthwise_conv2d_backward_data(const DepthwiseShape& s, const float* dy, const float* w,
                                    float* dx, cudaStream_t stream);
void depthwise_conv2d_backward_filter(const DepthwiseShape& s, const float* x, const float* dy,
                                      float* dw, cudaStream_t stream);

}  // namespace kiln::cuda::kernels
