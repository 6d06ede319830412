// Looking inside a trained model: the activations of one layer for one input (a sub-model ending
// at that layer, as Keras's Model(inputs=model.input, outputs=layer.output)) and the learned
// kernels of a Conv2D layer, drawn as grids of tiles (u8 pictures for write_png).
#pragma once

#include <cstdint>
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
  std::int64_t columns = 16;   // tiles per row (fewer when there are fewer tiles)
  std::int64_t separator = 1;  // pixels of white between tiles
  std::int64_t zoom = 0;       // pixels per value; 0: the smallest making tiles >= 24 px
  Colormap colormap = Colormap::viridis;
};

// The pixel size of a grid of `tiles` tiles of (height, width) values: {rows, columns, zoom,
// picture height, picture width}.
struct GridLayout {
  std::int64_t rows = 0, columns = 0, zoom = 1, height = 0, width = 0;
};
KILN_API GridLayout grid_layout(std::int64_t tiles, std::int64_t height, std::int64_t width,
                                const GridOptions& options);

// Every channel of activations (1, h, w, c) or (h, w, c) as a tile, each normalised on its own
// (its min -> 0, its max -> 255; a constant map is 0), in channel order, row by row.
KILN_API Tensor feature_map_grid(const Tensor& activations, const GridOptions& options = {});
// A Conv2D kernel (kh, kw, in, out): one tile per (input channel, filter) pair, input-channel
// major, normalised together over the whole kernel so tiles compare.
KILN_API Tensor kernel_grid(const Tensor& kernel, const GridOptions& options = {});

}  // namespace kiln
