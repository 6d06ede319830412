// Broadcasting binary arithmetic and spatial mean (see graph_ops.cuh). The element arithmetic is
// the CPU's own (src/backend/binary_arithmetic.h).
#include <cmath>
#include <cstdint>
#include <type_traits>

#include "../cuda_check.h"
#include "backend/binary_arithmetic.h"
#include "graph_ops.cuh"
#include "launch.cuh"

namespace kiln::cuda::kernels {

namespace {

template <BinaryOp Op, class T, class R>
__global__ void broadcast_binary_kernel(BroadcastShape s, const T* a, const T* b, R* out) {
  KILN_GRID_STRIDE_LOOP(i, s.count) {
    std::int64_t rest = i, offset_a = 0, offset_b = 0;
    for (int axis = s.rank - 1; axis >= 0; --axis) {
      const std::int64_t index = rest % s.out[axis];
      rest /= s.out[axis];
      offset_a += index * s.a_stride[axis];
      offset_b += index * s.b_stride[axis];
    }
    out[i] = backend::apply_binary<Op, T, R>(a[offset_a], b[offset_b]);
  }
}

template <BinaryOp Op, class T>
void launch_binary(const BroadcastShape& s, const void* a, const void* b, void* out,
                   cudaStream_t stream) {
  using R = std::conditional_t<Op == BinaryOp::equal, std::uint8_t, T>;
  broadcast_binary_kernel<Op, T, R><<<blocks_for(s.count), kThreads, 0, stream>>>(
      s, static_cast<const T*>(a), static_cast<const T*>(b), static_cast<R*>(out));
  KILN_CUDA_LAUNCH_CHECK();
}

template <BinaryOp Op>
void launch_for_dtype(DType dtype, const BroadcastShape& s, const void* a, const void* b, void* out,
                      cudaStream_t stream) {
  if (dtype == DType::i32) {
    launch_binary<Op, std::int32_t>(s, a, b, out, stream);
  } else {
    launch_binary<Op, float>(s, a, b, out, stream);
  }
}

__global__ void spatial_mean_kernel(const float* x, float* y, std::int64_t n, std::int64_t pixels,
                                    std::int64_t c) {
  KILN_GRID_STRIDE_LOOP(i, n * c) {
    const std::int64_t b = i / c, k = i % c;
    const float* image = x + b * pixels * c + k;
    double total = 0.0;
    for (std::int64_t p = 0; p < pixels; ++p) total += image[p * c];
    y[i] = static_cast<float>(total / static_cast<double>(pixels));
  }
}

}  // namespace

void broadcast_binary(BinaryOp op, DType dtype, const BroadcastShape& s, const void* a,
                      const void* b, void* out, cudaStream_t stream) {
  if (s.count == 0) return;
  switch (op) {
    case BinaryOp::add: return launch_for_dtype<BinaryOp::add>(dtype, s, a, b, out, stream);
    case BinaryOp::subtract:
      return launch_for_dtype<BinaryOp::subtract>(dtype, s, a, b, out, stream);
    case BinaryOp::multiply:
      return launch_for_dtype<BinaryOp::multiply>(dtype, s, a, b, out, stream);
    case BinaryOp::floor_divide:
      return launch_for_dtype<BinaryOp::floor_divide>(dtype, s, a, b, out, stream);
    case BinaryOp::floor_mod:
      return launch_for_dtype<BinaryOp::floor_mod>(dtype, s, a, b, out, stream);
    case BinaryOp::equal: return launch_for_dtype<BinaryOp::equal>(dtype, s, a, b, out, stream);
  }
}

void spatial_mean(const float* x, float* y, std::int64_t n, std::int64_t pixels, std::int64_t c,
                  cudaStream_t stream) {
  if (n * c == 0) return;
  spatial_mean_kernel<<<blocks_for(n * c), kThreads, 0, stream>>>(x, y, n, pixels, c);
  KILN_CUDA_LAUNCH_CHECK();
}

}  // namespace kiln::cuda::kernels
