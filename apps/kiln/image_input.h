// Reading an input image for `kiln predict --image`.
#pragma once

#include <cstdint>
#include <string>

#include "kiln/tensor.h"

namespace kiln::cli {

// Reads a PNG or JPEG (kiln::read_image: any PNG colour type and bit depth, grey or RGB JPEG) as
// grey f32 in [0, 1], shape (1, height, width, 1). Transparent pixels are composited on black (the
// MNIST background); colour becomes grey with Pillow's convert("L") weights. An unreadable file,
// a file that is neither format or a size other than `height` x `width` is an Error naming the
// file.
Tensor read_grey_input(const std::string& path, std::int64_t height, std::int64_t width);

}  // namespace kiln::cli
