// The kiln features figure (apps/kiln/feature_figure.cpp): every tile of the grid is in the
// figure unchanged (so no label pixel lies inside a tile), the channel numbers, the title and the
// colour bar are drawn around the tiles, and the figure is written as a PNG for a look.
#include <gtest/gtest.h>

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "apps/kiln/feature_figure.h"
#include "kiln/feature_maps.h"
#include "kiln/image.h"

using kiln::Tensor;

namespace {

struct Picture {
  std::vector<std::uint8_t> pixels;
  std::int64_t width = 0, channels = 0;
  const std::uint8_t* at(std::int64_t y, std::int64_t x) const {
    return pixels.data() + (y * width + x) * channels;
  }
};

Picture picture_of(const Tensor& image) {
  return {image.to_vector<std::uint8_t>(), image.dim(1), image.dim(2)};
}

bool dark(const std::uint8_t* rgb) { return rgb[0] < 128 && rgb[1] < 128 && rgb[2] < 128; }

// Counts figure pixels inside tiles that differ from the grid's, and dark pixels in each tile's
// label band.
struct Check {
  std::int64_t changed_in_tiles = 0, tiles_with_label = 0;
};

Check check_figure(const Tensor& grid, const Tensor& figure, const kiln::GridLayout& layout,
                   std::int64_t tiles) {
  const Picture g = picture_of(grid), f = picture_of(figure);
  const kiln::cli::FigureOrigin origin = kiln::cli::figure_origin();
  Check check;
  for (std::int64_t t = 0; t < tiles; ++t) {
    for (std::int64_t y = 0; y < layout.tile_height; ++y) {
      for (std::int64_t x = 0; x < layout.tile_width; ++x) {
        const std::uint8_t* in = g.at(layout.top(t) + y, layout.left(t) + x);
        const std::uint8_t* out =
            f.at(origin.top + layout.top(t) + y, origin.left + layout.left(t) + x);
        for (std::int64_t c = 0; c < 3; ++c) {
          if (out[c] != in[g.channels == 3 ? c : 0]) {
            ++check.changed_in_tiles;
            break;
          }
        }
      }
    }
    bool labelled = false;
    for (std::int64_t y = layout.top(t) - layout.label_band; y < layout.top(t); ++y) {
      for (std::int64_t x = 0; x < layout.tile_width; ++x) {
        labelled = labelled || dark(f.at(origin.top + y, origin.left + layout.left(t) + x));
      }
    }
    check.tiles_with_label += labelled ? 1 : 0;
  }
  return check;
}

class FeatureFigure : public ::testing::Test {
 protected:
  std::filesystem::path out_ = std::filesystem::path(::testing::TempDir()) / "kiln_feature_figure";
  void SetUp() override { std::filesystem::create_directories(out_); }
};

TEST_F(FeatureFigure, LabelsTitleAndColourBarStayOutsideTheTiles) {
  // 128 maps of 26x26 (3-digit labels), with values spanning each tile.
  const Tensor activations = Tensor::uniform({1, 26, 26, 128}, -1.0, 1.0, 5);
  for (const kiln::Colormap colormap : {kiln::Colormap::viridis, kiln::Colormap::gray}) {
    kiln::GridOptions options;
    options.label_band = kiln::cli::kLabelBand;
    options.colormap = colormap;
    const Tensor grid = kiln::feature_map_grid(activations, options);
    const kiln::GridLayout layout = kiln::grid_layout(128, 26, 26, options);
    const Tensor figure = kiln::cli::compose_figure(
        grid, layout, 128, colormap,
        {"model.h5 · conv2d · 128 feature maps", "min -1", "max 1", "each map: its own min..max"});
    const kiln::cli::FigureOrigin origin = kiln::cli::figure_origin();
    ASSERT_EQ(figure.dim(2), 3);
    EXPECT_GE(figure.dim(0), origin.top + layout.height);
    EXPECT_GE(figure.dim(1), origin.left + layout.width + 100);  // room for the colour bar
    const Check check = check_figure(grid, figure, layout, 128);
    EXPECT_EQ(check.changed_in_tiles, 0);
    EXPECT_EQ(check.tiles_with_label, 128);
    // The title: dark pixels above the grid; the colour bar: its top row is the colormap's 255.
    const Picture f = picture_of(figure);
    std::int64_t title_pixels = 0;
    for (std::int64_t y = 0; y < origin.top; ++y) {
      for (std::int64_t x = 0; x < figure.dim(1); ++x) title_pixels += dark(f.at(y, x)) ? 1 : 0;
    }
    EXPECT_GT(title_pixels, 50);
    const Tensor top_colour = kiln::apply_colormap(
        Tensor::from_vector(std::vector<std::uint8_t>{255}, {1, 1, 1}), kiln::Colormap::viridis);
    const std::uint8_t* bar_top =
        f.at(origin.top + layout.label_band, origin.left + layout.width + 12 + 8);
    if (colormap == kiln::Colormap::viridis) {
      EXPECT_EQ(std::vector<std::uint8_t>(bar_top, bar_top + 3),
                top_colour.to_vector<std::uint8_t>());
    } else {
      EXPECT_EQ(std::vector<std::uint8_t>(bar_top, bar_top + 3),
                (std::vector<std::uint8_t>{255, 255, 255}));
    }
    kiln::write_png(
        (out_ / (colormap == kiln::Colormap::gray ? "maps_gray.png" : "maps.png")).string(),
        figure);
  }
}

TEST_F(FeatureFigure, SmallKernelTilesStillGetWholeLabels) {
  // 3x3 kernels at zoom 22 (66 px tiles) with 1,000 tiles: 3-digit labels fit the tile width.
  const Tensor kernel = Tensor::uniform({3, 3, 1, 1000}, -1.0, 1.0, 6);
  kiln::GridOptions options;
  options.label_band = kiln::cli::kLabelBand;
  options.columns = 40;
  const Tensor grid = kiln::kernel_grid(kernel, options);
  const kiln::GridLayout layout = kiln::grid_layout(1000, 3, 3, options);
  const Tensor figure = kiln::cli::compose_figure(grid, layout, 1000, options.colormap,
                                                  {"kernels", "-1", "1", "weight"});
  const Check check = check_figure(grid, figure, layout, 1000);
  EXPECT_EQ(check.changed_in_tiles, 0);
  EXPECT_EQ(check.tiles_with_label, 1000);
  kiln::write_png((out_ / "kernels.png").string(), figure);
}

}  // namespace
