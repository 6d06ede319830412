// A small chart toolkit over the shared Cairo canvas (cairo_canvas.h), for the run directory's
// pictures (plots.h): colours, anchored and rotated text, "nice" tick steps, line charts with axes,
// grid, legend and panel title, matplotlib's Blues colour map with its colour bar, and writing the
// finished canvas as a PNG.
#pragma once

#include <cairo.h>

#include <cstdint>
#include <string>
#include <vector>

#include "cairo_canvas.h"

namespace kiln::cli {

struct Rgb {
  double r, g, b;
};

inline constexpr Rgb kBlack{0, 0, 0};
// matplotlib's "tab10" colours: a series' training curve takes an even one, validation the next.
inline constexpr Rgb kPalette[] = {{0.122, 0.467, 0.706}, {1.0, 0.498, 0.055},
                                   {0.173, 0.627, 0.173}, {0.839, 0.153, 0.157},
                                   {0.580, 0.404, 0.741}, {0.549, 0.337, 0.294}};
inline constexpr std::size_t kPaletteSize = sizeof kPalette / sizeof kPalette[0];

struct Rect {
  double x, y, w, h;
};

void set_color(cairo_t* cr, Rgb c);
// The charts' font (DejaVu Sans), normal or bold.
void select_chart_font(cairo_t* cr, bool bold = false);
// Draws `text` with its anchor at (x, y): ax 0/0.5/1 = left/centre/right, ay likewise for
// top/middle/baseline-ish bottom.
void text_at(cairo_t* cr, const std::string& text, double x, double y, double size, double ax = 0,
             double ay = 0.5, bool bold = false);
// Rotated text, its anchor (centre, middle) at (x, y), `angle` in radians.
void rotated_text(cairo_t* cr, const std::string& text, double x, double y, double size,
                  double angle, double ax = 0.5);

// 1, 2 or 5 times a power of ten, near range / target.
double nice_step(double range, int target);
// `value` with as many decimals as `step` needs.
std::string tick_label(double value, double step);

// One line of a chart: values at x = 1, 2, …
struct Curve {
  std::string label;
  std::vector<double> values;
  Rgb color;
};

// A line chart in `area`: title, y axis with grid, x axis in epochs, the curves, a frame and a
// legend (top right, or bottom right).
void draw_panel(cairo_t* cr, Rect area, const std::string& title, const std::vector<Curve>& curves,
                bool legend_at_top);

// matplotlib's "Blues" colour map at t in [0, 1].
Rgb blues(double t);
// A vertical Blues colour bar in `bar` with ticks from 0 to max_count.
void draw_colorbar(cairo_t* cr, Rect bar, std::int32_t max_count);

// Writes the canvas as a PNG, atomically; an Error naming `path` when drawing failed.
void save_chart(Canvas& canvas, const std::string& path);

}  // namespace kiln::cli
