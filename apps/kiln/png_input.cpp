// PNG input through libpng's simplified reading API.
#include "png_input.h"

#include <png.h>

#include <cstring>
#include <fstream>
#include <vector>

#include "common.h"

namespace kiln::cli {

namespace {

std::vector<unsigned char> read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) cli_fail("{}: cannot open: {}", path, std::strerror(errno));
  std::vector<unsigned char> bytes((std::istreambuf_iterator<char>(in)),
                                   std::istreambuf_iterator<char>());
  if (in.bad()) cli_fail("{}: read error", path);
  return bytes;
}

}  // namespace

Tensor read_png_gray(const std::string& path, std::int64_t height, std::int64_t width) {
  const std::vector<unsigned char> bytes = read_bytes(path);
  if (bytes.size() < 8 || png_sig_cmp(bytes.data(), 0, 8) != 0) {
    cli_fail("{}: not a PNG file (expected a {}x{} PNG image)", path, width, height);
  }
  png_image image;
  std::memset(&image, 0, sizeof image);
  image.version = PNG_IMAGE_VERSION;
  if (png_image_begin_read_from_memory(&image, bytes.data(), bytes.size()) == 0) {
    cli_fail("{}: cannot decode PNG: {}", path, image.message);
  }
  if (image.height != height || image.width != width) {
    png_image_free(&image);
    cli_fail("{}: the image is {}x{} pixels, the model expects {}x{} (resize it first)", path,
             image.width, image.height, width, height);
  }
  image.format = PNG_FORMAT_GRAY;
  std::vector<unsigned char> gray(PNG_IMAGE_SIZE(image));
  // Transparent pixels are composited on black, the MNIST background.
  png_color black{0, 0, 0};
  if (png_image_finish_read(&image, &black, gray.data(), 0, nullptr) == 0) {
    cli_fail("{}: cannot decode PNG: {}", path, image.message);
  }
  std::vector<float> values(gray.size());
  for (std::size_t i = 0; i < gray.size(); ++i) values[i] = static_cast<float>(gray[i]) / 255.0f;
  return Tensor::from_vector(values, {1, height, width, 1});
}

}  // namespace kiln::cli
