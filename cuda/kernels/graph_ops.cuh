// Kernels of imported graphs (kiln/graph_ops.h), all assigning (=):
//   broadcast_binary  out = a op b with NumPy broadcasting: out (rank <= kMaxBroadcastRank) and
//                     a's / b's element strides in out's index space (0 along a broadcast axis).
//                     f32 or i32 operands; equal writes u8. One thread per output element.
//   spatial_mean      y (n, 1, 1, c) = mean of x (n, h, w, c) over h and w, f32, summed in double
//                     in pixel order: one thread per (image, channel).
// The mode of bilinear resize is spatial.cuh's; top-k and strided slice copy through the host
// (cuda_backend_graph.cpp). Every launcher queues its work on `stream` and returns at once.
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>

#include "kiln/dtype.h"
#include "kiln/graph_ops.h"

namespace kiln::cuda::kernels {

constexpr int kMaxBroadcastRank = 6;

struct BroadcastShape {
  int rank = 0;
  std::int64_t out[kMaxBroadcastRank] = {};
  std::int64_t a_stride[kMaxBroadcastRank] = {}, b_stride[kMaxBroadcastRank] = {};
  std::int64_t count = 0;  // elements of out
};

void broadcast_binary(BinaryOp op, DType dtype, const BroadcastShape& s, const void* a,
                      const void* b, void* out, cudaStream_t stream);
void spatial_mean(const float* x, float* y, std::int64_t n, std::int64_t pixels, std::int64_t c,
                  cudaStream_t stream);

}  // namespace kiln::cuda::kernels
