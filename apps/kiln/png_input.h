// Reading an input image for `kiln predict --image`.
#pragma once

#include <cstdint>
#include <string>

#include "kiln/tensor.h"

namespace kiln::cli {

// Reads a PNG (grayscale, grey+alpha, RGB, RGBA or palette; any bit depth) as grey f32 in [0, 1],
// shape (1, height, width, 1). An unreadable file, a file that is not a PNG or a size other than
// `height` x `width` is an Error naming the file.
Tensor read_png_gray(const std::string& path, std::int64_t height, std::int64_t width);

}  // namespace kiln::cli
