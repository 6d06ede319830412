// PNG through libpng's simplified API (png_image_*): it reports errors through png_image.message
// instead of longjmp, converts palettes and 16-bit samples to 8-bit, and reads the header before
// the pixels, so the size is checked before anything is allocated.
#include <png.h>

#include <cstdint>
#include <string>
#include <vector>

#include "core/check.h"
#include "image/codecs.h"

namespace kiln::image {

namespace {

// Frees libpng's reader state on every path (a no-op once png_image_finish_read has run).
struct PngReader {
  png_image png{};
  PngReader() { png.version = PNG_IMAGE_VERSION; }
  ~PngReader() { png_image_free(&png); }
  PngReader(const PngReader&) = delete;
  PngReader& operator=(const PngReader&) = delete;
};

png_uint_32 png_format_for(std::int64_t channels) {
  switch (channels) {
    case 1:
      return PNG_FORMAT_GRAY;
    case 2:
      return PNG_FORMAT_GA;
    case 3:
      return PNG_FORMAT_RGB;
    default:
      return PNG_FORMAT_RGBA;
  }
}

}  // namespace

Tensor decode_png(const std::vector<unsigned char>& bytes, const std::string& path) {
  PngReader reader;
  png_image& png = reader.png;
  // 16-bit files without gamma information are taken as sRGB, like 8-bit ones (not linear light).
  png.flags = PNG_IMAGE_FLAG_16BIT_sRGB;
  KILN_CHECK(png_image_begin_read_from_memory(&png, bytes.data(), bytes.size()) != 0,
             "read_image: {}: corrupt PNG header (libpng: {})", path, png.message);
  check_header_size(png.width, png.height, path, "PNG");
  // 8-bit samples, palette expanded, the file's own channels (no compositing, no gamma change).
  png.format &= PNG_FORMAT_FLAG_ALPHA | PNG_FORMAT_FLAG_COLOR;
  const std::int64_t channels = PNG_IMAGE_SAMPLE_CHANNELS(png.format);
  Tensor image = Tensor::empty(
      {static_cast<std::int64_t>(png.height), static_cast<std::int64_t>(png.width), channels},
      DType::u8);
  KILN_CHECK(png_image_finish_read(&png, nullptr, image.data<std::uint8_t>(), 0, nullptr) != 0,
             "read_image: {}: truncated or corrupt PNG (libpng: {})", path, png.message);
  return image;
}

std::string encode_png(const Tensor& image, const std::string& path) {
  png_image png{};
  png.version = PNG_IMAGE_VERSION;
  png.height = static_cast<png_uint_32>(image.dim(0));
  png.width = static_cast<png_uint_32>(image.dim(1));
  png.format = png_format_for(image.dim(2));
  const std::uint8_t* pixels = image.data<std::uint8_t>();
  png_alloc_size_t size = 0;
  KILN_CHECK(png_image_write_to_memory(&png, nullptr, &size, 0, pixels, 0, nullptr) != 0,
             "write_png: {}: cannot encode (libpng: {})", path, png.message);
  std::string encoded(size, '\0');
  KILN_CHECK(png_image_write_to_memory(&png, encoded.data(), &size, 0, pixels, 0, nullptr) != 0,
             "write_png: {}: cannot encode (libpng: {})", path, png.message);
  encoded.resize(size);
  return encoded;
}

}  // namespace kiln::image
