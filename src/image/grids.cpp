// Grids of tiles (feature maps, kernels): each tile's values normalised to 0..255, zoomed by
// pixel replication, coloured through a colormap, with white separators between tiles.
#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "core/check.h"
#include "kiln/feature_maps.h"
#include "kiln/image.h"

namespace kiln {

namespace {

// Ten colours of matplotlib's viridis at 0, 1/9, …, 1 (sRGB), interpolated linearly in between.
constexpr std::array<std::array<int, 3>, 10> kViridisStops = {{{68, 1, 84},
                                                               {72, 40, 120},
                                                               {62, 74, 137},
                                                               {49, 104, 142},
                                                               {38, 130, 142},
                                                               {31, 158, 137},
                                                               {53, 183, 121},
                                                               {109, 205, 89},
                                                               {180, 222, 44},
                                                               {253, 231, 37}}};

// 256 entries of `channels` bytes.
std::vector<std::uint8_t> colormap_table(Colormap colormap) {
  if (colormap == Colormap::gray) {
    std::vector<std::uint8_t> table(256);
    for (int i = 0; i < 256; ++i) table[static_cast<std::size_t>(i)] = static_cast<std::uint8_t>(i);
    return table;
  }
  std::vector<std::uint8_t> table(256 * 3);
  const int last = static_cast<int>(kViridisStops.size()) - 1;
  for (int i = 0; i < 256; ++i) {
    const double position = i / 255.0 * last;
    const int low = std::min(static_cast<int>(position), last - 1);
    const double t = position - low;
    for (int c = 0; c < 3; ++c) {
      const double value =
          kViridisStops[static_cast<std::size_t>(low)][static_cast<std::size_t>(c)] * (1 - t) +
          kViridisStops[static_cast<std::size_t>(low + 1)][static_cast<std::size_t>(c)] * t;
      table[static_cast<std::size_t>(i * 3 + c)] = static_cast<std::uint8_t>(std::lround(value));
    }
  }
  return table;
}

std::int64_t colormap_channels(Colormap colormap) { return colormap == Colormap::gray ? 1 : 3; }

// A tile's values on a 0..255 scale: (v - low) / (high - low), 0 where high == low.
std::uint8_t normalise(float value, float low, float high) {
  if (!(high > low)) return 0;
  const double scaled =
      (static_cast<double>(value) - low) / (static_cast<double>(high) - low) * 255.0;
  return static_cast<std::uint8_t>(std::clamp(std::lround(scaled), 0L, 255L));
}

// Draws tiles into a white canvas; tile(t, y, x) gives value (y, x) of tile t.
template <class TileValue>
Tensor draw_grid(std::int64_t tiles, std::int64_t height, std::int64_t width,
                 const GridOptions& options, TileValue tile_value, float low, float high) {
  const GridLayout layout = grid_layout(tiles, height, width, options);
  const std::int64_t channels = colormap_channels(options.colormap);
  const std::vector<std::uint8_t> table = colormap_table(options.colormap);
  Tensor canvas = Tensor::full({layout.height, layout.width, channels}, 255.0, DType::u8);
  std::uint8_t* pixels = canvas.data<std::uint8_t>();
  const std::int64_t zoom = layout.zoom;
  for (std::int64_t t = 0; t < tiles; ++t) {
    const std::int64_t top = layout.top(t), left = layout.left(t);
    for (std::int64_t y = 0; y < height * zoom; ++y) {
      for (std::int64_t x = 0; x < width * zoom; ++x) {
        const std::uint8_t level = normalise(tile_value(t, y / zoom, x / zoom), low, high);
        std::uint8_t* pixel = pixels + ((top + y) * layout.width + left + x) * channels;
        std::copy_n(table.data() + level * channels, channels, pixel);
      }
    }
  }
  return canvas;
}

void check_grid_options(const GridOptions& options) {
  KILN_CHECK(options.columns >= 1 && options.separator >= 0 && options.separator <= 64 &&
                 options.zoom >= 0 && options.zoom <= 256 && options.label_band >= 0 &&
                 options.label_band <= 64,
             "grid: columns must be >= 1, separator 0..64, zoom 0..256 and label band 0..64, "
             "found {}, {}, {}, {}",
             options.columns, options.separator, options.zoom, options.label_band);
}

}  // namespace

Colormap parse_colormap(const std::string& text) {
  if (text == "gray" || text == "grey") return Colormap::gray;
  if (text == "viridis") return Colormap::viridis;
  fail("colormap: unknown '{}' (expected viridis or gray)", text);
}

Tensor apply_colormap(const Tensor& gray, Colormap colormap) {
  KILN_CHECK(gray.defined() && gray.dtype() == DType::u8 && gray.rank() == 3 && gray.dim(2) == 1,
             "apply_colormap: expected a u8 grey image (height, width, 1), found {}",
             gray.defined() ? gray.str() : std::string("undefined"));
  const Tensor host = gray.to(Device::cpu());
  const std::int64_t channels = colormap_channels(colormap);
  const std::vector<std::uint8_t> table = colormap_table(colormap);
  Tensor out = Tensor::empty({host.dim(0), host.dim(1), channels}, DType::u8);
  const std::uint8_t* in = host.data<std::uint8_t>();
  std::uint8_t* dst = out.data<std::uint8_t>();
  for (std::int64_t i = 0; i < host.dim(0) * host.dim(1); ++i) {
    std::copy_n(table.data() + in[i] * channels, channels, dst + i * channels);
  }
  return out;
}

GridLayout grid_layout(std::int64_t tiles, std::int64_t height, std::int64_t width,
                       const GridOptions& options) {
  check_grid_options(options);
  KILN_CHECK(tiles >= 1 && height >= 1 && width >= 1,
             "grid: needs at least one tile of at least 1x1 values, found {} tiles of {}x{}", tiles,
             height, width);
  GridLayout layout;
  layout.columns = std::min(options.columns, tiles);
  layout.rows = (tiles + layout.columns - 1) / layout.columns;
  const std::int64_t shorter = std::min(height, width);
  layout.zoom =
      options.zoom > 0 ? options.zoom : std::max<std::int64_t>(1, (64 + shorter - 1) / shorter);
  layout.tile_height = height * layout.zoom;
  layout.tile_width = width * layout.zoom;
  layout.separator = options.separator;
  layout.label_band = options.label_band;
  layout.height = layout.rows * (options.label_band + layout.tile_height) +
                  (layout.rows - 1) * options.separator;
  layout.width = layout.columns * layout.tile_width + (layout.columns - 1) * options.separator;
  KILN_CHECK(layout.width <= kMaxImagePixels / layout.height,
             "grid: {}x{} pixels is more than the {} pixels of an image; lower the zoom",
             layout.height, layout.width, kMaxImagePixels);
  return layout;
}

Tensor feature_map_grid(const Tensor& activations, const GridOptions& options) {
  KILN_CHECK(activations.defined() && activations.dtype() == DType::f32 &&
                 (activations.rank() == 3 || (activations.rank() == 4 && activations.dim(0) == 1)),
             "feature_map_grid: expected f32 activations (1, height, width, channels) or (height, "
             "width, channels), found {}",
             activations.defined() ? activations.str() : std::string("undefined"));
  const Tensor host = activations.to(Device::cpu());
  const std::int64_t height = host.dim(-3), width = host.dim(-2), channels = host.dim(-1);
  const float* values = host.data<float>();
  std::vector<float> low(static_cast<std::size_t>(channels),
                         std::numeric_limits<float>::infinity());
  std::vector<float> high(static_cast<std::size_t>(channels),
                          -std::numeric_limits<float>::infinity());
  for (std::int64_t i = 0; i < height * width; ++i) {
    for (std::int64_t c = 0; c < channels; ++c) {
      low[static_cast<std::size_t>(c)] =
          std::min(low[static_cast<std::size_t>(c)], values[i * channels + c]);
      high[static_cast<std::size_t>(c)] =
          std::max(high[static_cast<std::size_t>(c)], values[i * channels + c]);
    }
  }
  // Each map is normalised on its own: rescale its values into [0, 1] before drawing.
  auto value = [&](std::int64_t c, std::int64_t y, std::int64_t x) {
    const float v = values[(y * width + x) * channels + c];
    const float lo = low[static_cast<std::size_t>(c)], hi = high[static_cast<std::size_t>(c)];
    return hi > lo ? (v - lo) / (hi - lo) : 0.0f;
  };
  return draw_grid(channels, height, width, options, value, 0.0f, 1.0f);
}

Tensor kernel_slices(const Tensor& kernel, std::optional<std::int64_t> input_channel) {
  KILN_CHECK(kernel.defined() && kernel.dtype() == DType::f32 && kernel.rank() == 4,
             "kernel_grid: expected an f32 Conv2D kernel (height, width, in, out), found {}",
             kernel.defined() ? kernel.str() : std::string("undefined"));
  const Tensor host = kernel.to(Device::cpu());
  const std::int64_t height = host.dim(0), width = host.dim(1), in = host.dim(2), out = host.dim(3);
  KILN_CHECK(!input_channel || (*input_channel >= 0 && *input_channel < in),
             "kernel_grid: input channel {} is outside 0..{}", input_channel.value_or(0), in - 1);
  Tensor slices = Tensor::zeros({height, width, out});
  const float* values = host.data<float>();
  float* dst = slices.data<float>();
  for (std::int64_t p = 0; p < height * width; ++p) {
    for (std::int64_t o = 0; o < out; ++o) {
      double sum = 0.0;
      for (std::int64_t i = 0; i < in; ++i) {
        if (!input_channel || *input_channel == i) sum += values[(p * in + i) * out + o];
      }
      dst[p * out + o] = static_cast<float>(input_channel ? sum : sum / static_cast<double>(in));
    }
  }
  return slices;
}

Tensor kernel_grid(const Tensor& kernel, const GridOptions& options,
                   std::optional<std::int64_t> input_channel) {
  const Tensor slices = kernel_slices(kernel, input_channel);
  const std::int64_t height = slices.dim(0), width = slices.dim(1), out = slices.dim(2);
  const float* values = slices.data<float>();
  const auto [low, high] = std::minmax_element(values, values + slices.numel());
  auto value = [&](std::int64_t o, std::int64_t y, std::int64_t x) {
    return values[(y * width + x) * out + o];
  };
  return draw_grid(out, height, width, options, value, *low, *high);
}

}  // namespace kiln
