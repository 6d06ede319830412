// Shapes are lists of extents, outermost first (NHWC for images).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "kiln/export.h"

namespace kiln {

using Shape = std::vector<std::int64_t>;

// Number of elements; throws Error on a negative extent or on overflow of int64.
KILN_API std::int64_t shape_numel(const Shape& shape);
// "(2, 28, 28, 1)" — Python's tuple notation, as Keras prints shapes.
KILN_API std::string shape_str(const Shape& shape);
// Keras notation with an unknown batch: "(None, 26, 26, 64)".
KILN_API std::string batch_shape_str(const Shape& shape_without_batch);

}  // namespace kiln
