// Internal: PNG (libpng's simplified API) and JPEG (libjpeg-turbo) codecs between bytes in memory
// and u8 image tensors (height, width, channels) on the CPU. Library errors (libpng's messages,
// libjpeg's error_exit and corrupt-data warnings) become kiln::Error naming `path`; the header's
// size is checked against kMaxImagePixels before the pixels are allocated.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "kiln/tensor.h"

namespace kiln::image {

// Error unless width x height (from `format`'s header) is a non-empty picture of at most
// kMaxImagePixels.
void check_header_size(std::int64_t width, std::int64_t height, const std::string& path,
                       const char* format);

Tensor decode_png(const std::vector<unsigned char>& bytes, const std::string& path);
Tensor decode_jpeg(const std::vector<unsigned char>& bytes, const std::string& path);

// `image` is a contiguous u8 CPU tensor (h, w, c) that check_image accepted; `path` names the
// destination in messages.
std::string encode_png(const Tensor& image, const std::string& path);
// Writes the JPEG to `file_path` (the atomic writer's temp file).
void write_jpeg_file(const Tensor& image, int quality, const std::string& file_path,
                     const std::string& path);

}  // namespace kiln::image
