// Images: PNG and JPEG files (libpng, libjpeg-turbo) as u8 tensors (height, width, channels) with
// 1 (grey), 2 (grey + alpha), 3 (RGB) or 4 (RGBA) channels; hand-made kernels applied with
// Pillow's ImageFilter.Kernel arithmetic (bit-exact on the CPU); pooling of pictures. Pooling runs
// through kiln's pooling ops, and filtering on a CUDA device through conv2d.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "kiln/device.h"
#include "kiln/export.h"
#include "kiln/ops.h"
#include "kiln/tensor.h"

namespace kiln {

// The largest image read_image accepts, in pixels (64 Mi). A header claiming more is rejected
// before any pixel memory is allocated.
inline constexpr std::int64_t kMaxImagePixels = std::int64_t{1} << 26;

// ---- files
// Reads a PNG or JPEG, told apart by the magic bytes (not the name). PNG: any bit depth, palette
// images become RGB(A), a tRNS chunk becomes alpha; the channels follow the file (grey,
// grey+alpha, RGB, RGBA); samples are taken as stored (gAMA / iCCP are ignored, as Pillow does);
// 16-bit samples keep their high byte (v >> 8), which is what Pillow gives for 16-bit RGB, RGBA
// and LA files (Pillow opens 16-bit grey as mode "I" with the full values; v >> 8 of those).
// JPEG: grey or RGB. Error naming the file for an unreadable file, a file that is neither, a
// truncated or corrupt file, a CMYK JPEG, or a header claiming more than kMaxImagePixels.
KILN_API Tensor read_image(const std::string& path);
// Write an image atomically (temp file, fsync, rename): on error no output file is left.
// PNG takes 1-4 channels; JPEG (quality 1..100) takes 1 or 3.
KILN_API void write_png(const std::string& path, const Tensor& image);
KILN_API void write_jpeg(const std::string& path, const Tensor& image, int quality = 90);
// By extension: .png, or .jpg / .jpeg (any case).
KILN_API void write_image(const std::string& path, const Tensor& image);

// Checks that `image` is a u8 (height, width, 1..4) tensor; Error naming `what` otherwise.
KILN_API void check_image(const Tensor& image, const std::string& what);
// Grey (h, w, 1) with Pillow's convert("L") weights (ITU-R 601-2 luma, 16-bit fixed point);
// alpha is dropped; a grey image is returned as it is (without its alpha).
KILN_API Tensor to_grayscale(const Tensor& image);
// RGB (h, w, 3): grey is repeated in the three channels, alpha is dropped.
KILN_API Tensor to_rgb(const Tensor& image);

// ---- kernels
// A square kernel of odd size, weights row by row as Pillow's ImageFilter.Kernel takes them.
struct KILN_API ImageKernel {
  std::string name;  // "edge_1", or "custom" for a list
  std::int64_t size = 0;
  std::vector<double> weights;  // size * size
  std::string description;
  // The kernel's own divisor and offset (FilterOptions overrides them). No scale: the sum of the
  // weights, or 1 when that sum is 0.
  std::optional<double> scale;
  double offset = 0.0;
};
// The named kernels: identity, edge_1, edge_2 (the seed's, with the seed's scale 1 and offset
// 0), ridge_4, ridge_8, sharpen, box_blur, gaussian_3, gaussian_5, unsharp_5, sobel_x, sobel_y,
// emboss, and Pillow's built-in filters under their Pillow names with their scale and offset:
// BLUR, CONTOUR, DETAIL, EDGE_ENHANCE, EDGE_ENHANCE_MORE, EMBOSS, FIND_EDGES, SHARPEN, SMOOTH,
// SMOOTH_MORE.
KILN_API const std::vector<ImageKernel>& named_image_kernels();
// A kernel by name, or from a comma list "v1,v2,…" whose length is the square of an odd number.
KILN_API ImageKernel parse_image_kernel(const std::string& text);

// Which way round the weights meet the pixels. pillow: ImageFilter.Kernel's — the first row of
// weights meets the row *below* the centre pixel, the first column the pixel to its left (a
// correlation with the kernel flipped upside down). keras: a Keras Conv2D's (a correlation: the
// first row meets the row above). The two agree on kernels symmetric top to bottom.
enum class KernelOrientation : unsigned char { pillow, keras };

struct FilterOptions {
  // Divisor of the weighted sum; default: the kernel's scale, else the sum of the weights, or 1
  // when that sum is 0 (Pillow 9.4 divides by the zero sum and returns a black picture).
  // An explicit 0 (or a non-finite value) is an Error.
  std::optional<double> scale;
  std::optional<double> offset;  // added after the division; default: the kernel's offset
  // None: Pillow's borders (same size; the outer size/2 rows and columns are copied unfiltered,
  // an image smaller than the kernel is returned unchanged). Otherwise conv2d's padding (zeros)
  // and output size. With a stride above 1 the default is valid.
  // Each side's padding may be at most the image's extent on that axis plus the kernel size
  // (more is an Error, before anything is allocated).
  std::optional<Padding> padding;
  std::int64_t stride = 1;
  KernelOrientation orientation = KernelOrientation::pillow;
  // Default: the CPU. On the CPU the result is bit-exact with Pillow; on a CUDA device the filter
  // runs through conv2d and may differ by 1 where a sum lands on a rounding tie.
  std::optional<Device> device;
};

// Pillow's ImageFilter.Kernel(size, weights, scale, offset) applied to every channel (alpha
// included, as Pillow does), with Pillow's float32 arithmetic: weights pre-divided by the scale
// in float32, each kernel row's products summed left to right and added to offset + 0.5, then
// truncated and clamped to 0..255. Any odd size works (Pillow takes 3 and 5 only). Direct
// convolution, parallel over rows: memory is the output plus a few rows.
KILN_API Tensor filter_image(const Tensor& image, const ImageKernel& kernel,
                             const FilterOptions& options = {});

enum class PoolMode : unsigned char { max, min, avg };
// "max", "min" or "avg" (also "average"); anything else is an Error listing these.
KILN_API PoolMode parse_pool_mode(const std::string& text);

// The window (pool_size, strides, padding) as the pooling layers take it, the mode and the device.
struct PoolImageOptions : PoolWindow {
  PoolMode mode = PoolMode::max;
  std::optional<Device> device;  // default: default_device()
};

// Pools every channel of an image; averages are rounded half up.
KILN_API Tensor pool_image(const Tensor& image, const PoolImageOptions& options = {});

}  // namespace kiln
