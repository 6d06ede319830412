// Pooling forward through cuDNN where cuDNN computes exactly kiln's semantics (backend.h: padding
// never wins and is not counted; the first NaN of a max window wins, CUDNN_PROPAGATE_NAN), f32
// NHWC, y assigned (=):
//   average  when symmetric padding (pad_top, pad_left), smaller than the window, yields kiln's
//            output size (CUDNN_POOLING_AVERAGE_COUNT_EXCLUDE_PADDING)
//   max      when no winners are wanted (inference: cuDNN does not report which position won),
//            there is no padding and the output size matches
// and only while every tensor has at most 2^31 - 1 elements (kiln's kernels index in 64 bits).
// Everything else — min pooling, max pooling that keeps winners for the backward pass, asymmetric
// padding, every backward pass (a deterministic gather, kernels/pool.cuh) — runs on kiln's own
// kernels.
#pragma once

#include <cuda_runtime_api.h>

#include "backend/backend.h"

namespace kiln::cuda {

bool cudnn_pooling_supports(backend::PoolMode mode, const backend::Pool2dGeometry& g,
                            bool winners_wanted);
void cudnn_pool_forward(int device, cudaStream_t stream, backend::PoolMode mode,
                        const backend::Pool2dGeometry& g, const float* x, float* y);

}  // namespace kiln::cuda
