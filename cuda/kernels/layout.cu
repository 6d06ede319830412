// Transpose through 32x32 shared-memory tiles (coalesced on both sides) and the zero-filling
// window copy used to pad or crop NHWC images (see layout.cuh).
#include <algorithm>

#include "../cuda_check.h"
#include "launch.cuh"
#include "layout.cuh"

namespace kiln::cuda::kernels {

namespace {

constexpr int kTile = 32;
constexpr int kTileRows = 8;

__global__ void transpose_kernel(const float* in, float* out, std::int64_t rows,
                                 std::int64_t cols) {
  __shared__ float tile[kTile][kTile + 1];  // +1: no bank conflicts on the transposed read
  for (std::int64_t tile_row = blockIdx.y; tile_row * kTile < rows; tile_row += gridDim.y) {
    for (std::int64_t tile_col = blockIdx.x; tile_col * kTile < cols; tile_col += gridDim.x) {
      const std::int64_t col = tile_col * kTile + threadIdx.x;
      for (int k = threadIdx.y; k < kTile; k += kTileRows) {
        const std::int64_t row = tile_row * kTile + k;
        if (row < rows && col < cols) tile[k][threadIdx.x] = in[row * cols + col];
      }
      __syncthreads();
      const std::int64_t out_col = tile_row * kTile + threadIdx.x;  // a row of `in`
      for (int k = threadIdx.y; k < kTile; k += kTileRows) {
        const std::int64_t out_row = tile_col * kTile + k;  // a column of `in`
        if (out_row < cols && out_col < rows) out[out_row * rows + out_col] = tile[threadIdx.x][k];
      }
      __syncthreads();
    }
  }
}

__global__ void shift_window_kernel(const float* in, std::int64_t n, std::int64_t ih,
                                    std::int64_t iw, std::int64_t c, float* out, std::int64_t oh,
                                    std::int64_t ow, std::int64_t offset_y, std::int64_t offset_x) {
  KILN_GRID_STRIDE_LOOP(i, n * oh * ow * c) {
    const std::int64_t ch = i % c;
    const std::int64_t pixel = i / c;
    const std::int64_t x = pixel % ow + offset_x;
    const std::int64_t y = (pixel / ow) % oh + offset_y;
    const std::int64_t img = pixel / (ow * oh);
    const bool inside = y >= 0 && y < ih && x >= 0 && x < iw;
    out[i] = inside ? in[((img * ih + y) * iw + x) * c + ch] : 0.0f;
  }
}

}  // namespace

void transpose(const float* in, float* out, std::int64_t rows, std::int64_t cols,
               cudaStream_t stream) {
  if (rows == 0 || cols == 0) return;
  const dim3 grid(
      static_cast<unsigned int>(std::min<std::int64_t>((cols + kTile - 1) / kTile, 65535)),
      static_cast<unsigned int>(std::min<std::int64_t>((rows + kTile - 1) / kTile, 65535)));
  transpose_kernel<<<grid, dim3(kTile, kTileRows), 0, stream>>>(in, out, rows, cols);
  KILN_CUDA_LAUNCH_CHECK();
}

void shift_window(const float* in, std::int64_t n, std::int64_t ih, std::int64_t iw, std::int64_t c,
                  float* out, std::int64_t oh, std::int64_t ow, std::int64_t offset_y,
                  std::int64_t offset_x, cudaStream_t stream) {
  const std::int64_t total = n * oh * ow * c;
  if (total == 0) return;
  shift_window_kernel<<<blocks_for(total), kThreads, 0, stream>>>(in, n, ih, iw, c, out, oh, ow,
                                                                  offset_y, offset_x);
  KILN_CUDA_LAUNCH_CHECK();
}

}  // namespace kiln::cuda::kernels
