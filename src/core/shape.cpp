#include "kiln/shape.h"

#include <limits>

#include "core/check.h"

namespace kiln {

std::int64_t shape_numel(const Shape& shape) {
  std::int64_t count = 1;
  for (std::int64_t extent : shape) {
    KILN_CHECK(extent >= 0, "shape {}: extents must be >= 0, found {}", shape_str(shape), extent);
    KILN_CHECK(extent == 0 || count <= std::numeric_limits<std::int64_t>::max() / extent,
               "shape {}: element count overflows 64 bits", shape_str(shape));
    count *= extent;
  }
  return count;
}

std::string shape_str(const Shape& shape) {
  std::string text = "(";
  for (std::size_t i = 0; i < shape.size(); ++i) {
    if (i > 0) text += ", ";
    text += std::to_string(shape[i]);
  }
  if (shape.size() == 1) text += ",";
  return text + ")";
}

std::string batch_shape_str(const Shape& shape_without_batch) {
  std::string text = "(None";
  for (std::int64_t extent : shape_without_batch) text += ", " + std::to_string(extent);
  return text + ")";
}

}  // namespace kiln
