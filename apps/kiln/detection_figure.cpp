// Boxes and labels over a photo (detection_figure.h). Line width and font grow with the photo
// (a 768-pixel-wide photo gets 4-pixel lines and 14-point labels, as the notebook's PIL drawing).
#include "detection_figure.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <string>

#include "cairo_canvas.h"
#include "kiln/image.h"

namespace kiln::cli {

namespace {

struct Rgb {
  double r, g, b;
};

// Light, saturated colours (PIL's colour names the notebook draws from) so black text reads.
constexpr Rgb kColours[] = {{0.5, 1.0, 0.0},   {0.0, 1.0, 1.0},    {1.0, 0.65, 0.0},
                            {1.0, 0.41, 0.71}, {1.0, 1.0, 0.0},    {0.53, 0.81, 0.98},
                            {0.6, 0.98, 0.6},  {1.0, 0.5, 0.31},   {0.85, 0.44, 0.84},
                            {0.94, 0.9, 0.55}, {0.25, 0.88, 0.82}, {1.0, 0.75, 0.8}};
constexpr std::size_t kColourCount = sizeof kColours / sizeof kColours[0];

Rgb colour_of(std::int64_t class_id) {
  return kColours[static_cast<std::size_t>(class_id) % kColourCount];
}

void draw_one(cairo_t* cr, const Detection& d, double line, double font, double image_width) {
  const Rgb c = colour_of(d.class_id);
  cairo_set_source_rgb(cr, c.r, c.g, c.b);
  cairo_set_line_width(cr, line);
  cairo_rectangle(cr, d.box.x1, d.box.y1, d.box.x2 - d.box.x1, d.box.y2 - d.box.y1);
  cairo_stroke(cr);
  const std::string label = fmt::format("{}: {}%", d.label, static_cast<int>(100.0f * d.score));
  const double pad = std::ceil(font * 0.25);
  const double width = text_width(cr, label, font) + 2 * pad;
  const double height = font + 2 * pad;
  const double left =
      std::clamp(static_cast<double>(d.box.x1) - line / 2, 0.0, std::max(0.0, image_width - width));
  const double above = static_cast<double>(d.box.y1) - line / 2 - height;
  const double top = above >= 0 ? above : static_cast<double>(d.box.y1) + line / 2;
  cairo_set_source_rgb(cr, c.r, c.g, c.b);
  cairo_rectangle(cr, left, top, width, height);
  cairo_fill(cr);
  draw_text(cr, label, left + pad, top + pad + font * 0.8, font);
}

}  // namespace

Tensor draw_detections(const Tensor& image, const std::vector<Detection>& detections) {
  const Tensor rgb = to_rgb(image);
  const std::int64_t h = rgb.dim(0), w = rgb.dim(1);
  Canvas canvas(w, h);
  paste(canvas, rgb, 0, 0);
  const double size = static_cast<double>(std::max(h, w));
  const double line = std::max(2.0, std::round(size / 192.0));
  const double font = std::max(10.0, std::round(size / 55.0));
  cairo_select_font_face(canvas.cr, "DejaVu Sans", CAIRO_FONT_SLANT_NORMAL,
                         CAIRO_FONT_WEIGHT_NORMAL);
  // The lowest score first, so the best box's label ends up on top.
  for (auto it = detections.rbegin(); it != detections.rend(); ++it) {
    draw_one(canvas.cr, *it, line, font, static_cast<double>(w));
  }
  return to_tensor(canvas);
}

}  // namespace kiln::cli
