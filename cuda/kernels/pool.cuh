// Pooling kernels over NHWC f32 images with Keras / TensorFlow semantics (the CPU backend's): a
// window covers only its unpadded positions, so padding never wins a max or min and is not
// counted in an average; a window with no unpadded position gives 0.
//   pool2d_forward   y (n, oh, ow, c) = max | min | mean over each window                  (=)
//                    max / min also write winners (i32, y's shape) when it is not null: the
//                    position iy * w + ix of the window's FIRST winner in row-major scan order,
//                    a NaN beating every number; -1 for a window with no unpadded position  (=)
//   pool2d_backward  dx (n, h, w, c): max / min add dy where winners names the position; avg
//                    spreads dy / count over the window's unpadded positions (winners unused,
//                    may be null)                                                          (=)
// The backward pass gathers: one thread per input element visits the windows that cover it, in
// row-major window order, so there are no atomics and the sums match the CPU's order exactly
// (Note [Stored winners] in src/backend/cpu/cpu_pool.cpp).
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>

namespace kiln::cuda::kernels {

enum class PoolKind : unsigned char { max, min, avg };

struct PoolShape {
  std::int64_t n = 0, h = 0, w = 0, c = 0;
  std::int64_t ph = 0, pw = 0;  // window
  std::int64_t oh = 0, ow = 0;
  std::int64_t stride_h = 1, stride_w = 1;
  std::int64_t pad_top = 0, pad_left = 0;
};

void pool2d_forward(PoolKind kind, const PoolShape& s, const float* x, float* y,
                    std::int32_t* winners, cudaStream_t stream);
void pool2d_backward(PoolKind kind, const PoolShape& s, const std::int32_t* winners,
                     const float* dy, float* dx, cudaStream_t stream);

}  // namespace kiln::cuda::kernels
