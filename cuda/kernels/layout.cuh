// Layout helpers for the cuDNN convolution path (cuda/cudnn_conv.cpp), f32, all assigning (=):
//   transpose     out (cols, rows) = in (rows, cols)^T. kiln's HWIO kernel viewed as
//                 (kh*kw*c, o) transposes into cuDNN's OHWI (o, kh*kw*c), and back.
//   shift_window  out[b, y, x, ch] = in[b, y + offset_y, x + offset_x, ch] where that lies inside
//                 in (n, ih, iw, c), else 0; out is (n, oh, ow, c). With negative offsets it
//                 zero-pads an image; with positive ones it crops a padded gradient.
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>

namespace kiln::cuda::kernels {

void transpose(const float* in, float* out, std::int64_t rows, std::int64_t cols,
               cudaStream_t stream);
void shift_window(const float* in, std::int64_t n, std::int64_t ih, std::int64_t iw, std::int64_t c,
                  float* out, std::int64_t oh, std::int64_t ow, std::int64_t offset_y,
                  std::int64_t offset_x, cudaStream_t stream);

}  // namespace kiln::cuda::kernels
