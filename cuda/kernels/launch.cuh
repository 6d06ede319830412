// Launch geometry shared by the kernel families: 256-thread blocks over a grid-stride loop, with
// the grid capped so huge tensors reuse threads instead of overflowing gridDim. Sizes are int64.
#pragma once

#include <algorithm>
#include <cstdint>

namespace kiln::cuda::kernels {

constexpr int kThreads = 256;
constexpr std::int64_t kMaxBlocks = 1 << 20;

inline unsigned int blocks_for(std::int64_t work_items, int threads = kThreads) {
  const std::int64_t blocks = (work_items + threads - 1) / threads;
  return static_cast<unsigned int>(std::clamp<std::int64_t>(blocks, 1, kMaxBlocks));
}

}  // namespace kiln::cuda::kernels

#if defined(__CUDACC__) || defined(KILN_CUDA_EMULATION)
// for (i in [0, n)) spread over the grid; i is int64.
#define KILN_GRID_STRIDE_LOOP(i, n)                                                                \
  for (std::int64_t i = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < (n); \
       i += static_cast<std::int64_t>(blockDim.x) * gridDim.x)
#endif
