// Bias add and bias gradient (see bias.cuh).
#include <algorithm>

#include "../cuda_check.h"
#include "bias.cuh"
#include "launch.cuh"

namespace kiln::cuda::kernels {

namespace {

constexpr int kColumnsPerBlock = 32;
constexpr int kRowLanes = 8;
constexpr std::int64_t kMaxChunks = 512;
constexpr std::int64_t kMinRowsPerChunk = 64;

std::int64_t chunk_count(std::int64_t rows) {
  return std::clamp<std::int64_t>((rows + kMinRowsPerChunk - 1) / kMinRowsPerChunk, 1, kMaxChunks);
}

__global__ void add_bias_kernel(float* y, const float* bias, std::int64_t rows, std::int64_t k) {
  KILN_GRID_STRIDE_LOOP(i, rows * k) { y[i] += bias[i % k]; }
}

// Block (x: column tile, y: chunk) sums rows [chunk * per_chunk, ...) of 32 columns.
__global__ void bias_partials_kernel(const float* dy, double* partials, std::int64_t rows,
                                     std::int64_t k, std::int64_t rows_per_chunk) {
  __shared__ double sums[kRowLanes][kColumnsPerBlock];
  const std::int64_t column =
      static_cast<std::int64_t>(blockIdx.x) * kColumnsPerBlock + threadIdx.x;
  const std::int64_t first = static_cast<std::int64_t>(blockIdx.y) * rows_per_chunk;
  const std::int64_t last = min(first + rows_per_chunk, rows);
  double sum = 0.0;
  if (column < k) {
    for (std::int64_t r = first + threadIdx.y; r < last; r += kRowLanes) sum += dy[r * k + column];
  }
  sums[threadIdx.y][threadIdx.x] = sum;
  __syncthreads();
  if (threadIdx.y == 0 && column < k) {
    double total = 0.0;
    for (int lane = 0; lane < kRowLanes; ++lane) total += sums[lane][threadIdx.x];
    partials[static_cast<std::int64_t>(blockIdx.y) * k + column] = total;
  }
}

__global__ void bias_finish_kernel(const double* partials, float* dbias, std::int64_t k,
                                   std::int64_t chunks) {
  KILN_GRID_STRIDE_LOOP(column, k) {
    double total = 0.0;
    for (std::int64_t chunk = 0; chunk < chunks; ++chunk) total += partials[chunk * k + column];
    dbias[column] = static_cast<float>(total);
  }
}

}  // namespace

void add_bias(float* y, const float* bias, std::int64_t rows, std::int64_t k, cudaStream_t stream) {
  if (rows == 0 || k == 0) return;
  add_bias_kernel<<<blocks_for(rows * k), kThreads, 0, stream>>>(y, bias, rows, k);
  KILN_CUDA_LAUNCH_CHECK();
}

std::size_t bias_backward_workspace_bytes(std::int64_t rows, std::int64_t k) {
  return static_cast<std::size_t>(chunk_count(rows) * k) * sizeof(double);
}

void bias_backward(const float* dy, float* dbias, std::int64_t rows, std::int64_t k, void* partials,
                   cudaStream_t stream) {
  if (k == 0) return;
  const std::int64_t chunks = chunk_count(rows);
  const std::int64_t rows_per_chunk = (rows + chunks - 1) / chunks;
  const dim3 grid(static_cast<unsigned int>((k + kColumnsPerBlock - 1) / kColumnsPerBlock),
                  static_cast<unsigned int>(chunks));
  const dim3 block(kColumnsPerBlock, kRowLanes);
  auto* sums = static_cast<double*>(partials);
  bias_partials_kernel<<<grid, block, 0, stream>>>(dy, sums, rows, k,
                                                   std::max<std::int64_t>(rows_per_chunk, 1));
  KILN_CUDA_LAUNCH_CHECK();
  bias_finish_kernel<<<blocks_for(k), kThreads, 0, stream>>>(sums, dbias, k, chunks);
  KILN_CUDA_LAUNCH_CHECK();
}

}  // namespace kiln::cuda::kernels
