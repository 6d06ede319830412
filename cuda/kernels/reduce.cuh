// Reductions:
//   sum     out[0] = sum of x's n elements (=), accumulated in double for f32 and in int64 for
//           u8 / i32, then converted to out's dtype (integers truncate and saturate). Two passes
//           through `partials` (sum_workspace_bytes of device memory), deterministic.
//   argmax  out[r] (i32) = index of the largest element of row r of x viewed as (rows, cols):
//           the first NaN of the row if it has one, else the first maximum (=), exactly the
//           CPU's index. One warp per row; x is f32, u8 or i32.
#pragma once

#include <cuda_runtime_api.h>

#include <cstddef>
#include <cstdint>

#include "kiln/dtype.h"

namespace kiln::cuda::kernels {

std::size_t sum_workspace_bytes();
void sum(const void* x, DType x_dtype, std::int64_t n, void* out, DType out_dtype, void* partials,
         cudaStream_t stream);
void argmax(const void* x, DType x_dtype, std::int64_t rows, std::int64_t cols, std::int32_t* out,
            cudaStream_t stream);

}  // namespace kiln::cuda::kernels
