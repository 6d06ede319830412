// filter_image and pool_image: an image's channels become the batch of a one-channel NHWC tensor,
// so one conv2d / pooling call on the chosen device filters every channel (as Pillow filters each
// band). The kernel goes to conv2d with its integer weights unscaled, and the division by `scale`,
// the offset and the rounding happen afterwards in double precision: sums of integer weights times
// 8-bit pixels are exact in float32 even under TF32, so the CPU and the GPU give the same picture.
//
// Pillow's ImageFilter.Kernel, as libImaging/Filter.c does it (checked against Debian's
// python3-pil by tests/unit/test_image.cpp):
//   out[y][x] = clip8(offset + 0.5 + sum_{i,j} in[y + r - i][x + j - r] * w[i][j] / scale)
// with r = size / 2, clip8 clamping to 0..255 and truncating — so the first row of weights meets
// the row below the centre (the kernel is flipped upside down relative to a correlation), and
// the outer r rows and columns are copied unfiltered.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <string>

#include "core/check.h"
#include "kiln/image.h"
#include "kiln/tape.h"

namespace kiln {

namespace {

Device pick_device(const std::optional<Device>& device) {
  return device ? *device : default_device();
}

// (h, w, c) u8 on the CPU -> (c, h, w, 1) f32 on `device`.
Tensor to_planar(const Tensor& pixels, Device device) {
  const std::int64_t height = pixels.dim(0), width = pixels.dim(1), channels = pixels.dim(2);
  Tensor planes = Tensor::empty({channels, height, width, 1}, DType::f32);
  const std::uint8_t* in = pixels.data<std::uint8_t>();
  float* out = planes.data<float>();
  const std::int64_t area = height * width;
  for (std::int64_t i = 0; i < area; ++i) {
    for (std::int64_t c = 0; c < channels; ++c) out[c * area + i] = in[i * channels + c];
  }
  return planes.to(device);
}

std::uint8_t round_to_u8(double value) {
  return static_cast<std::uint8_t>(std::clamp(std::floor(value + 0.5), 0.0, 255.0));
}

// (c, h, w, 1) f32 on any device -> (h, w, c) u8: value / divisor + offset, rounded half up.
Tensor from_planar(const Tensor& planes, double divisor, double offset) {
  const Tensor host = planes.to(Device::cpu());
  const std::int64_t channels = host.dim(0), height = host.dim(1), width = host.dim(2);
  Tensor pixels = Tensor::empty({height, width, channels}, DType::u8);
  const float* in = host.data<float>();
  std::uint8_t* out = pixels.data<std::uint8_t>();
  const std::int64_t area = height * width;
  for (std::int64_t i = 0; i < area; ++i) {
    for (std::int64_t c = 0; c < channels; ++c) {
      out[i * channels + c] = round_to_u8(static_cast<double>(in[c * area + i]) / divisor + offset);
    }
  }
  return pixels;
}

void check_kernel(const ImageKernel& kernel) {
  KILN_CHECK(kernel.size >= 1 && kernel.size % 2 == 1 &&
                 static_cast<std::int64_t>(kernel.weights.size()) == kernel.size * kernel.size,
             "filter_image: kernel '{}' must be a square of odd size with size*size weights, "
             "found size {} and {} weights",
             kernel.name, kernel.size, kernel.weights.size());
  for (double w : kernel.weights) {
    KILN_CHECK(std::isfinite(w), "filter_image: kernel '{}' has a non-finite weight", kernel.name);
  }
}

double resolve_scale(const ImageKernel& kernel, const std::optional<double>& scale) {
  if (scale) {
    KILN_CHECK(std::isfinite(*scale) && *scale != 0.0,
               "filter_image: scale must be a non-zero number, found {}", *scale);
    return *scale;
  }
  double sum = 0.0;
  for (double w : kernel.weights) sum += w;
  return sum == 0.0 ? 1.0 : sum;
}

// HWIO (size, size, 1, 1), rows in reverse order (Pillow's orientation, see the top of the file).
Tensor kernel_tensor(const ImageKernel& kernel, Device device) {
  const std::int64_t k = kernel.size;
  std::vector<float> flipped(static_cast<std::size_t>(k * k));
  for (std::int64_t i = 0; i < k; ++i) {
    for (std::int64_t j = 0; j < k; ++j) {
      flipped[static_cast<std::size_t>(i * k + j)] =
          static_cast<float>(kernel.weights[static_cast<std::size_t>((k - 1 - i) * k + j)]);
    }
  }
  return Tensor::from_vector(flipped, {k, k, 1, 1}, device);
}

void check_window_fits(const char* what, const Tensor& pixels, std::int64_t window,
                       std::int64_t stride, const Padding& padding) {
  KILN_CHECK(stride >= 1, "{}: stride must be at least 1, found {}", what, stride);
  const WindowAxis rows = window_axis(pixels.dim(0), window, stride, padding, true);
  const WindowAxis cols = window_axis(pixels.dim(1), window, stride, padding, false);
  KILN_CHECK(rows.output > 0 && cols.output > 0,
             "{}: a {}x{} window does not fit an image of {} rows and {} columns with padding {}",
             what, window, window, pixels.dim(0), pixels.dim(1), padding.str());
}

// Pillow's borders: the filtered interior pasted into a copy of the image.
Tensor paste_interior(const Tensor& pixels, const Tensor& interior, std::int64_t margin) {
  Tensor out = pixels.clone();
  const std::int64_t width = pixels.dim(1), channels = pixels.dim(2);
  const std::int64_t inner_height = interior.dim(0), inner_width = interior.dim(1);
  const std::uint8_t* in = interior.data<std::uint8_t>();
  std::uint8_t* dst = out.data<std::uint8_t>();
  for (std::int64_t y = 0; y < inner_height; ++y) {
    std::memcpy(dst + ((y + margin) * width + margin) * channels, in + y * inner_width * channels,
                static_cast<std::size_t>(inner_width * channels));
  }
  return out;
}

}  // namespace

Tensor filter_image(const Tensor& image, const ImageKernel& kernel, const FilterOptions& options) {
  check_image(image, "filter_image");
  check_kernel(kernel);
  const double scale = resolve_scale(kernel, options.scale);
  KILN_CHECK(std::isfinite(options.offset), "filter_image: offset must be a finite number");
  KILN_CHECK(options.stride >= 1, "filter_image: stride must be at least 1, found {}",
             options.stride);
  const Tensor pixels = image.to(Device::cpu());
  const bool pillow_borders = !options.padding && options.stride == 1;
  const Padding padding = options.padding.value_or(Padding::valid());
  if (pillow_borders && (pixels.dim(0) < kernel.size || pixels.dim(1) < kernel.size)) {
    return pixels.clone();
  }
  check_window_fits("filter_image", pixels, kernel.size, options.stride, padding);

  NoGrad no_grad;
  const Device device = pick_device(options.device);
  const Tensor planes = conv2d(to_planar(pixels, device), kernel_tensor(kernel, device), Tensor(),
                               options.stride, padding);
  const Tensor filtered = from_planar(planes, scale, options.offset);
  return pillow_borders ? paste_interior(pixels, filtered, kernel.size / 2) : filtered;
}

PoolMode parse_pool_mode(const std::string& text) {
  if (text == "max") return PoolMode::max;
  if (text == "min") return PoolMode::min;
  if (text == "avg" || text == "average") return PoolMode::avg;
  fail("pool: unknown mode '{}' (expected max, min or avg)", text);
}

Tensor pool_image(const Tensor& image, const PoolOptions& options) {
  check_image(image, "pool_image");
  KILN_CHECK(options.size >= 1, "pool_image: size must be at least 1, found {}", options.size);
  const std::int64_t stride = options.stride.value_or(options.size);
  const Tensor pixels = image.to(Device::cpu());
  check_window_fits("pool_image", pixels, options.size, stride, options.padding);

  NoGrad no_grad;
  const Tensor planes = to_planar(pixels, pick_device(options.device));
  Tensor pooled;
  switch (options.mode) {
    case PoolMode::max:
      pooled = max_pool2d(planes, options.size, Size2(stride), options.padding);
      break;
    case PoolMode::min:
      pooled = min_pool2d(planes, options.size, Size2(stride), options.padding);
      break;
    case PoolMode::avg:
      pooled = avg_pool2d(planes, options.size, Size2(stride), options.padding);
      break;
  }
  return from_planar(pooled, 1.0, 0.0);
}

}  // namespace kiln
