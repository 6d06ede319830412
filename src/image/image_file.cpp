// read_image / write_png / write_jpeg / write_image: file access, format detection by magic bytes,
// the size cap, atomic writes; the codecs are in png_codec.cpp and jpeg_codec.cpp. Also the image
// checks and the grey / RGB conversions.
#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "core/check.h"
#include "image/codecs.h"
#include "io/atomic_file.h"
#include "kiln/image.h"

namespace kiln {

namespace image {

void check_header_size(std::int64_t width, std::int64_t height, const std::string& path,
                       const char* format) {
  KILN_CHECK(width > 0 && height > 0, "read_image: {}: {} header gives an empty image ({}x{})",
             path, format, width, height);
  KILN_CHECK(width <= kMaxImagePixels / height,
             "read_image: {}: {} header claims {}x{} pixels, more than the {} pixels kiln reads",
             path, format, width, height, kMaxImagePixels);
}

}  // namespace image

namespace {

bool starts_with(const std::vector<unsigned char>& bytes,
                 std::initializer_list<unsigned char> magic) {
  return bytes.size() >= magic.size() && std::equal(magic.begin(), magic.end(), bytes.begin());
}

std::vector<unsigned char> read_bytes(const std::string& path) {
  std::error_code error;
  KILN_CHECK(!std::filesystem::is_directory(path, error), "read_image: {}: is a directory", path);
  std::ifstream in(path, std::ios::binary);
  KILN_CHECK(in.is_open(), "read_image: cannot open {}: {}", path, std::strerror(errno));
  std::vector<unsigned char> bytes((std::istreambuf_iterator<char>(in)),
                                   std::istreambuf_iterator<char>());
  KILN_CHECK(!in.bad(), "read_image: cannot read {}", path);
  return bytes;
}

std::string lower_extension(const std::string& path) {
  std::string extension = std::filesystem::path(path).extension().string();
  std::transform(extension.begin(), extension.end(), extension.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return extension;
}

// The image on the CPU, contiguous, after check_image.
Tensor host_image(const Tensor& image, const std::string& what) {
  check_image(image, what);
  return image.to(Device::cpu());
}

}  // namespace

void check_image(const Tensor& image, const std::string& what) {
  KILN_CHECK(image.defined(), "{}: the image tensor is undefined", what);
  KILN_CHECK(image.dtype() == DType::u8 && image.rank() == 3,
             "{}: expected a u8 image (height, width, channels), found {}", what, image.str());
  KILN_CHECK(image.dim(0) > 0 && image.dim(1) > 0 && image.dim(2) >= 1 && image.dim(2) <= 4,
             "{}: expected 1 to 4 channels and a non-empty picture, found {}", what, image.str());
}

Tensor read_image(const std::string& path) {
  const std::vector<unsigned char> bytes = read_bytes(path);
  if (starts_with(bytes, {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'})) {
    return image::decode_png(bytes, path);
  }
  if (starts_with(bytes, {0xff, 0xd8, 0xff})) return image::decode_jpeg(bytes, path);
  fail("read_image: {}: not a PNG or JPEG image ({})", path,
       bytes.empty() ? std::string("the file is empty") : "unknown magic bytes");
}

void write_png(const std::string& path, const Tensor& image) {
  const Tensor pixels = host_image(image, "write_png " + path);
  const std::string encoded = image::encode_png(pixels, path);
  write_file_atomically(path, encoded);
}

void write_jpeg(const std::string& path, const Tensor& image, int quality) {
  const Tensor pixels = host_image(image, "write_jpeg " + path);
  KILN_CHECK(pixels.dim(2) == 1 || pixels.dim(2) == 3,
             "write_jpeg: {}: JPEG holds grey or RGB images, found {} channels", path,
             pixels.dim(2));
  KILN_CHECK(quality >= 1 && quality <= 100, "write_jpeg: {}: quality must be 1..100, found {}",
             path, quality);
  write_file_atomically(path, [&](const std::string& temp_path) {
    image::write_jpeg_file(pixels, quality, temp_path, path);
  });
}

void write_image(const std::string& path, const Tensor& image) {
  const std::string extension = lower_extension(path);
  if (extension == ".png") return write_png(path, image);
  if (extension == ".jpg" || extension == ".jpeg") return write_jpeg(path, image);
  fail("write_image: {}: unknown extension '{}' (expected .png, .jpg or .jpeg)", path, extension);
}

Tensor to_grayscale(const Tensor& image) {
  const Tensor pixels = host_image(image, "to_grayscale");
  const std::int64_t height = pixels.dim(0), width = pixels.dim(1), channels = pixels.dim(2);
  Tensor grey = Tensor::empty({height, width, 1}, DType::u8);
  const std::uint8_t* in = pixels.data<std::uint8_t>();
  std::uint8_t* out = grey.data<std::uint8_t>();
  for (std::int64_t i = 0; i < height * width; ++i) {
    const std::uint8_t* p = in + i * channels;
    if (channels <= 2) {
      out[i] = p[0];
    } else {
      // Pillow's L = R * 299/1000 + G * 587/1000 + B * 114/1000 in 16-bit fixed point, rounded.
      out[i] =
          static_cast<std::uint8_t>((p[0] * 19595u + p[1] * 38470u + p[2] * 7471u + 0x8000u) >> 16);
    }
  }
  return grey;
}

Tensor to_rgb(const Tensor& image) {
  const Tensor pixels = host_image(image, "to_rgb");
  const std::int64_t height = pixels.dim(0), width = pixels.dim(1), channels = pixels.dim(2);
  if (channels == 3) return pixels;
  Tensor rgb = Tensor::empty({height, width, 3}, DType::u8);
  const std::uint8_t* in = pixels.data<std::uint8_t>();
  std::uint8_t* out = rgb.data<std::uint8_t>();
  for (std::int64_t i = 0; i < height * width; ++i) {
    const std::uint8_t* p = in + i * channels;
    for (std::int64_t c = 0; c < 3; ++c) out[i * 3 + c] = channels <= 2 ? p[0] : p[c];
  }
  return rgb;
}

}  // namespace kiln
