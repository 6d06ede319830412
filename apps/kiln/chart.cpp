// The chart toolkit of the run directory's pictures (chart.h).
#include "chart.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "common.h"
#include "kiln/image.h"

namespace kiln::cli {

namespace {

constexpr Rgb kGrid{0.88, 0.88, 0.88};
constexpr const char* kFont = "DejaVu Sans";

struct Range {
  double lo, hi;
};

Range value_range(const std::vector<Curve>& curves) {
  double lo = INFINITY, hi = -INFINITY;
  for (const Curve& c : curves) {
    for (double v : c.values) {
      if (!std::isfinite(v)) continue;
      lo = std::min(lo, v);
      hi = std::max(hi, v);
    }
  }
  if (!std::isfinite(lo)) return {0, 1};
  const double pad = hi > lo ? (hi - lo) * 0.08 : std::max(std::abs(hi) * 0.05, 0.01);
  return {lo - pad, hi + pad};
}

class Axes {
 public:
  Axes(Rect plot, Range x, Range y) : plot_(plot), x_(x), y_(y) {}
  double px(double x) const { return plot_.x + (x - x_.lo) / (x_.hi - x_.lo) * plot_.w; }
  double py(double y) const { return plot_.y + plot_.h - (y - y_.lo) / (y_.hi - y_.lo) * plot_.h; }
  const Rect& plot() const { return plot_; }
  const Range& y() const { return y_; }

 private:
  Rect plot_;
  Range x_, y_;
};

void draw_y_axis(cairo_t* cr, const Axes& axes) {
  const Rect& p = axes.plot();
  const double step = nice_step(axes.y().hi - axes.y().lo, 5);
  cairo_set_line_width(cr, 1);
  for (double v = std::ceil(axes.y().lo / step) * step; v <= axes.y().hi + step * 1e-9; v += step) {
    const double y = std::round(axes.py(v)) + 0.5;
    set_color(cr, kGrid);
    cairo_move_to(cr, p.x, y);
    cairo_line_to(cr, p.x + p.w, y);
    cairo_stroke(cr);
    set_color(cr, kBlack);
    cairo_move_to(cr, p.x - 5, y);
    cairo_line_to(cr, p.x, y);
    cairo_stroke(cr);
    text_at(cr, tick_label(v, step), p.x - 8, y, 11, 1, 0.5);
  }
}

void draw_x_axis(cairo_t* cr, const Axes& axes, int epochs) {
  const Rect& p = axes.plot();
  const int step = std::max(1, static_cast<int>(nice_step(epochs, 8)));
  set_color(cr, kBlack);
  cairo_set_line_width(cr, 1);
  for (int e = 1; e <= epochs; e += (e == 1 && step > 1 ? step - 1 : step)) {
    const double x = std::round(axes.px(e)) + 0.5;
    cairo_move_to(cr, x, p.y + p.h);
    cairo_line_to(cr, x, p.y + p.h + 5);
    cairo_stroke(cr);
    text_at(cr, std::to_string(e), x, p.y + p.h + 14, 11, 0.5, 0.5);
  }
  text_at(cr, "epoch", p.x + p.w / 2, p.y + p.h + 34, 12, 0.5, 0.5);
}

void draw_curve(cairo_t* cr, const Axes& axes, const Curve& curve) {
  set_color(cr, curve.color);
  cairo_set_line_width(cr, 2);
  for (std::size_t i = 0; i < curve.values.size(); ++i) {
    const double x = axes.px(static_cast<double>(i + 1)), y = axes.py(curve.values[i]);
    if (i == 0)
      cairo_move_to(cr, x, y);
    else
      cairo_line_to(cr, x, y);
  }
  cairo_stroke(cr);
  for (std::size_t i = 0; i < curve.values.size(); ++i) {
    cairo_arc(cr, axes.px(static_cast<double>(i + 1)), axes.py(curve.values[i]), 3.5, 0, 2 * M_PI);
    cairo_fill(cr);
  }
}

void draw_legend(cairo_t* cr, const Rect& plot, const std::vector<Curve>& curves, bool at_top) {
  double width = 0;
  for (const Curve& c : curves) width = std::max(width, text_width(cr, c.label, 11));
  const double box_w = width + 44, box_h = 8 + 18.0 * static_cast<double>(curves.size());
  const double x = plot.x + plot.w - box_w - 8;
  const double y = at_top ? plot.y + 8 : plot.y + plot.h - box_h - 8;
  cairo_rectangle(cr, x, y, box_w, box_h);
  cairo_set_source_rgb(cr, 1, 1, 1);
  cairo_fill_preserve(cr);
  cairo_set_source_rgb(cr, 0.75, 0.75, 0.75);
  cairo_set_line_width(cr, 1);
  cairo_stroke(cr);
  for (std::size_t i = 0; i < curves.size(); ++i) {
    const double row = y + 13 + 18.0 * static_cast<double>(i);
    set_color(cr, curves[i].color);
    cairo_set_line_width(cr, 2);
    cairo_move_to(cr, x + 8, row);
    cairo_line_to(cr, x + 30, row);
    cairo_stroke(cr);
    set_color(cr, kBlack);
    text_at(cr, curves[i].label, x + 36, row, 11, 0, 0.5);
  }
}

}  // namespace

void set_color(cairo_t* cr, Rgb c) { cairo_set_source_rgb(cr, c.r, c.g, c.b); }

// Draws `text` with its anchor at (x, y): ax 0/0.5/1 = left/centre/right, ay likewise for
// top/middle/baseline-ish bottom.
void select_chart_font(cairo_t* cr, bool bold) {
  cairo_select_font_face(cr, kFont, CAIRO_FONT_SLANT_NORMAL,
                         bold ? CAIRO_FONT_WEIGHT_BOLD : CAIRO_FONT_WEIGHT_NORMAL);
}

void text_at(cairo_t* cr, const std::string& text, double x, double y, double size, double ax,
             double ay, bool bold) {
  select_chart_font(cr, bold);
  cairo_set_font_size(cr, size);
  cairo_text_extents_t extents;
  cairo_text_extents(cr, text.c_str(), &extents);
  cairo_font_extents_t font;
  cairo_font_extents(cr, &font);
  const double height = font.ascent - font.descent * 0.3;
  cairo_move_to(cr, x - ax * extents.x_advance, y - ay * height + height);
  cairo_show_text(cr, text.c_str());
}

// Rotated text, its anchor (centre, middle) at (x, y), `angle` in radians.
void rotated_text(cairo_t* cr, const std::string& text, double x, double y, double size,
                  double angle, double ax) {
  cairo_save(cr);
  cairo_translate(cr, x, y);
  cairo_rotate(cr, angle);
  text_at(cr, text, 0, 0, size, ax, 0.5);
  cairo_restore(cr);
}

// 1, 2 or 5 times a power of ten, near range / target.
double nice_step(double range, int target) {
  const double raw = range / std::max(1, target);
  const double power = std::pow(10.0, std::floor(std::log10(raw)));
  const double fraction = raw / power;
  const double nice = fraction < 1.5 ? 1 : fraction < 3.5 ? 2 : fraction < 7.5 ? 5 : 10;
  return nice * power;
}

std::string tick_label(double value, double step) {
  const int decimals = std::max(0, static_cast<int>(-std::floor(std::log10(step) + 1e-9)));
  return fmt::format("{:.{}f}", std::abs(value) < step * 1e-6 ? 0.0 : value, decimals);
}

void draw_panel(cairo_t* cr, Rect area, const std::string& title, const std::vector<Curve>& curves,
                bool legend_at_top) {
  const int epochs = static_cast<int>(curves.front().values.size());
  const Rect plot{area.x + 70, area.y + 40, area.w - 90, area.h - 95};
  const Range x = epochs > 1 ? Range{1, static_cast<double>(epochs)} : Range{0.5, 1.5};
  const double x_pad = (x.hi - x.lo) * 0.04;
  const Axes axes(plot, {x.lo - x_pad, x.hi + x_pad}, value_range(curves));
  set_color(cr, kBlack);
  text_at(cr, title, plot.x + plot.w / 2, area.y + 18, 14, 0.5, 0.5, true);
  draw_y_axis(cr, axes);
  draw_x_axis(cr, axes, epochs);
  for (const Curve& c : curves) draw_curve(cr, axes, c);
  set_color(cr, kBlack);
  cairo_set_line_width(cr, 1);
  cairo_rectangle(cr, std::round(plot.x) + 0.5, std::round(plot.y) + 0.5, std::round(plot.w),
                  std::round(plot.h));
  cairo_stroke(cr);
  draw_legend(cr, plot, curves, legend_at_top);
}

// matplotlib's "Blues" colour map, from a few of its stops.
Rgb blues(double t) {
  static const Rgb stops[] = {{0.969, 0.984, 1.000},
                              {0.776, 0.859, 0.937},
                              {0.420, 0.682, 0.839},
                              {0.129, 0.443, 0.710},
                              {0.031, 0.188, 0.420}};
  t = std::clamp(t, 0.0, 1.0) * 4;
  const int i = std::min(3, static_cast<int>(t));
  const double f = t - i;
  const Rgb& a = stops[i];
  const Rgb& b = stops[i + 1];
  return {a.r + (b.r - a.r) * f, a.g + (b.g - a.g) * f, a.b + (b.b - a.b) * f};
}

void draw_colorbar(cairo_t* cr, Rect bar, std::int32_t max_count) {
  for (int i = 0; i < static_cast<int>(bar.h); ++i) {
    set_color(cr, blues(1.0 - i / bar.h));
    cairo_rectangle(cr, bar.x, bar.y + i, bar.w, 1);
    cairo_fill(cr);
  }
  set_color(cr, kBlack);
  cairo_set_line_width(cr, 1);
  cairo_rectangle(cr, bar.x + 0.5, bar.y + 0.5, bar.w, bar.h);
  cairo_stroke(cr);
  if (max_count <= 0) return;
  const double step = std::max(1.0, nice_step(max_count, 5));
  for (double v = 0; v <= max_count; v += step) {
    const double y = std::round(bar.y + bar.h - v / max_count * bar.h) + 0.5;
    cairo_move_to(cr, bar.x + bar.w, y);
    cairo_line_to(cr, bar.x + bar.w + 4, y);
    cairo_stroke(cr);
    text_at(cr, tick_label(v, step), bar.x + bar.w + 7, y, 10, 0, 0.5);
  }
}

void save_chart(Canvas& canvas, const std::string& path) {
  if (cairo_status(canvas.cr) != CAIRO_STATUS_SUCCESS) {
    cli_fail("{}: drawing failed: {}", path, cairo_status_to_string(cairo_status(canvas.cr)));
  }
  write_png(path, to_tensor(canvas));
}

}  // namespace kiln::cli
