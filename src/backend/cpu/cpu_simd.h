// CPU kernels compiled for several x86-64 instruction sets, the best one picked when the program
// loads (GCC's target_clones: AVX-512, AVX2 + FMA, or the baseline SSE2 kiln is built for), so a
// binary built for any x86-64 uses the vector width of the machine it runs on. float only; the
// callers keep their plain loops for double. Outputs assigned (=).
#pragma once

#include <cstdint>

#include "backend/backend.h"

namespace kiln::backend::cpu {

// Depthwise convolution with a depth multiplier of 1 (g.o == g.c), NHWC, HWIO kernel (kh, kw,
// c, 1): output rows [first_row, last_row) of the (n * oh) image rows. Each output sums its taps
// in the order ky, kx, as the plain loop does.
void depthwise_forward_rows(const Conv2dGeometry& g, const float* x, const float* w, float* y,
                            std::int64_t first_row, std::int64_t last_row);

// y = (x * scale) * min(max(x + shift, 0), 6) elementwise: TensorFlow's hard-swish as its graphs
// spell it (scale 1/6, shift 3), evaluated in that order.
void hard_swish(const float* x, float scale, float shift, float* y, std::int64_t count);

}  // namespace kiln::backend::cpu
