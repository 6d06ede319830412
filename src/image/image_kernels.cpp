// The named image kernels (the seed's two edge filters and the usual ones from the image-
// processing literature) and the parser for "NAME" or "v1,v2,…".
#include <cmath>
#include <cstdint>
#include <sstream>
#include <string>
#include <vector>

#include "core/check.h"
#include "kiln/image.h"

namespace kiln {

namespace {

ImageKernel make_kernel(std::string name, std::int64_t size, std::vector<double> weights,
                        std::string description) {
  return ImageKernel{std::move(name), size, std::move(weights), std::move(description)};
}

std::vector<ImageKernel> build_named_kernels() {
  return {
      make_kernel("identity", 3, {0, 0, 0, 0, 1, 0, 0, 0, 0}, "returns the image unchanged"),
      make_kernel("edge_1", 3, {1, 0, -1, 1, 0, -1, 1, 0, -1},
                  "the seed's vertical edges (1,0,-1 in every row)"),
      make_kernel("edge_2", 3, {0, 1, 0, 0, 1, 0, 0, 1, 0},
                  "the seed's vertical lines (0,1,0 in every row)"),
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
