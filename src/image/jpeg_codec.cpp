// JPEG through libjpeg-turbo. libjpeg reports errors by calling error_exit, which must not return:
// ours longjmps back to a setjmp in a small function that only calls libjpeg (no C++ objects live
// across the jump), which returns false, and the caller throws kiln::Error with libjpeg's message.
// Corrupt-data warnings (a truncated file would otherwise decode with grey at the bottom) count
// as errors.
// jpeglib.h needs FILE and size_t declared before it.
// clang-format off
#include <cstddef>
#include <cstdio>
#include <jpeglib.h>
// clang-format on

#include <cerrno>
#include <csetjmp>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "core/check.h"
#include "image/codecs.h"

namespace kiln::image {

namespace {

struct JpegErrors {
  jpeg_error_mgr manager;  // first: libjpeg hands back a pointer to it
  std::jmp_buf jump;
  char message[JMSG_LENGTH_MAX];
};

void on_jpeg_error(j_common_ptr info) {
  auto* errors = reinterpret_cast<JpegErrors*>(info->err);
  (*info->err->format_message)(info, errors->message);
  std::longjmp(errors->jump, 1);
}

// Level -1 is a warning about corrupt data; other levels are trace messages.
void on_jpeg_message(j_common_ptr info, int level) {
  if (level < 0) on_jpeg_error(info);
}

void install_error_handlers(JpegErrors& errors, j_common_ptr info) {
  info->err = jpeg_std_error(&errors.manager);
  errors.manager.error_exit = on_jpeg_error;
  errors.manager.emit_message = on_jpeg_message;
  errors.message[0] = '\0';
}

struct JpegDecoder {
  jpeg_decompress_struct info{};
  JpegErrors errors{};
  JpegDecoder() { install_error_handlers(errors, reinterpret_cast<j_common_ptr>(&info)); }
  ~JpegDecoder() { jpeg_destroy_decompress(&info); }
  JpegDecoder(const JpegDecoder&) = delete;
  JpegDecoder& operator=(const JpegDecoder&) = delete;
};

struct JpegEncoder {
  jpeg_compress_struct info{};
  JpegErrors errors{};
  JpegEncoder() { install_error_handlers(errors, reinterpret_cast<j_common_ptr>(&info)); }
  ~JpegEncoder() { jpeg_destroy_compress(&info); }
  JpegEncoder(const JpegEncoder&) = delete;
  JpegEncoder& operator=(const JpegEncoder&) = delete;
};

struct OpenFile {
  std::FILE* file = nullptr;
  ~OpenFile() {
    if (file != nullptr) std::fclose(file);
  }
};

// The three functions below return false after a libjpeg error (message in errors.message).
bool read_header(JpegDecoder& decoder, const unsigned char* data, unsigned long size) {
  if (setjmp(decoder.errors.jump) != 0) return false;
  jpeg_create_decompress(&decoder.info);
  jpeg_mem_src(&decoder.info, data, size);
  jpeg_read_header(&decoder.info, TRUE);
  return true;
}

bool read_pixels(JpegDecoder& decoder, std::uint8_t* pixels, std::size_t row_bytes) {
  if (setjmp(decoder.errors.jump) != 0) return false;
  jpeg_start_decompress(&decoder.info);
  while (decoder.info.output_scanline < decoder.info.output_height) {
    JSAMPROW row = pixels + static_cast<std::size_t>(decoder.info.output_scanline) * row_bytes;
    jpeg_read_scanlines(&decoder.info, &row, 1);
  }
  jpeg_finish_decompress(&decoder.info);
  return true;
}

bool write_pixels(JpegEncoder& encoder, std::FILE* file, const std::uint8_t* pixels,
                  const Tensor& image, int quality) {
  if (setjmp(encoder.errors.jump) != 0) return false;
  jpeg_create_compress(&encoder.info);
  jpeg_stdio_dest(&encoder.info, file);
  encoder.info.image_height = static_cast<JDIMENSION>(image.dim(0));
  encoder.info.image_width = static_cast<JDIMENSION>(image.dim(1));
  encoder.info.input_components = static_cast<int>(image.dim(2));
  encoder.info.in_color_space = image.dim(2) == 1 ? JCS_GRAYSCALE : JCS_RGB;
  jpeg_set_defaults(&encoder.info);
  jpeg_set_quality(&encoder.info, quality, TRUE);
  jpeg_start_compress(&encoder.info, TRUE);
  const std::size_t row_bytes = static_cast<std::size_t>(image.dim(1) * image.dim(2));
  while (encoder.info.next_scanline < encoder.info.image_height) {
    // libjpeg's row type is not const, but it only reads the rows it is given.
    JSAMPROW row = const_cast<std::uint8_t*>(pixels) + encoder.info.next_scanline * row_bytes;
    jpeg_write_scanlines(&encoder.info, &row, 1);
  }
  jpeg_finish_compress(&encoder.info);
  return true;
}

std::int64_t output_channels(jpeg_decompress_struct& info, const std::string& path) {
  switch (info.jpeg_color_space) {
    case JCS_GRAYSCALE: info.out_color_space = JCS_GRAYSCALE; return 1;
    case JCS_YCbCr:
    case JCS_RGB: info.out_color_space = JCS_RGB; return 3;
    case JCS_CMYK:
    case JCS_YCCK:
      fail(
          "read_image: {}: CMYK JPEG is not supported (grey and RGB/YCbCr are; convert it to "
          "RGB first)",
          path);
    default:
      fail("read_image: {}: JPEG colour space {} is not supported (grey and RGB/YCbCr are)", path,
           static_cast<int>(info.jpeg_color_space));
  }
}

}  // namespace

Tensor decode_jpeg(const std::vector<unsigned char>& bytes, const std::string& path) {
  JpegDecoder decoder;
  KILN_CHECK(read_header(decoder, bytes.data(), static_cast<unsigned long>(bytes.size())),
             "read_image: {}: corrupt JPEG header (libjpeg: {})", path, decoder.errors.message);
  const std::int64_t channels = output_channels(decoder.info, path);
  check_header_size(decoder.info.image_width, decoder.info.image_height, path, "JPEG");
  const std::int64_t height = decoder.info.image_height, width = decoder.info.image_width;
  Tensor image = Tensor::empty({height, width, channels}, DType::u8);
  KILN_CHECK(
      read_pixels(decoder, image.data<std::uint8_t>(), static_cast<std::size_t>(width * channels)),
      "read_image: {}: truncated or corrupt JPEG (libjpeg: {})", path, decoder.errors.message);
  return image;
}

void write_jpeg_file(const Tensor& image, int quality, const std::string& file_path,
                     const std::string& path) {
  OpenFile out;
  out.file = std::fopen(file_path.c_str(), "wb");
  KILN_CHECK(out.file != nullptr, "write_jpeg: {}: cannot open {}: {}", path, file_path,
             std::strerror(errno));
  JpegEncoder encoder;
  KILN_CHECK(write_pixels(encoder, out.file, image.data<std::uint8_t>(), image, quality),
             "write_jpeg: {}: cannot encode (libjpeg: {})", path, encoder.errors.message);
  const bool flushed = std::fflush(out.file) == 0 && std::ferror(out.file) == 0;
  const int close_status = std::fclose(out.file);
  out.file = nullptr;
  KILN_CHECK(flushed && close_status == 0, "write_jpeg: {}: cannot write {}: {}", path, file_path,
             std::strerror(errno));
}

}  // namespace kiln::image
