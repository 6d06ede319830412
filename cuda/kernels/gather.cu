// Row gather and one-hot encoding (see gather.cuh). The gather moves the widest word (16, 8, 4
// or 1 bytes) that the row size and both base addresses allow.
#include <cstdint>

#include "../cuda_check.h"
#include "gather.cuh"
#include "launch.cuh"

namespace kiln::cuda::kernels {

namespace {

template <class Word>
__global__ void gather_rows_kernel(const Word* src, const std::int32_t* indices, Word* dst,
                                   std::int64_t count, std::int64_t words_per_row) {
  KILN_GRID_STRIDE_LOOP(i, count * words_per_row) {
    const std::int64_t row = i / words_per_row;
    const std::int64_t word = i - row * words_per_row;
    dst[i] = src[static_cast<std::int64_t>(indices[row]) * words_per_row + word];
  }
}

__global__ void one_hot_kernel(const std::int32_t* labels, float* out, std::int64_t rows,
                               std::int64_t classes) {
  KILN_GRID_STRIDE_LOOP(i, rows * classes) {
    const std::int64_t r = i / classes;
    out[i] = labels[r] == i - r * classes ? 1.0f : 0.0f;
  }
}

template <class Word>
bool fits(const void* src, const void* dst, std::size_t row_bytes) {
  return row_bytes % sizeof(Word) == 0 &&
         reinterpret_cast<std::uintptr_t>(src) % sizeof(Word) == 0 &&
         reinterpret_cast<std::uintptr_t>(dst) % sizeof(Word) == 0;
}

template <class Word>
void launch_gather(const void* src, const std::int32_t* indices, void* dst, std::int64_t count,
                   std::size_t row_bytes, cudaStream_t stream) {
  const auto words = static_cast<std::int64_t>(row_bytes / sizeof(Word));
  gather_rows_kernel<Word><<<blocks_for(count * words), kThreads, 0, stream>>>(
      static_cast<const Word*>(src), indices, static_cast<Word*>(dst), count, words);
  KILN_CUDA_LAUNCH_CHECK();
}

}  // namespace

void gather_rows(const void* src, const std::int32_t* indices, void* dst, std::int64_t count,
                 std::size_t row_bytes, cudaStream_t stream) {
  if (count == 0 || row_bytes == 0) return;
  if (fits<uint4>(src, dst, row_bytes)) {
    launch_gather<uint4>(src, indices, dst, count, row_bytes, stream);
  } else if (fits<std::uint64_t>(src, dst, row_bytes)) {
    launch_gather<std::uint64_t>(src, indices, dst, count, row_bytes, stream);
  } else if (fits<std::uint32_t>(src, dst, row_bytes)) {
    launch_gather<std::uint32_t>(src, indices, dst, count, row_bytes, stream);
  } else {
    launch_gather<std::uint8_t>(src, indices, dst, count, row_bytes, stream);
  }
}

void one_hot(const std::int32_t* labels, float* out, std::int64_t rows, std::int64_t classes,
             cudaStream_t stream) {
  if (rows == 0 || classes == 0) return;
  one_hot_kernel<<<blocks_for(rows * classes), kThreads, 0, stream>>>(labels, out, rows, classes);
  KILN_CUDA_LAUNCH_CHECK();
}

}  // namespace kiln::cuda::kernels
