// The shared Cairo canvas of the kiln figures (cairo_canvas.h).
#include "cairo_canvas.h"

namespace kiln::cli {

Canvas::Canvas(std::int64_t width, std::int64_t height)
    : surface(cairo_image_surface_create(CAIRO_FORMAT_RGB24, static_cast<int>(width),
                                         static_cast<int>(height))),
      cr(cairo_create(surface)) {
  cairo_set_source_rgb(cr, 1, 1, 1);
  cairo_paint(cr);
}

Canvas::~Canvas() {
  cairo_destroy(cr);
  cairo_surface_destroy(surface);
}

double text_width(cairo_t* cr, const std::string& text, double font) {
  cairo_set_font_size(cr, font);
  cairo_text_extents_t extents;
  cairo_text_extents(cr, text.c_str(), &extents);
  return extents.x_advance;
}

void draw_text(cairo_t* cr, const std::string& text, double x, double baseline, double font) {
  cairo_set_font_size(cr, font);
  cairo_set_source_rgb(cr, 0, 0, 0);
  cairo_move_to(cr, x, baseline);
  cairo_show_text(cr, text.c_str());
}

void paste(Canvas& canvas, const Tensor& pixels, std::int64_t top, std::int64_t left) {
  cairo_surface_flush(canvas.surface);
  unsigned char* data = cairo_image_surface_get_data(canvas.surface);
  const int stride = cairo_image_surface_get_stride(canvas.surface);
  const std::uint8_t* px = pixels.data<std::uint8_t>();
  const std::int64_t c = pixels.dim(2), width = pixels.dim(1);
  for (std::int64_t y = 0; y < pixels.dim(0); ++y) {
    auto* row = reinterpret_cast<std::uint32_t*>(data + (top + y) * stride) + left;
    for (std::int64_t x = 0; x < width; ++x) {
      const std::uint8_t* p = px + (y * width + x) * c;
      const std::uint32_t r = p[0], g = p[c == 3 ? 1 : 0], b = p[c == 3 ? 2 : 0];
      row[x] = (r << 16) | (g << 8) | b;
    }
  }
  cairo_surface_mark_dirty(canvas.surface);
}

Tensor to_tensor(Canvas& canvas) {
  cairo_surface_flush(canvas.surface);
  const int width = cairo_image_surface_get_width(canvas.surface);
  const int height = cairo_image_surface_get_height(canvas.surface);
  const int stride = cairo_image_surface_get_stride(canvas.surface);
  const unsigned char* data = cairo_image_surface_get_data(canvas.surface);
  Tensor out = Tensor::empty({height, width, 3}, DType::u8);
  std::uint8_t* px = out.data<std::uint8_t>();
  for (int y = 0; y < height; ++y) {
    const auto* row = reinterpret_cast<const std::uint32_t*>(data + y * stride);
    for (int x = 0; x < width; ++x) {
      std::uint8_t* p = px + (static_cast<std::int64_t>(y) * width + x) * 3;
      p[0] = static_cast<std::uint8_t>(row[x] >> 16);
      p[1] = static_cast<std::uint8_t>(row[x] >> 8);
      p[2] = static_cast<std::uint8_t>(row[x]);
    }
  }
  return out;
}

}  // namespace kiln::cli
