// Warp-level helpers for kernels that give each row of a (rows, cols) matrix to one warp:
// row iteration over the grid and butterfly reductions whose result every lane receives.
#pragma once

#include <cmath>
#include <cstdint>
#include <type_traits>

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

template <class T>
__device__ __forceinline__ bool is_nan(T v) {
  if constexpr (std::is_floating_point_v<T>) {
    return isnan(v);
  } else {
    return false;
  }
}

// Whether a beats b in argmax's order: NaN above every number (all NaNs equal), numbers by value.
// Two elements where neither beats the other are tied, and the smaller index wins.
template <class T>
__device__ __forceinline__ bool argmax_beats(T a, T b) {
  if (is_nan(a)) return !is_nan(b);
  return a > b;
}

// The argmax of in[0, cols) computed by a whole warp, received by every lane: the first NaN, else
// the first maximum (0 for an empty row). Each lane keeps the first best of its strided elements;
// the butterfly then keeps the better of two candidates, or the smaller index of two tied ones.
// That order is total, so every lane ends with the CPU's answer.
template <class T>
__device__ std::int64_t warp_argmax(const T* in, std::int64_t cols) {
  if (cols == 0) return 0;
  const int lane = lane_id();
  std::int64_t best = lane < cols ? lane : 0;
  for (std::int64_t j = lane + kWarpSize; j < cols; j += kWarpSize) {
    if (argmax_beats(in[j], in[best])) best = j;
  }
  for (int offset = kWarpSize / 2; offset > 0; offset /= 2) {
    const std::int64_t other = __shfl_xor_sync(0xffffffffu, best, offset);
    const bool tied = !argmax_beats(in[other], in[best]) && !argmax_beats(in[best], in[other]);
    if (argmax_beats(in[other], in[best]) || (tied && other < best)) best = other;
  }
  return best;
}

// for (row in [0, rows)) with one warp per row; every lane of a warp sees the same rows, so
// warp reductions inside the loop are safe.
#define KILN_WARP_ROW_LOOP(row, rows) \
  for (std::int64_t row = global_warp(); row < (rows); row += warp_count())

#endif

}  // namespace kiln::cuda::kernels
