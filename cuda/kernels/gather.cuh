// Batch assembly on the device:
//   gather_rows  dst[i, ...] = src[indices[i], ...] for i < count, rows of row_bytes bytes, any
//                dtype (=); indices are i32 and checked by the caller
//   one_hot      out[r, k] = (labels[r] == k) ? 1 : 0, out f32 (rows, classes) (=); a label
//                outside [0, classes) gives a zero row (the CPU backend raises; ops check first)
#pragma once

#include <cuda_runtime_api.h>

#include <cstddef>
#include <cstdint>

namespace kiln::cuda::kernels {

void gather_rows(const void* src, const std::int32_t* indices, void* dst, std::int64_t count,
                 std::size_t row_bytes, cudaStream_t stream);
void one_hot(const std::int32_t* labels, float* out, std::int64_t rows, std::int64_t classes,
             cudaStream_t stream);

}  // namespace kiln::cuda::kernels
