// Tile labels: the grid is copied into a Cairo RGB24 surface, the numbers are drawn white with a
// dark outline (readable on any colormap), and the pixels are copied back.
#include "tile_labels.h"

#include <cairo.h>

#include <string>

#include "kiln/error.h"

namespace kiln::cli {

namespace {

struct Surface {
  cairo_surface_t* surface;
  cairo_t* cr;
  Surface(int width, int height)
      : surface(cairo_image_surface_create(CAIRO_FORMAT_RGB24, width, height)), cr(cairo_create(surface)) {}
  ~Surface() {
    cairo_destroy(cr);
    cairo_surface_destroy(surface);
  }
  Surface(const Surface&) = delete;
  Surface& operator=(const Surface&) = delete;
};

void copy_in(const Tensor& picture, Surface& s) {
  cairo_surface_flush(s.surface);
  unsigned char* data = cairo_image_surface_get_data(s.surface);
  const int stride = cairo_image_surface_get_stride(s.surface);
  const std::uint8_t* px = picture.data<std::uint8_t>();
  const std::int64_t c = picture.dim(2);
  for (std::int64_t y = 0; y < picture.dim(0); ++y) {
    auto* row = reinterpret_cast<std::uint32_t*>(data + y * stride);
    for (std::int64_t x = 0; x < picture.dim(1); ++x) {
      const std::uint8_t* p = px + (y * picture.dim(1) + x) * c;
      const std::uint8_t r = p[0], g = p[c == 3 ? 1 : 0], b = p[c == 3 ? 2 : 0];
      row[x] = (std::uint32_t{r} << 16) | (std::uint32_t{g} << 8) | b;
    }
  }
  cairo_surface_mark_dirty(s.surface);
}

void copy_out(Surface& s, Tensor& picture) {
  cairo_surface_flush(s.surface);
  const unsigned char* data = cairo_image_surface_get_data(s.surface);
  const int stride = cairo_image_surface_get_stride(s.surface);
  std::uint8_t* px = picture.data<std::uint8_t>();
  const std::int64_t c = picture.dim(2);
  for (std::int64_t y = 0; y < picture.dim(0); ++y) {
    const auto* row = reinterpret_cast<const std::uint32_t*>(data + y * stride);
    for (std::int64_t x = 0; x < picture.dim(1); ++x) {
      std::uint8_t* p = px + (y * picture.dim(1) + x) * c;
      p[0] = static_cast<std::uint8_t>(row[x] >> 16);  // grey pictures keep the red channel
      if (c == 3) {
        p[1] = static_cast<std::uint8_t>(row[x] >> 8);
        p[2] = static_cast<std::uint8_t>(row[x]);
      }
    }
  }
}

}  // namespace

void label_tiles(Tensor& picture, std::int64_t tiles, std::int64_t tile_height,
                 std::int64_t tile_width, const GridOptions& options) {
  if (picture.rank() != 3 || (picture.dim(2) != 1 && picture.dim(2) != 3) || picture.dtype() != DType::u8) {
    throw Error("features: tile labels need a grey or RGB u8 picture, found " + picture.str());
  }
  const GridLayout layout = grid_layout(tiles, tile_height, tile_width, options);
  Surface s(static_cast<int>(picture.dim(1)), static_cast<int>(picture.dim(0)));
  copy_in(picture, s);
  const double tile_h = static_cast<double>(tile_height * layout.zoom);
  const double font = std::max(7.0, std::min(12.0, tile_h * 0.35));
  cairo_select_font_face(s.cr, "sans-serif", CAIRO_FONT_SLANT_NORMAL, CAIRO_FONT_WEIGHT_BOLD);
  cairo_set_font_size(s.cr, font);
  for (std::int64_t t = 0; t < tiles; ++t) {
    const double top = static_cast<double>((t / layout.columns) * (tile_height * layout.zoom + options.separator));
    const double left = static_cast<double>((t % layout.columns) * (tile_width * layout.zoom + options.separator));
    const std::string label = std::to_string(t);
    cairo_move_to(s.cr, left + 2, top + font + 1);
    cairo_text_path(s.cr, label.c_str());
    cairo_set_source_rgb(s.cr, 0, 0, 0);
    cairo_set_line_width(s.cr, 2.0);
    cairo_stroke_preserve(s.cr);
    cairo_set_source_rgb(s.cr, 1, 1, 1);
    cairo_fill(s.cr);
  }
  copy_out(s, picture);
}

}  // namespace kiln::cli
