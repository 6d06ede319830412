// Channel numbers on the tiles of a feature-map or kernel grid (kiln features), drawn with Cairo.
#pragma once

#include "kiln/feature_maps.h"
#include "kiln/tensor.h"

namespace kiln::cli {

// Writes "0", "1", … into the top-left corner of each of `tiles` tiles of (tile_height,
// tile_width) values laid out as grid_layout() places them. `picture` is u8 (H, W, 1 or 3).
void label_tiles(Tensor& picture, std::int64_t tiles, std::int64_t tile_height,
                 std::int64_t tile_width, const GridOptions& options);

}  // namespace kiln::cli
