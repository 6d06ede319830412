// filter_image and pool_image.
//
// Note [Pillow's filter arithmetic]: Pillow 9.4's ImageFilter.Kernel (_imaging.c _filter and
// libImaging/Filter.c) takes the scale and offset as C floats, divides each float32 weight by the
// scale in float32, and for every pixel computes, in float32,
//   ss = (offset + 0.5); for each kernel row i: ss += (p0 * w[i][0] + p1 * w[i][1] + ...)
// where kernel row i meets image row y + r - i (the first row meets the row *below* the centre)
// and p0 is the pixel r columns to the left; the result is clip8(ss): 0 at or below 0, 255 at or
// above 255, else truncated. The outer r rows and columns are copied unfiltered, and an image
// smaller than the kernel is returned as it is. filter_image repeats these operations in the
// same order (no fused multiply-add: the file is built with -ffp-contract=off), so it is
// bit-exact with Pillow; tests/unit/test_image.cpp checks every named kernel and Pillow's
// built-in filters against Debian's python3-pil.
//
// With padding or a stride the same arithmetic runs over conv2d's geometry (zeros outside the
// picture: rows of zeros add nothing and are skipped). On a CUDA device, filtering goes through
// conv2d with the pre-divided weights (sums in another order: a tie may round the other way).
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "core/check.h"
#include "kiln/image.h"
#include "kiln/tape.h"

namespace kiln {

namespace {

// Pillow's clip8 after the + 0.5 that the starting value holds.
std::uint8_t clip8(float value) {
  if (value <= 0.0f) return 0;
  if (value >= 255.0f) return 255;
  return static_cast<std::uint8_t>(value);
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
  const std::optional<double> chosen = scale ? scale : kernel.scale;
  if (chosen) {
    KILN_CHECK(std::isfinite(*chosen) && *chosen != 0.0,
               "filter_image: scale must be a non-zero number, found {}", *chosen);
    return *chosen;
  }
  double sum = 0.0;
  for (double w : kernel.weights) sum += w;
  return sum == 0.0 ? 1.0 : sum;
}

// The geometry and weights of one filtering: output rows/columns, the padding before the first
// window, and float32 weights divided by the scale, rows in the order Pillow sums them.
struct FilterPlan {
  std::int64_t size = 0, stride = 1, channels = 0;
  std::int64_t out_height = 0, out_width = 0, pad_top = 0, pad_left = 0;
  bool pillow = true;  // kernel row i meets window row size-1-i (else row i)
  std::vector<float> weights;
  float start = 0.5f;  // offset + 0.5, in float32
};

std::vector<float> divided_weights(const ImageKernel& kernel, double scale) {
  const auto divisor = static_cast<float>(scale);
  std::vector<float> weights(kernel.weights.size());
  for (std::size_t i = 0; i < weights.size(); ++i) {
    weights[i] = static_cast<float>(kernel.weights[i]) / divisor;
  }
  return weights;
}

// Source row of kernel row i for the window whose top row is `top`.
std::int64_t source_row(const FilterPlan& plan, std::int64_t top, std::int64_t i) {
  return top + (plan.pillow ? plan.size - 1 - i : i);
}

// One picture row with zeros around it, as the windows read it: the row itself when no window
// reaches past its ends, else a copy into `buffer` (pad_left zeros, the row, zeros).
const std::uint8_t* padded_row(const FilterPlan& plan, const std::uint8_t* row, std::int64_t width,
                               std::vector<std::uint8_t>& buffer) {
  if (buffer.empty()) return row;
  std::fill(buffer.begin(), buffer.end(), std::uint8_t{0});
  std::memcpy(buffer.data() + plan.pad_left * plan.channels, row,
              static_cast<std::size_t>(width * plan.channels));
  return buffer.data();
}

// sums[n] = sum_j row[window n + j] * w[j], summed left to right (n: output column x channel).
void row_products(const FilterPlan& plan, const std::uint8_t* row, const float* w, float* sums) {
  const std::int64_t count = plan.out_width * plan.channels, c = plan.channels;
  const std::int64_t step = plan.stride * c;
  if (plan.stride == 1) {
    for (std::int64_t n = 0; n < count; ++n) sums[n] = static_cast<float>(row[n]) * w[0];
    for (std::int64_t j = 1; j < plan.size; ++j) {
      const std::uint8_t* shifted = row + j * c;
      for (std::int64_t n = 0; n < count; ++n) sums[n] += static_cast<float>(shifted[n]) * w[j];
    }
    return;
  }
  for (std::int64_t n = 0; n < count; ++n) {
    const std::uint8_t* p = row + (n / c) * step + n % c;
    float sum = static_cast<float>(p[0]) * w[0];
    for (std::int64_t j = 1; j < plan.size; ++j) sum += static_cast<float>(p[j * c]) * w[j];
    sums[n] = sum;
  }
}

// Output row `y` of the plan into `out` (out_width * channels bytes).
void filter_row(const FilterPlan& plan, const Tensor& pixels, std::int64_t y, std::uint8_t* out,
                std::vector<float>& total, std::vector<float>& sums,
                std::vector<std::uint8_t>& buffer) {
  const std::int64_t height = pixels.dim(0), width = pixels.dim(1);
  const std::uint8_t* image = pixels.data<std::uint8_t>();
  const std::int64_t count = plan.out_width * plan.channels;
  std::fill(total.begin(), total.end(), plan.start);
  const std::int64_t top = y * plan.stride - plan.pad_top;
  for (std::int64_t i = 0; i < plan.size; ++i) {
    const std::int64_t source = source_row(plan, top, i);
    if (source < 0 || source >= height) continue;  // a row of zeros adds nothing
    const std::uint8_t* row =
        padded_row(plan, image + source * width * plan.channels, width, buffer);
    row_products(plan, row, plan.weights.data() + i * plan.size, sums.data());
    for (std::int64_t n = 0; n < count; ++n) total[static_cast<std::size_t>(n)] += sums[n];
  }
  for (std::int64_t n = 0; n < count; ++n) out[n] = clip8(total[static_cast<std::size_t>(n)]);
}

// Runs the plan over every output row: into `out` starting at (row_offset, column_offset) of an
// image `out_row_width` pixels wide.
void run_plan(const FilterPlan& plan, const Tensor& pixels, Tensor& out, std::int64_t row_offset,
              std::int64_t column_offset) {
  const std::int64_t width = pixels.dim(1), c = plan.channels;
  const std::int64_t padded_width =
      std::max(plan.pad_left + width, (plan.out_width - 1) * plan.stride + plan.size);
  const std::int64_t buffer_bytes = padded_width == width ? 0 : padded_width * c;
  std::uint8_t* dst = out.data<std::uint8_t>();
  const std::int64_t out_row_bytes = out.dim(1) * c;
#pragma omp parallel
  {
    std::vector<float> total(static_cast<std::size_t>(plan.out_width * c));
    std::vector<float> sums(total.size());
    std::vector<std::uint8_t> buffer(static_cast<std::size_t>(buffer_bytes));
#pragma omp for schedule(static)
    for (std::int64_t y = 0; y < plan.out_height; ++y) {
      filter_row(plan, pixels, y, dst + (y + row_offset) * out_row_bytes + column_offset * c, total,
                 sums, buffer);
    }
  }
}

// "3" for a square extent, "3x2" otherwise.
std::string extent_text(Size2 size) {
  return size.h == size.w ? std::to_string(size.h) : fmt::format("{}x{}", size.h, size.w);
}

void check_window_fits(const char* what, const Tensor& pixels, Size2 window, Size2 stride,
                       const Padding& padding) {
  KILN_CHECK(stride.h >= 1 && stride.w >= 1, "{}: stride must be at least 1, found {}", what,
             extent_text(stride));
  if (padding.kind == Padding::Kind::explicit_amounts) {
    const std::int64_t height = pixels.dim(0), width = pixels.dim(1);
    const bool bounded =
        std::min({padding.top, padding.bottom, padding.left, padding.right}) >= 0 &&
        std::max(padding.top, padding.bottom) <= height + window.h &&
        std::max(padding.left, padding.right) <= width + window.w;
    KILN_CHECK(bounded,
               "{}: padding {} must be 0..{} rows (the image's height + the window) and 0..{} "
               "columns (its width + the window)",
               what, padding.str(), height + window.h, width + window.w);
  }
  const WindowAxis rows = window_axis(pixels.dim(0), window.h, stride.h, padding, true);
  const WindowAxis cols = window_axis(pixels.dim(1), window.w, stride.w, padding, false);
  KILN_CHECK(rows.output > 0 && cols.output > 0,
             "{}: a {}x{} window does not fit an image of {} rows and {} columns with padding {}",
             what, window.h, window.w, pixels.dim(0), pixels.dim(1), padding.str());
}

FilterPlan make_plan(const Tensor& pixels, const ImageKernel& kernel, double scale, double offset,
                     const FilterOptions& options, const Padding& padding) {
  FilterPlan plan;
  plan.size = kernel.size;
  plan.stride = options.stride;
  plan.channels = pixels.dim(2);
  plan.pillow = options.orientation == KernelOrientation::pillow;
  plan.weights = divided_weights(kernel, scale);
  plan.start = static_cast<float>(offset) + 0.5f;
  const WindowAxis rows = window_axis(pixels.dim(0), kernel.size, options.stride, padding, true);
  const WindowAxis cols = window_axis(pixels.dim(1), kernel.size, options.stride, padding, false);
  plan.out_height = rows.output;
  plan.out_width = cols.output;
  plan.pad_top = rows.pad_before;
  plan.pad_left = cols.pad_before;
  return plan;
}

// ---- the CUDA path: conv2d over the channels as a batch of one-channel pictures

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

// (c, h, w, 1) f32 on any device -> (h, w, c) u8 through `to_u8`.
template <class ToU8>
Tensor from_planar(const Tensor& planes, ToU8 to_u8) {
  const Tensor host = planes.to(Device::cpu());
  const std::int64_t channels = host.dim(0), height = host.dim(1), width = host.dim(2);
  Tensor pixels = Tensor::empty({height, width, channels}, DType::u8);
  const float* in = host.data<float>();
  std::uint8_t* out = pixels.data<std::uint8_t>();
  const std::int64_t area = height * width;
  for (std::int64_t i = 0; i < area; ++i) {
    for (std::int64_t c = 0; c < channels; ++c) out[i * channels + c] = to_u8(in[c * area + i]);
  }
  return pixels;
}

// HWIO (size, size, 1, 1) in correlation order for conv2d.
Tensor kernel_tensor(const FilterPlan& plan, Device device) {
  const std::int64_t k = plan.size;
  std::vector<float> ordered(static_cast<std::size_t>(k * k));
  for (std::int64_t i = 0; i < k; ++i) {
    const std::int64_t from = plan.pillow ? k - 1 - i : i;
    std::copy_n(plan.weights.begin() + from * k, k, ordered.begin() + i * k);
  }
  return Tensor::from_vector(ordered, {k, k, 1, 1}, device);
}

Tensor filter_with_conv2d(const FilterPlan& plan, const Tensor& pixels, const Padding& padding,
                          Device device) {
  NoGrad no_grad;
  const Tensor planes = conv2d(to_planar(pixels, device), kernel_tensor(plan, device), Tensor(),
                               plan.stride, padding);
  return from_planar(planes, [&](float v) { return clip8(v + plan.start); });
}

}  // namespace

Tensor filter_image(const Tensor& image, const ImageKernel& kernel, const FilterOptions& options) {
  check_image(image, "filter_image");
  check_kernel(kernel);
  const double scale = resolve_scale(kernel, options.scale);
  const double offset = options.offset.value_or(kernel.offset);
  KILN_CHECK(std::isfinite(offset), "filter_image: offset must be a finite number");
  KILN_CHECK(options.stride >= 1, "filter_image: stride must be at least 1, found {}",
             options.stride);
  const Tensor pixels = image.to(Device::cpu());
  const bool pillow_borders = !options.padding && options.stride == 1;
  if (pillow_borders && (pixels.dim(0) < kernel.size || pixels.dim(1) < kernel.size)) {
    return pixels.clone();
  }
  const Padding padding = options.padding.value_or(Padding::valid());
  check_window_fits("filter_image", pixels, kernel.size, options.stride, padding);
  const FilterPlan plan = make_plan(pixels, kernel, scale, offset, options, padding);
  const Device device = options.device.value_or(Device::cpu());
  if (device.is_cuda()) {
    const Tensor filtered = filter_with_conv2d(plan, pixels, padding, device);
    if (!pillow_borders) return filtered;
    Tensor out = pixels.clone();
    const std::int64_t margin = kernel.size / 2, c = pixels.dim(2);
    for (std::int64_t y = 0; y < filtered.dim(0); ++y) {
      std::memcpy(out.data<std::uint8_t>() + ((y + margin) * out.dim(1) + margin) * c,
                  filtered.data<std::uint8_t>() + y * filtered.dim(1) * c,
                  static_cast<std::size_t>(filtered.dim(1) * c));
    }
    return out;
  }
  if (pillow_borders) {
    Tensor out = pixels.clone();
    run_plan(plan, pixels, out, kernel.size / 2, kernel.size / 2);
    return out;
  }
  Tensor out = Tensor::empty({plan.out_height, plan.out_width, pixels.dim(2)}, DType::u8);
  run_plan(plan, pixels, out, 0, 0);
  return out;
}

PoolMode parse_pool_mode(const std::string& text) {
  if (text == "max") return PoolMode::max;
  if (text == "min") return PoolMode::min;
  if (text == "avg" || text == "average") return PoolMode::avg;
  fail("pool: unknown mode '{}' (expected max, min or avg)", text);
}

Tensor pool_image(const Tensor& image, const PoolImageOptions& options) {
  check_image(image, "pool_image");
  const Size2 size = options.pool_size;
  KILN_CHECK(size.h >= 1 && size.w >= 1, "pool_image: pool_size must be at least 1, found {}",
             extent_text(size));
  const Size2 strides = options.strides.value_or(size);
  const Tensor pixels = image.to(Device::cpu());
  check_window_fits("pool_image", pixels, size, strides, options.padding);

  NoGrad no_grad;
  const Tensor planes = to_planar(pixels, options.device ? *options.device : default_device());
  Tensor pooled;
  switch (options.mode) {
    case PoolMode::max: pooled = max_pool2d(planes, size, strides, options.padding); break;
    case PoolMode::min: pooled = min_pool2d(planes, size, strides, options.padding); break;
    case PoolMode::avg: pooled = avg_pool2d(planes, size, strides, options.padding); break;
  }
  // Averages are rounded half up.
  return from_planar(pooled, [](float v) {
    return static_cast<std::uint8_t>(
        std::clamp(std::floor(static_cast<double>(v) + 0.5), 0.0, 255.0));
  });
}

}  // namespace kiln
