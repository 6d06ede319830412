// A Cairo RGB24 image surface with its drawing context, and the small helpers the figures share:
// text measure and drawing, u8 pixels in and out of the surface.
#pragma once

#include <cairo.h>

#include <cstdint>
#include <string>

#include "kiln/tensor.h"

namespace kiln::cli {

// An RGB24 surface of the given size, painted white.
struct Canvas {
  cairo_surface_t* surface;
  cairo_t* cr;
  Canvas(std::int64_t width, std::int64_t height);
  ~Canvas();
  Canvas(const Canvas&) = delete;
  Canvas& operator=(const Canvas&) = delete;
};

// The advance width of `text` at `font` points.
double text_width(cairo_t* cr, const std::string& text, double font);
// Black `text` at (x, baseline).
void draw_text(cairo_t* cr, const std::string& text, double x, double baseline, double font);
// Copies u8 (h, w, 1 or 3) pixels into the surface at (top, left).
void paste(Canvas& canvas, const Tensor& pixels, std::int64_t top, std::int64_t left);
// The surface as u8 (height, width, 3).
Tensor to_tensor(Canvas& canvas);

}  // namespace kiln::cli
