// The named image kernels (the seed's two edge filters, the usual ones from the image-processing
// literature, and Pillow's built-in filters under their Pillow names) and the parser for "NAME"
// or "v1,v2,…".
#include <cctype>
#include <cmath>
#include <cstdint>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "core/check.h"
#include "kiln/image.h"

namespace kiln {

namespace {

ImageKernel make_kernel(std::string name, std::int64_t size, std::vector<double> weights,
                        std::string description, std::optional<double> scale = {},
                        double offset = 0.0) {
  return ImageKernel{std::move(name),        size,  std::move(weights),
                     std::move(description), scale, offset};
}

// Pillow's ImageFilter built-ins (PIL/ImageFilter.py, 9.4): weights, scale and offset as there.
std::vector<ImageKernel> pillow_builtin_kernels() {
  return {
      make_kernel("BLUR", 5,
                  {1, 1, 1, 1, 1, 1, 0, 0, 0, 1, 1, 0, 0, 0, 1, 1, 0, 0, 0, 1, 1, 1, 1, 1, 1},
                  "Pillow's ImageFilter.BLUR (scale 16)", 16.0),
      make_kernel("CONTOUR", 3, {-1, -1, -1, -1, 8, -1, -1, -1, -1},
                  "Pillow's ImageFilter.CONTOUR (scale 1, offset 255)", 1.0, 255.0),
      make_kernel("DETAIL", 3, {0, -1, 0, -1, 10, -1, 0, -1, 0},
                  "Pillow's ImageFilter.DETAIL (scale 6)", 6.0),
      make_kernel("EDGE_ENHANCE", 3, {-1, -1, -1, -1, 10, -1, -1, -1, -1},
                  "Pillow's ImageFilter.EDGE_ENHANCE (scale 2)", 2.0),
      make_kernel("EDGE_ENHANCE_MORE", 3, {-1, -1, -1, -1, 9, -1, -1, -1, -1},
                  "Pillow's ImageFilter.EDGE_ENHANCE_MORE (scale 1)", 1.0),
      make_kernel("EMBOSS", 3, {-1, 0, 0, 0, 1, 0, 0, 0, 0},
                  "Pillow's ImageFilter.EMBOSS (scale 1, offset 128)", 1.0, 128.0),
      make_kernel("FIND_EDGES", 3, {-1, -1, -1, -1, 8, -1, -1, -1, -1},
                  "Pillow's ImageFilter.FIND_EDGES (scale 1)", 1.0),
      make_kernel("SHARPEN", 3, {-2, -2, -2, -2, 32, -2, -2, -2, -2},
                  "Pillow's ImageFilter.SHARPEN (scale 16)", 16.0),
      make_kernel("SMOOTH", 3, {1, 1, 1, 1, 5, 1, 1, 1, 1},
                  "Pillow's ImageFilter.SMOOTH (scale 13)", 13.0),
      make_kernel("SMOOTH_MORE", 5,
                  {1, 1, 1, 1, 1, 1, 5, 5, 5, 1, 1, 5, 44, 5, 1, 1, 5, 5, 5, 1, 1, 1, 1, 1, 1},
                  "Pillow's ImageFilter.SMOOTH_MORE (scale 100)", 100.0),
  };
}

std::vector<ImageKernel> build_named_kernels() {
  std::vector<ImageKernel> kernels = {
      make_kernel("identity", 3, {0, 0, 0, 0, 1, 0, 0, 0, 0}, "returns the image unchanged"),
      make_kernel("edge_1", 3, {1, 0, -1, 1, 0, -1, 1, 0, -1},
                  "the seed's vertical edges (1,0,-1 in every row; scale 1 as the seed)", 1.0),
      make_kernel("edge_2", 3, {0, 1, 0, 0, 1, 0, 0, 1, 0},
                  "the seed's vertical lines (0,1,0 in every row; scale 1 as the seed)", 1.0),
      make_kernel("ridge_4", 3, {0, -1, 0, -1, 4, -1, 0, -1, 0},
                  "ridge/edge detection, 4 neighbours"),
      make_kernel("ridge_8", 3, {-1, -1, -1, -1, 8, -1, -1, -1, -1},
                  "ridge/edge detection, 8 neighbours"),
      make_kernel("sharpen", 3, {0, -1, 0, -1, 5, -1, 0, -1, 0}, "sharpen"),
      make_kernel("box_blur", 3, {1, 1, 1, 1, 1, 1, 1, 1, 1}, "3x3 mean (scale 9)"),
      make_kernel("gaussian_3", 3, {1, 2, 1, 2, 4, 2, 1, 2, 1}, "3x3 Gaussian blur (scale 16)"),
      make_kernel("gaussian_5", 5, {1,  4, 6, 4,  1,  4,  16, 24, 16, 4, 6, 24, 36,
                                    24, 6, 4, 16, 24, 16, 4,  1,  4,  6, 4, 1},
                  "5x5 Gaussian blur (scale 256)"),
      make_kernel("unsharp_5", 5, {-1,  -4, -6, -4,  -1,  -4,  -16, -24, -16, -4, -6, -24, 476,
                                   -24, -6, -4, -16, -24, -16, -4,  -1,  -4,  -6, -4, -1},
                  "5x5 unsharp masking (scale 256)"),
      make_kernel("sobel_x", 3, {-1, 0, 1, -2, 0, 2, -1, 0, 1}, "Sobel, horizontal gradient"),
      make_kernel("sobel_y", 3, {-1, -2, -1, 0, 0, 0, 1, 2, 1}, "Sobel, vertical gradient"),
      make_kernel("emboss", 3, {-2, -1, 0, -1, 1, 1, 0, 1, 2}, "emboss"),
  };
  for (ImageKernel& k : pillow_builtin_kernels()) kernels.push_back(std::move(k));
  return kernels;
}

std::string kernel_names() {
  std::string names;
  for (const ImageKernel& k : named_image_kernels()) names += (names.empty() ? "" : ", ") + k.name;
  return names;
}

double parse_weight(const std::string& item, const std::string& text) {
  std::size_t used = 0;
  double value = 0.0;
  try {
    value = std::stod(item, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  while (used < item.size() && std::isspace(static_cast<unsigned char>(item[used]))) ++used;
  KILN_CHECK(used > 0 && used == item.size() && std::isfinite(value),
             "kernel: '{}' is not a number in '{}' (expected a kernel name — {} — or a comma list "
             "of weights)",
             item, text, kernel_names());
  return value;
}

std::vector<double> parse_weights(const std::string& text) {
  std::vector<double> weights;
  std::stringstream stream(text);
  std::string item;
  while (std::getline(stream, item, ',')) weights.push_back(parse_weight(item, text));
  if (!text.empty() && text.back() == ',') weights.push_back(parse_weight("", text));
  return weights;
}

}  // namespace

const std::vector<ImageKernel>& named_image_kernels() {
  static const std::vector<ImageKernel> kernels = build_named_kernels();
  return kernels;
}

ImageKernel parse_image_kernel(const std::string& text) {
  for (const ImageKernel& k : named_image_kernels()) {
    if (k.name == text) return k;
  }
  KILN_CHECK(!text.empty(),
             "kernel: empty (expected a kernel name — {} — or a comma list of "
             "weights)",
             kernel_names());
  const bool looks_like_a_name = text.find(',') == std::string::npos &&
                                 std::isalpha(static_cast<unsigned char>(text.front())) != 0;
  KILN_CHECK(!looks_like_a_name,
             "kernel: unknown name '{}' (names: {}; or a comma list of weights)", text,
             kernel_names());
  std::vector<double> weights = parse_weights(text);
  const auto count = static_cast<std::int64_t>(weights.size());
  const auto size = static_cast<std::int64_t>(std::llround(std::sqrt(static_cast<double>(count))));
  KILN_CHECK(size * size == count && size % 2 == 1,
             "kernel: {} weights is not the square of an odd number (expected 1, 9, 25, 49, … "
             "for a 1x1, 3x3, 5x5, 7x7, … kernel)",
             count);
  return make_kernel("custom", size, std::move(weights), "from a list");
}

}  // namespace kiln
