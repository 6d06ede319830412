// Sum and argmax (see reduce.cuh).
#include <algorithm>
#include <cmath>
#include <type_traits>

#include "../cuda_check.h"
#include "launch.cuh"
#include "reduce.cuh"
#include "warp.cuh"

namespace kiln::cuda::kernels {

namespace {

constexpr int kSumBlocks = 1024;

template <class T>
using Accumulator = std::conditional_t<std::is_floating_point_v<T>, double, long long>;

// Block sum through shared memory; thread 0 gets the total.
template <class Acc>
__device__ Acc block_sum(Acc value) {
  __shared__ Acc warp_totals[kThreads / kWarpSize];
  value = warp_sum(value);
  if (lane_id() == 0) warp_totals[threadIdx.x / kWarpSize] = value;
  __syncthreads();
  Acc total = 0;
  if (threadIdx.x == 0) {
    for (int w = 0; w < kThreads / kWarpSize; ++w) total += warp_totals[w];
  }
  return total;
}

template <class T>
__global__ void sum_partials_kernel(const T* x, std::int64_t n, Accumulator<T>* partials) {
  Accumulator<T> mine = 0;
  KILN_GRID_STRIDE_LOOP(i, n) { mine += x[i]; }
  const Accumulator<T> total = block_sum(mine);
  if (threadIdx.x == 0) partials[blockIdx.x] = total;
}

template <class Out>
__device__ Out convert_total(double total) {
  if constexpr (std::is_floating_point_v<Out>) {
    return static_cast<Out>(total);
  } else {
    if (isnan(total)) return Out(0);
    const double low = std::is_same_v<Out, unsigned char> ? 0.0 : -2147483648.0;
    const double high = std::is_same_v<Out, unsigned char> ? 255.0 : 2147483647.0;
    return static_cast<Out>(fmin(fmax(trunc(total), low), high));
  }
}

template <class Acc, class Out>
__global__ void sum_finish_kernel(const Acc* partials, int count, Out* out) {
  Acc mine = 0;
  for (int i = static_cast<int>(threadIdx.x); i < count; i += blockDim.x) mine += partials[i];
  const Acc total = block_sum(mine);
  if (threadIdx.x == 0) out[0] = convert_total<Out>(static_cast<double>(total));
}

// One warp per row (warp_argmax in warp.cuh: the first NaN of the row, else the first maximum,
// as on the CPU).
template <class T>
__global__ void argmax_kernel(const T* x, std::int64_t rows, std::int64_t cols, std::int32_t* out) {
  KILN_WARP_ROW_LOOP(row, rows) {
    const std::int64_t best = warp_argmax(x + row * cols, cols);
    if (lane_id() == 0) out[row] = static_cast<std::int32_t>(best);
  }
}

template <class Fn>
void dispatch(DType dtype, Fn&& fn) {
  switch (dtype) {
    case DType::f32: fn(float{}); return;
    case DType::u8: fn(static_cast<unsigned char>(0)); return;
    case DType::i32: fn(std::int32_t{}); return;
    case DType::f64: fn(double{}); return;
  }
}

}  // namespace

std::size_t sum_workspace_bytes() { return kSumBlocks * sizeof(double); }

void sum(const void* x, DType x_dtype, std::int64_t n, void* out, DType out_dtype, void* partials,
         cudaStream_t stream) {
  const int blocks = static_cast<int>(std::min<std::int64_t>(blocks_for(n), kSumBlocks));
  dispatch(x_dtype, [&](auto in_tag) {
    using In = decltype(in_tag);
    using Acc = Accumulator<In>;
    auto* sums = static_cast<Acc*>(partials);
    sum_partials_kernel<In><<<blocks, kThreads, 0, stream>>>(static_cast<const In*>(x), n, sums);
    KILN_CUDA_LAUNCH_CHECK();
    dispatch(out_dtype, [&](auto out_tag) {
      using Out = decltype(out_tag);
      sum_finish_kernel<Acc, Out><<<1, kThreads, 0, stream>>>(sums, blocks, static_cast<Out*>(out));
      KILN_CUDA_LAUNCH_CHECK();
    });
  });
}

void argmax(const void* x, DType x_dtype, std::int64_t rows, std::int64_t cols, std::int32_t* out,
            cudaStream_t stream) {
  if (rows == 0) return;
  dispatch(x_dtype, [&](auto tag) {
    using T = decltype(tag);
    argmax_kernel<T><<<blocks_for(rows, kWarpsPerBlock), kThreads, 0, stream>>>(
        static_cast<const T*>(x), rows, cols, out);
    KILN_CUDA_LAUNCH_CHECK();
  });
}

}  // namespace kiln::cuda::kernels
