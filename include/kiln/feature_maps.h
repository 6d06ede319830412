// Looking inside a trained model: the activations of one layer for one input (a sub-model ending
// at that layer, as Keras's Model(inputs=model.input, outputs=layer.output)) and the learned
// kernels of a Conv2D layer, drawn as grids of tiles (u8 pictures for write_png).
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "kiln/export.h"
#include "kiln/model.h"
#include "kiln/tensor.h"

namespace kiln {

// The name of the model's first Conv2D layer; Error when it has none.
KILN_API std::string first_conv_layer(const Model& model);

// Output of layer `layer_name` for `input` (the model's single input with its batch axis, e.g.
// (1, 28, 28, 1); f32 or u8 converted to f32), computed by running the layers that feed it, on
// the model's device, without recording on a tape. Returned on the CPU. An unknown name is an Error
// listing the model's layers.
KILN_API Tensor layer_activations(Model& model, const Tensor& input, const std::string& layer_name);

enum class Colormap : unsigned char { gray, viridis };
// "gray" (also "grey") or "viridis"; anything else is an Error listing these.
KILN_API Colormap parse_colormap(const std::string& text);
// u8 (h, w, 1) -> (h, w, 1) for gray, (h, w, 3) for viridis (matplotlib's default colormap,
// interpolated between ten of its colours).
KILN_API Tensor apply_colormap(const Tensor& gray, Colormap colormap);

struct GridOptions {
  std::int64_t columns = 16;    // tiles per row (fewer when there are fewer tiles)
  std::int64_t separator = 1;   // pixels of white between tiles
  std::int64_t zoom = 0;        // pixels per value; 0: the smallest making tiles >= 64 px
  std::int64_t label_band = 0;  // rows of white above each row of tiles, for labels (0..64)
  Colormap colormap = Colormap::viridis;
};

// Where the tiles of a grid of `tiles` tiles of (height, width) values go: rows and columns of
// tiles, the zoom, the picture's size, and each tile's zoomed size and top-left corner.
struct KILN_API GridLayout {
  std::int64_t rows = 0, columns = 0, zoom = 1, height = 0, width = 0;
  std::int64_t tile_height = 0, tile_width = 0, separator = 0, label_band = 0;
  std::int64_t top(std::int64_t tile) const {
    return (tile / columns) * (label_band + tile_height + separator) + label_band;
  }
  std::int64_t left(std::int64_t tile) const { return (tile % columns) * (tile_width + separator); }
};
KILN_API GridLayout grid_layout(std::int64_t tiles, std::int64_t height, std::int64_t width,
                                const GridOptions& options);

// Every channel of activations (1, h, w, c) or (h, w, c) as a tile, each normalised on its own
// (its min -> 0, its max -> 255; a constant map is 0), in channel order, row by row.
KILN_API Tensor feature_map_grid(const Tensor& activations, const GridOptions& options = {});
// A Conv2D kernel (kh, kw, in, out) as one (kh, kw) slice per filter: (kh, kw, out), the mean over
// the input channels, or input channel `input_channel` alone (Error when out of range).
KILN_API Tensor kernel_slices(const Tensor& kernel, std::optional<std::int64_t> input_channel = {});
// One tile per filter (output channel) of kernel_slices(kernel, input_channel), normalised
// together (the smallest value -> 0, the largest -> 255) so tiles compare.
KILN_API Tensor kernel_grid(const Tensor& kernel, const GridOptions& options = {},
                            std::optional<std::int64_t> input_channel = {});

}  // namespace kiln
