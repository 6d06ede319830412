// Input images through kiln::read_image (image_input.h).
#include "image_input.h"

#include <vector>

#include "common.h"
#include "kiln/image.h"

namespace kiln::cli {

namespace {

// A u8 (h, w, c) image without its alpha channel (c = 2 or 4), composited on black:
// round(value * alpha / 255); an image without alpha as it is.
Tensor on_black(const Tensor& image) {
  const std::int64_t channels = image.dim(2);
  if (channels != 2 && channels != 4) return image;
  const std::int64_t pixels = image.dim(0) * image.dim(1), colours = channels - 1;
  Tensor out = Tensor::empty({image.dim(0), image.dim(1), colours}, DType::u8);
  const std::uint8_t* in = image.data<std::uint8_t>();
  std::uint8_t* px = out.data<std::uint8_t>();
  for (std::int64_t i = 0; i < pixels; ++i) {
    const unsigned alpha = in[i * channels + colours];
    for (std::int64_t c = 0; c < colours; ++c) {
      px[i * colours + c] = static_cast<std::uint8_t>((in[i * channels + c] * alpha + 127) / 255);
    }
  }
  return out;
}

}  // namespace

Tensor read_grey_input(const std::string& path, std::int64_t height, std::int64_t width) {
  const Tensor image = read_image(path);
  if (image.dim(0) != height || image.dim(1) != width) {
    cli_fail("{}: the image is {}x{} pixels, the model expects {}x{} (resize it first)", path,
             image.dim(1), image.dim(0), width, height);
  }
  const Tensor grey = to_grayscale(on_black(image));
  const std::uint8_t* px = grey.data<std::uint8_t>();
  std::vector<float> values(static_cast<std::size_t>(height * width));
  for (std::size_t i = 0; i < values.size(); ++i) values[i] = static_cast<float>(px[i]) / 255.0f;
  return Tensor::from_vector(values, {1, height, width, 1});
}

}  // namespace kiln::cli
