// Warp-level helpers for kernels that give each row of a (rows, cols) matrix to one warp:
// row iteration over the grid and butterfly reductions whose result every lane receives.
#pragma once

#include <cstdint>

namespace kiln::cuda::kernels {

constexpr int kWarpSize = 32;
constexpr int kWarpsPerBlock = 8;  // 256 threads

#if defined(__CUDACC__) || defined(KILN_CUDA_EMULATION)

template <class T>
__device__ __forceinline__ T warp_sum(T value) {
  for (int offset = kWarpSize / 2; offset > 0; offset /= 2) {
    value += __shfl_xor_sync(0xffffffffu, value, offset);
  }
  return value;
}

__device__ __forceinline__ float warp_max(float value) {
  for (int offset = kWarpSize / 2; offset > 0; offset /= 2) {
    value = fmaxf(value, __shfl_xor_sync(0xffffffffu, value, offset));
  }
  return value;
}

__device__ __forceinline__ std::int64_t global_warp() {
  return (static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x) / kWarpSize;
}

__device__ __forceinline__ std::int64_t warp_count() {
  return static_cast<std::int64_t>(gridDim.x) * blockDim.x / kWarpSize;
}

__device__ __forceinline__ int lane_id() { return static_cast<int>(threadIdx.x % kWarpSize); }

// for (row in [0, rows)) with one warp per row; every lane of a warp sees the same rows, so
// warp reductions inside the loop are safe.
#define KILN_WARP_ROW_LOOP(row, rows) \
  for (std::int64_t row = global_warp(); row < (rows); row += warp_count())

#endif

}  // namespace kiln::cuda::kernels
