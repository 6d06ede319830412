// PNG decoding through libpng's full read API, so that no colour transform happens that Pillow
// would not do: the samples come out as stored (no gAMA / sRGB / iCCP gamma change, no
// compositing), 16-bit samples keep their high byte (Pillow's "RGB;16B" / "RGBA;16B" / "LA;16B"
// unpackers do the same), low-bit grey is scaled to 0..255 (0..3 -> 0, 85, 170, 255), palettes
// become RGB, and a tRNS chunk becomes an alpha channel. Encoding uses the simplified API
// (png_image_write_*), which writes 8-bit samples as given.
//
// Note [libpng errors]: libpng reports errors by longjmp to the setjmp of the caller. Only the two
// small functions below call setjmp, and no C++ object with a destructor lives in their frames,
// so the jump never skips a destructor; the error text is copied into PngSource::message and
// turned into a kiln::Error after the jump.
#include <png.h>

#include <csetjmp>
#include <cstdio>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "core/check.h"
#include "image/codecs.h"

namespace kiln::image {

namespace {

// The bytes being read and the last libpng message (see Note [libpng errors]).
struct PngSource {
  const unsigned char* data = nullptr;
  std::size_t size = 0;
  std::size_t position = 0;
  char message[256] = {};
};

void on_png_error(png_structp png, png_const_charp text) {
  auto* source = static_cast<PngSource*>(png_get_error_ptr(png));
  std::snprintf(source->message, sizeof source->message, "%s", text);
  png_longjmp(png, 1);
}

void on_png_warning(png_structp, png_const_charp) {}

void read_from_memory(png_structp png, png_bytep out, png_size_t length) {
  auto* source = static_cast<PngSource*>(png_get_io_ptr(png));
  if (length > source->size - source->position) png_error(png, "unexpected end of file");
  std::memcpy(out, source->data + source->position, length);
  source->position += length;
}

// libpng's read and info structs, freed on every path.
struct PngReader {
  PngSource source;
  png_structp png = nullptr;
  png_infop info = nullptr;
  PngReader(const std::vector<unsigned char>& bytes) {
    source.data = bytes.data();
    source.size = bytes.size();
    png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &source, on_png_error, on_png_warning);
    if (png != nullptr) info = png_create_info_struct(png);
  }
  ~PngReader() { png_destroy_read_struct(&png, &info, nullptr); }
  PngReader(const PngReader&) = delete;
  PngReader& operator=(const PngReader&) = delete;
};

// Reads the header and sets the transforms to 8-bit samples of the file's own channels (plus alpha
// from tRNS). False on a libpng error.
bool read_header(PngReader& reader) {
  png_structp png = reader.png;
  png_infop info = reader.info;
  if (setjmp(png_jmpbuf(png))) return false;
  png_set_read_fn(png, &reader.source, read_from_memory);
  png_read_info(png, info);
  const int color_type = png_get_color_type(png, info);
  if (color_type == PNG_COLOR_TYPE_PALETTE) png_set_palette_to_rgb(png);
  if (color_type == PNG_COLOR_TYPE_GRAY && png_get_bit_depth(png, info) < 8) {
    png_set_expand_gray_1_2_4_to_8(png);
  }
  if (png_get_valid(png, info, PNG_INFO_tRNS) != 0) png_set_tRNS_to_alpha(png);
  png_set_strip_16(png);
  png_set_interlace_handling(png);
  png_read_update_info(png, info);
  return true;
}

// Reads every row into `rows`. False on a libpng error.
bool read_rows(PngReader& reader, png_bytepp rows) {
  if (setjmp(png_jmpbuf(reader.png))) return false;
  png_read_image(reader.png, rows);
  return true;
}

png_uint_32 png_format_for(std::int64_t channels) {
  switch (channels) {
    case 1: return PNG_FORMAT_GRAY;
    case 2: return PNG_FORMAT_GA;
    case 3: return PNG_FORMAT_RGB;
    default: return PNG_FORMAT_RGBA;
  }
}

}  // namespace

Tensor decode_png(const std::vector<unsigned char>& bytes, const std::string& path) {
  PngReader reader(bytes);
  KILN_CHECK(reader.info != nullptr, "read_image: {}: libpng could not start", path);
  KILN_CHECK(read_header(reader), "read_image: {}: corrupt PNG header (libpng: {})", path,
             reader.source.message);
  const std::int64_t width = png_get_image_width(reader.png, reader.info);
  const std::int64_t height = png_get_image_height(reader.png, reader.info);
  check_header_size(width, height, path, "PNG");
  const std::int64_t channels = png_get_channels(reader.png, reader.info);
  KILN_CHECK(
      channels >= 1 && channels <= 4 &&
          png_get_rowbytes(reader.png, reader.info) == static_cast<png_size_t>(width * channels),
      "read_image: {}: unsupported PNG layout ({} channels)", path, channels);
  Tensor image = Tensor::empty({height, width, channels}, DType::u8);
  std::vector<png_bytep> rows(static_cast<std::size_t>(height));
  for (std::int64_t y = 0; y < height; ++y) {
    rows[static_cast<std::size_t>(y)] = image.data<std::uint8_t>() + y * width * channels;
  }
  KILN_CHECK(read_rows(reader, rows.data()),
             "read_image: {}: truncated or corrupt PNG (libpng: {})", path, reader.source.message);
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
