// The picture kiln features writes: a title, the grid of tiles with each channel's number in the
// white band above its tile (never on the data), and a colour bar with the value range, drawn
// with Cairo around a grid made by kiln::feature_map_grid / kernel_grid.
#pragma once

#include <cstdint>
#include <string>

#include "kiln/feature_maps.h"
#include "kiln/tensor.h"

namespace kiln::cli {

// Rows of white above each row of tiles that the labels need (GridOptions::label_band).
inline constexpr std::int64_t kLabelBand = 14;

struct FigureText {
  std::string title;      // e.g. "model.h5 · conv2d · 64 feature maps of test image 0"
  std::string low, high;  // the colour bar's ends, e.g. "-0.31" and "0.42"
  std::string caption;    // under the colour bar's high end, e.g. "each map: own range"
};

// Where the grid's top-left corner lands in the figure.
struct FigureOrigin {
  std::int64_t top = 0, left = 0;
};
FigureOrigin figure_origin();

// `grid` is u8 (H, W, 1 or 3) laid out by `layout` (with label_band >= kLabelBand) holding
// `tiles` tiles; returns the RGB figure (h, w, 3) with the grid's pixels unchanged at
// figure_origin().
Tensor compose_figure(const Tensor& grid, const GridLayout& layout, std::int64_t tiles,
                      Colormap colormap, const FigureText& text);

}  // namespace kiln::cli
