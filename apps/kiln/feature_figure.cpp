// The features figure, drawn with Cairo on an RGB24 surface: white background, a title line,
// the grid copied in unchanged, channel numbers centred in the label band above each tile (shrunk
// to the tile's width so 3- and 4-digit numbers fit), and a vertical colour bar to the right of
// the grid with its two end values.
#include "feature_figure.h"

#include <cairo.h>

#include "cairo_canvas.h"

#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

#include "kiln/error.h"
#include "kiln/image.h"

namespace kiln::cli {

namespace {

constexpr std::int64_t kMargin = 8, kTitleBand = 28, kBarGap = 12, kBarWidth = 16,
                       kBarTextWidth = 150;
constexpr double kTitleFont = 14.0;

void draw_labels(Canvas& canvas, const GridLayout& layout, std::int64_t tiles) {
  const FigureOrigin origin = figure_origin();
  const double band = static_cast<double>(layout.label_band);
  for (std::int64_t t = 0; t < tiles; ++t) {
    const std::string label = std::to_string(t);
    double font = std::min(12.0, band - 2.0);
    const double room = static_cast<double>(layout.tile_width);
    while (font > 4.0 && text_width(canvas.cr, label, font) > room) font -= 0.5;
    const double width = text_width(canvas.cr, label, font);
    const double x = static_cast<double>(origin.left + layout.left(t)) + (room - width) / 2.0;
    const double baseline = static_cast<double>(origin.top + layout.top(t)) - 3.0;
    draw_text(canvas.cr, label, x, baseline, font);
  }
}

// A vertical ramp, the high end at the top, in the grid's colormap.
void draw_colour_bar(Canvas& canvas, const GridLayout& layout, Colormap colormap,
                     const FigureText& text) {
  const FigureOrigin origin = figure_origin();
  const std::int64_t top = origin.top + layout.label_band;
  const std::int64_t height = std::max<std::int64_t>(2, layout.height - layout.label_band);
  std::vector<std::uint8_t> ramp(static_cast<std::size_t>(height * kBarWidth));
  for (std::int64_t y = 0; y < height; ++y) {
    const auto level = static_cast<std::uint8_t>(255 - (255 * y) / (height - 1));
    std::fill_n(ramp.begin() + y * kBarWidth, kBarWidth, level);
  }
  const Tensor bar = apply_colormap(Tensor::from_vector(ramp, {height, kBarWidth, 1}), colormap);
  const std::int64_t left = origin.left + layout.width + kBarGap;
  paste(canvas, bar, top, left);
  const double text_left = static_cast<double>(left + kBarWidth + 4);
  draw_text(canvas.cr, text.high, text_left, static_cast<double>(top) + 10.0, 11.0);
  draw_text(canvas.cr, text.caption, text_left, static_cast<double>(top) + 24.0, 10.0);
  draw_text(canvas.cr, text.low, text_left, static_cast<double>(top + height), 11.0);
}

}  // namespace

FigureOrigin figure_origin() { return {kMargin + kTitleBand, kMargin}; }

Tensor compose_figure(const Tensor& grid, const GridLayout& layout, std::int64_t tiles,
                      Colormap colormap, const FigureText& text) {
  if (grid.rank() != 3 || grid.dtype() != DType::u8 || grid.dim(0) != layout.height ||
      grid.dim(1) != layout.width || layout.label_band < kLabelBand) {
    throw Error("features: the grid " + grid.str() + " does not match its layout");
  }
  cairo_surface_t* probe = cairo_image_surface_create(CAIRO_FORMAT_RGB24, 1, 1);
  cairo_t* cr = cairo_create(probe);
  cairo_select_font_face(cr, "sans-serif", CAIRO_FONT_SLANT_NORMAL, CAIRO_FONT_WEIGHT_BOLD);
  const auto title_width = static_cast<std::int64_t>(text_width(cr, text.title, kTitleFont)) + 1;
  cairo_destroy(cr);
  cairo_surface_destroy(probe);

  const FigureOrigin origin = figure_origin();
  const std::int64_t width = std::max(
      origin.left + layout.width + kBarGap + kBarWidth + kBarTextWidth, 2 * kMargin + title_width);
  const std::int64_t height = origin.top + layout.height + kMargin;
  Canvas canvas(width, height);
  // The grid first (its label bands are white): everything drawn afterwards lies outside the
  // tiles, which the unit test checks pixel by pixel.
  paste(canvas, grid, origin.top, origin.left);
  cairo_select_font_face(canvas.cr, "sans-serif", CAIRO_FONT_SLANT_NORMAL, CAIRO_FONT_WEIGHT_BOLD);
  draw_text(canvas.cr, text.title, static_cast<double>(kMargin),
            static_cast<double>(kMargin) + kTitleFont, kTitleFont);
  cairo_select_font_face(canvas.cr, "sans-serif", CAIRO_FONT_SLANT_NORMAL,
                         CAIRO_FONT_WEIGHT_NORMAL);
  draw_labels(canvas, layout, tiles);
  draw_colour_bar(canvas, layout, colormap, text);
  return to_tensor(canvas);
}

}  // namespace kiln::cli
