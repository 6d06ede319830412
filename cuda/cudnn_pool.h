// Pooling through cuDNN where cuDNN computes exactly kiln's semantics (backend.h: padding never
// wins and is not counted; max / min backward routes to the first winner), f32 NHWC:
//   average forward and backward  when symmetric padding (pad_top, pad_left), smaller than the
//                                 window, yields kiln's output size (CUDNN_POOLING_AVERAGE_
//                                 COUNT_EXCLUDE_PADDING)
//   max forward                   when there is no padding and the output size matches
// Everything else — min pooling, max backward (cuDNN does not document which of several equal
// maxima receives the gradient), asymmetric padding — runs on kiln's own kernels
// (kernels/pool.cuh). Both outputs are assigned (=).
#pragma once

#include <cuda_runtime_api.h>

#include "backend/backend.h"

namespace kiln::cuda {

bool cudnn_pooling_supports(backend::PoolMode mode, const backend::Pool2dGeometry& g,
                            bool backward);
void cudnn_pool_forward(int device, cudaStream_t stream, backend::PoolMode mode,
                        const backend::Pool2dGeometry& g, const float* x, float* y);
void cudnn_pool_backward(int device, cudaStream_t stream, backend::PoolMode mode,
                         const backend::Pool2dGeometry& g, const float* x, const float* y,
                         const float* dy, float* dx);

}  // namespace kiln::cuda
