// Accuracy counts for training metrics, f32, added (+=) into one device scalar `correct`:
//   accuracy_rows    correct += the rows r of pred (rows, cols) whose argmax (warp_argmax's rule:
//                    first NaN, else first maximum) equals labels[r] (i32) or, with one-hot
//                    `target` instead (labels null), the argmax of target's row r. One warp per
//                    row.
//   accuracy_binary  correct += the elements where (pred[i] > 0.5) == (target[i] > 0.5).
// The counts are whole numbers, so the atomic float adds are exact (up to 2^24) and the result
// does not depend on their order.
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>

namespace kiln::cuda::kernels {

void accuracy_rows(const float* pred, const float* target, const std::int32_t* labels,
                   std::int64_t rows, std::int64_t cols, float* correct, cudaStream_t stream);
void accuracy_binary(const float* pred, const float* target, std::int64_t n, float* correct,
                     cudaStream_t stream);

}  // namespace kiln::cuda::kernels
