// The run directory's pictures with Cairo's image surfaces and toy text API.
#include "plots.h"

#include <cairo.h>

#include <algorithm>
#include <cmath>
#include <memory>

#include "common.h"
#include "io/atomic_file.h"
#include "run_files.h"

namespace kiln::cli {

namespace {

struct Rgb {
  double r, g, b;
};

constexpr Rgb kBlack{0, 0, 0};
constexpr Rgb kGrid{0.88, 0.88, 0.88};
// matplotlib's "tab10" colours: a series' training curve takes an even one, validation the next.
constexpr Rgb kPalette[] = {{0.122, 0.467, 0.706}, {1.0, 0.498, 0.055},   {0.173, 0.627, 0.173},
                            {0.839, 0.153, 0.157}, {0.580, 0.404, 0.741}, {0.549, 0.337, 0.294}};
constexpr std::size_t kPaletteSize = sizeof kPalette / sizeof kPalette[0];
constexpr const char* kFont = "DejaVu Sans";

struct Rect {
  double x, y, w, h;
};

// An image surface with its drawing context, white to start with.
class Canvas {
 public:
  Canvas(int width, int height)
      : surface_(cairo_image_surface_create(CAIRO_FORMAT_ARGB32, width, height),
                 cairo_surface_destroy),
        cr_(cairo_create(surface_.get()), cairo_destroy) {
    cairo_set_source_rgb(cr_.get(), 1, 1, 1);
    cairo_paint(cr_.get());
    cairo_select_font_face(cr_.get(), kFont, CAIRO_FONT_SLANT_NORMAL, CAIRO_FONT_WEIGHT_NORMAL);
  }
  cairo_t* cr() const { return cr_.get(); }

  void save(const std::string& path) const {
    cairo_surface_flush(surface_.get());
    if (cairo_status(cr_.get()) != CAIRO_STATUS_SUCCESS) {
      cli_fail("{}: drawing failed: {}", path, cairo_status_to_string(cairo_status(cr_.get())));
    }
    write_file_atomically(path, [&](const std::string& temp) {
      const cairo_status_t status = cairo_surface_write_to_png(surface_.get(), temp.c_str());
      if (status != CAIRO_STATUS_SUCCESS) {
        cli_fail("{}: cannot write PNG: {}", path, cairo_status_to_string(status));
      }
    });
  }

 private:
  std::unique_ptr<cairo_surface_t, void (*)(cairo_surface_t*)> surface_;
  std::unique_ptr<cairo_t, void (*)(cairo_t*)> cr_;
};

void set_color(cairo_t* cr, Rgb c) { cairo_set_source_rgb(cr, c.r, c.g, c.b); }

double text_width(cairo_t* cr, const std::string& text, double size) {
  cairo_set_font_size(cr, size);
  cairo_text_extents_t extents;
  cairo_text_extents(cr, text.c_str(), &extents);
  return extents.x_advance;
}

// Draws `text` with its anchor at (x, y): ax 0/0.5/1 = left/centre/right, ay likewise for
// top/middle/baseline-ish bottom.
void text_at(cairo_t* cr, const std::string& text, double x, double y, double size, double ax = 0,
             double ay = 0.5, bool bold = false) {
  cairo_select_font_face(cr, kFont, CAIRO_FONT_SLANT_NORMAL,
                         bold ? CAIRO_FONT_WEIGHT_BOLD : CAIRO_FONT_WEIGHT_NORMAL);
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
                  double angle, double ax = 0.5) {
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

struct Curve {
  std::string label;
  std::vector<double> values;
  Rgb color;
};

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

// The training and (when present) validation curves of `key`, coloured as series `series`.
void add_curves(std::vector<Curve>& curves, const History& history, const std::string& key,
                std::size_t series) {
  const Rgb train = kPalette[(2 * series) % kPaletteSize],
            validation = kPalette[(2 * series + 1) % kPaletteSize];
  if (history.values.count(key) != 0)
    curves.push_back({"train " + key, history.values.at(key), train});
  if (history.values.count("val_" + key) != 0) {
    curves.push_back({"validation " + key, history.values.at("val_" + key), validation});
  }
}

// Every accuracy of the history: "accuracy", or one per output ("num_out_accuracy", …).
std::vector<Curve> accuracy_curves(const History& history) {
  std::vector<Curve> curves;
  std::size_t series = 0;
  for (const std::string& key : history.keys) {
    const bool accuracy = key == "accuracy" || (key.size() > 9 && key.ends_with("_accuracy"));
    if (accuracy && key.rfind("val_", 0) != 0) add_curves(curves, history, key, series++);
  }
  return curves;
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

void draw_cells(cairo_t* cr, Rect grid, const std::vector<std::int32_t>& counts, std::size_t k,
                std::int32_t max_count) {
  const double cell = grid.w / static_cast<double>(k);
  for (std::size_t r = 0; r < k; ++r) {
    for (std::size_t c = 0; c < k; ++c) {
      const std::int32_t n = counts[r * k + c];
      const double t = max_count > 0 ? static_cast<double>(n) / max_count : 0.0;
      const double x = grid.x + static_cast<double>(c) * cell,
                   y = grid.y + static_cast<double>(r) * cell;
      set_color(cr, blues(t));
      cairo_rectangle(cr, x, y, cell, cell);
      cairo_fill(cr);
      set_color(cr, t > 0.5 ? Rgb{1, 1, 1} : kBlack);
      text_at(cr, std::to_string(n), x + cell / 2, y + cell / 2, cell > 40 ? 12 : 9, 0.5, 0.5);
    }
  }
  set_color(cr, kBlack);
  cairo_set_line_width(cr, 1);
  cairo_rectangle(cr, grid.x + 0.5, grid.y + 0.5, grid.w, grid.h);
  cairo_stroke(cr);
}

}  // namespace

void plot_history(const std::string& path, const History& history, const std::string& title) {
  std::vector<Curve> loss;
  add_curves(loss, history, "loss", 0);
  const std::vector<Curve> accuracy = accuracy_curves(history);
  if (loss.empty() || loss.front().values.empty())
    cli_fail("{}: the history has no loss to plot", path);
  const int panels = accuracy.empty() ? 1 : 2;
  const int panel_w = 520, panel_h = 400, top = 36;
  Canvas canvas(panel_w * panels, panel_h + top);
  cairo_t* cr = canvas.cr();
  set_color(cr, kBlack);
  text_at(cr, title, panel_w * panels / 2.0, 18, 15, 0.5, 0.5, true);
  draw_panel(cr, {0, top, panel_w, panel_h}, "Loss", loss, true);
  if (!accuracy.empty())
    draw_panel(cr, {panel_w, top, panel_w, panel_h}, "Accuracy", accuracy, false);
  canvas.save(path);
}

void plot_confusion_matrix(const std::string& path, const Tensor& matrix,
                           const std::vector<std::string>& class_names, const std::string& title) {
  const auto k = static_cast<std::size_t>(matrix.dim(0));
  if (class_names.size() != k)
    cli_fail("{}: {} class names for {} classes", path, class_names.size(), k);
  const std::vector<std::int32_t> counts = matrix.to_vector<std::int32_t>();
  const std::int32_t max_count =
      counts.empty() ? 0 : *std::max_element(counts.begin(), counts.end());
  const double cell = k <= 12 ? 48 : std::max(16.0, 576.0 / static_cast<double>(k));
  const double grid_size = cell * static_cast<double>(k);

  Canvas probe(1, 1);
  double label_w = 0;
  for (const std::string& name : class_names)
    label_w = std::max(label_w, text_width(probe.cr(), name, 12));
  const bool slanted = label_w > cell - 6;
  const double left = 40 + label_w + 10, top = 50;
  const double bottom = (slanted ? label_w * 0.72 + 20 : 24) + 34;
  const int width = static_cast<int>(left + grid_size + 110);
  const int height = static_cast<int>(top + grid_size + bottom);

  Canvas canvas(width, height);
  cairo_t* cr = canvas.cr();
  const Rect grid{left, top, grid_size, grid_size};
  set_color(cr, kBlack);
  text_at(cr, title, left + grid_size / 2, 22, 15, 0.5, 0.5, true);
  draw_cells(cr, grid, counts, k, max_count);
  set_color(cr, kBlack);
  for (std::size_t i = 0; i < k; ++i) {
    const double centre = static_cast<double>(i) * cell + cell / 2;
    text_at(cr, class_names[i], left - 8, top + centre, 12, 1, 0.5);
    if (slanted) {
      cairo_save(cr);
      cairo_translate(cr, left + centre + 4, top + grid_size + 8);
      cairo_rotate(cr, -M_PI / 4);
      text_at(cr, class_names[i], 0, 0, 12, 1, 0.5);
      cairo_restore(cr);
    } else {
      text_at(cr, class_names[i], left + centre, top + grid_size + 14, 12, 0.5, 0.5);
    }
  }
  text_at(cr, "Predicted label", left + grid_size / 2, height - 18, 13, 0.5, 0.5, true);
  rotated_text(cr, "True label", 18, top + grid_size / 2, 13, -M_PI / 2);
  draw_colorbar(cr, {left + grid_size + 24, top, 18, grid_size}, max_count);
  canvas.save(path);
}

void plot_misclassified(const std::string& path, const Tensor& images,
                        const std::vector<Misclassified>& samples, const std::string& title) {
  const Tensor host = images.to(Device::cpu()).astype(DType::f32);
  const auto h = static_cast<int>(host.dim(1)), w = static_cast<int>(host.dim(2));
  const int scale = 4, columns = std::clamp(static_cast<int>(samples.size()), 1, 5);
  const int rows = std::max(1, static_cast<int>((samples.size() + columns - 1) / columns));
  const int cell_w = std::max(w * scale + 30, 150), cell_h = h * scale + 34, top = 44;
  Canvas canvas(columns * cell_w + 20, top + rows * cell_h + 10);
  cairo_t* cr = canvas.cr();
  set_color(cr, kBlack);
  text_at(cr, title, (columns * cell_w + 20) / 2.0, 20, 15, 0.5, 0.5, true);
  if (samples.empty()) text_at(cr, "none", (columns * cell_w + 20) / 2.0, top + 40, 13, 0.5, 0.5);

  const int stride = cairo_format_stride_for_width(CAIRO_FORMAT_RGB24, w);
  std::vector<unsigned char> pixels(static_cast<std::size_t>(stride * h));
  const float* data = host.data<float>();
  for (std::size_t s = 0; s < samples.size(); ++s) {
    const Misclassified& m = samples[s];
    const float* image = data + m.index * h * w * host.dim(3);
    for (int y = 0; y < h; ++y) {
      auto* row =
          reinterpret_cast<std::uint32_t*>(pixels.data() + static_cast<std::ptrdiff_t>(y) * stride);
      for (int x = 0; x < w; ++x) {
        const auto g = static_cast<std::uint32_t>(
            std::lround(std::clamp(image[(y * w + x) * host.dim(3)], 0.0f, 1.0f) * 255));
        row[x] = (g << 16) | (g << 8) | g;
      }
    }
    std::unique_ptr<cairo_surface_t, void (*)(cairo_surface_t*)> tile(
        cairo_image_surface_create_for_data(pixels.data(), CAIRO_FORMAT_RGB24, w, h, stride),
        cairo_surface_destroy);
    const int col = static_cast<int>(s) % columns, row = static_cast<int>(s) / columns;
    const double x0 = 10 + col * cell_w, y0 = top + row * cell_h;
    set_color(cr, kBlack);
    text_at(cr, fmt::format("true:{}, predict:{}", m.truth, m.predicted), x0 + cell_w / 2.0, y0 + 9,
            12, 0.5, 0.5);
    cairo_save(cr);
    cairo_translate(cr, x0 + (cell_w - w * scale) / 2.0, y0 + 22);
    cairo_scale(cr, scale, scale);
    cairo_set_source_surface(cr, tile.get(), 0, 0);
    cairo_pattern_set_filter(cairo_get_source(cr), CAIRO_FILTER_NEAREST);
    cairo_paint(cr);
    cairo_restore(cr);
  }
  canvas.save(path);
}

}  // namespace kiln::cli
