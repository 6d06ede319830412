// Accuracy counts (see metrics.cuh).
#include "../cuda_check.h"
#include "launch.cuh"
#include "metrics.cuh"
#include "warp.cuh"

namespace kiln::cuda::kernels {

namespace {

__global__ void accuracy_rows_kernel(const float* pred, const float* target,
                                     const std::int32_t* labels, std::int64_t rows,
                                     std::int64_t cols, float* correct) {
  KILN_WARP_ROW_LOOP(row, rows) {
    const std::int64_t predicted = warp_argmax(pred + row * cols, cols);
    const std::int64_t expected =
        labels != nullptr ? labels[row] : warp_argmax(target + row * cols, cols);
    if (lane_id() == 0 && predicted == expected) atomicAdd(correct, 1.0f);
  }
}

__global__ void accuracy_binary_kernel(const float* pred, const float* target, std::int64_t n,
                                       float* correct) {
  int hits = 0;
  KILN_GRID_STRIDE_LOOP(i, n) { hits += (pred[i] > 0.5f) == (target[i] > 0.5f) ? 1 : 0; }
  hits = warp_sum(hits);
  if (lane_id() == 0 && hits > 0) atomicAdd(correct, static_cast<float>(hits));
}

}  // namespace

void accuracy_rows(const float* pred, const float* target, const std::int32_t* labels,
                   std::int64_t rows, std::int64_t cols, float* correct, cudaStream_t stream) {
  if (rows == 0) return;
  accuracy_rows_kernel<<<blocks_for(rows, kWarpsPerBlock), kThreads, 0, stream>>>(
      pred, target, labels, rows, cols, correct);
  KILN_CUDA_LAUNCH_CHECK();
}

void accuracy_binary(const float* pred, const float* target, std::int64_t n, float* correct,
                     cudaStream_t stream) {
  if (n == 0) return;
  accuracy_binary_kernel<<<blocks_for(n), kThreads, 0, stream>>>(pred, target, n, correct);
  KILN_CUDA_LAUNCH_CHECK();
}

}  // namespace kiln::cuda::kernels
