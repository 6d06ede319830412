// Images: PNG/JPEG round trips and bad files (not an image, truncated, huge header), kernels with
// known answers (identity, edge_1 on a step edge, Pillow's orientation and rounding), output sizes
// against conv2d's, pooling, and Pillow itself (Debian python3-pil, run as /usr/bin/python3) on a
// photograph that a Debian package ships (python-matplotlib-data's grace_hopper.jpg).
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "kiln/error.h"
#include "kiln/image.h"
#include "kiln/ops.h"
#include "temp_dir.h"

namespace fs = std::filesystem;
using kiln::Tensor;

namespace {

// Debian's python3-pil lives in the system Python, not in a pyenv `python3` that may come first.
constexpr const char* kPython = "/usr/bin/python3";
// A real photograph shipped by Debian's python-matplotlib-data (512 x 600, RGB JPEG).
constexpr const char* kPhoto = "/usr/share/matplotlib/mpl-data/sample_data/grace_hopper.jpg";
// A second picture from the same package (an RGBA PNG of a present on a white background).
constexpr const char* kSecondPhoto =
    "/usr/share/matplotlib/mpl-data/sample_data/Minduka_Present_Blue_Pack.png";

using ImageTest = kiln::testing::TempDirTest;

using ImageIo = ImageTest;
using ImageFilter = ImageTest;
using ImagePillow = ImageTest;

Tensor image_from(const std::vector<int>& values, std::int64_t height, std::int64_t width,
                  std::int64_t channels = 1) {
  std::vector<std::uint8_t> bytes(values.begin(), values.end());
  return Tensor::from_vector(bytes, {height, width, channels});
}

Tensor random_image(std::int64_t height, std::int64_t width, std::int64_t channels, unsigned seed) {
  std::mt19937 generator(seed);
  std::vector<std::uint8_t> bytes(static_cast<std::size_t>(height * width * channels));
  for (auto& b : bytes) b = static_cast<std::uint8_t>(generator() & 0xff);
  return Tensor::from_vector(bytes, {height, width, channels});
}

// Smooth enough for JPEG to keep within a few levels.
Tensor gradient_image(std::int64_t height, std::int64_t width, std::int64_t channels) {
  std::vector<std::uint8_t> bytes;
  for (std::int64_t y = 0; y < height; ++y) {
    for (std::int64_t x = 0; x < width; ++x) {
      for (std::int64_t c = 0; c < channels; ++c) {
        bytes.push_back(static_cast<std::uint8_t>(x * 2 + y * 2 + c * 30));
      }
    }
  }
  return Tensor::from_vector(bytes, {height, width, channels});
}

std::vector<int> pixels(const Tensor& image) {
  std::vector<std::uint8_t> bytes = image.to_vector<std::uint8_t>();
  return {bytes.begin(), bytes.end()};
}

int max_difference(const Tensor& a, const Tensor& b) {
  EXPECT_EQ(a.shape(), b.shape());
  if (a.shape() != b.shape()) return 256;
  const std::vector<int> pa = pixels(a), pb = pixels(b);
  int worst = 0;
  for (std::size_t i = 0; i < pa.size(); ++i) worst = std::max(worst, std::abs(pa[i] - pb[i]));
  return worst;
}

std::string read_bytes(const std::string& file) {
  std::ifstream in(file, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

void write_bytes(const std::string& file, const std::string& bytes) {
  std::ofstream(file, std::ios::binary) << bytes;
}

// Expects `call` to throw kiln::Error whose message contains `fragment`.
template <class Call>
void expect_error(Call call, const std::string& fragment) {
  try {
    call();
    ADD_FAILURE() << "expected an Error containing '" << fragment << "'";
  } catch (const kiln::Error& e) {
    EXPECT_NE(std::string(e.what()).find(fragment), std::string::npos) << e.what();
  }
}

std::string big_endian(std::uint32_t value) {
  return {static_cast<char>(value >> 24), static_cast<char>(value >> 16),
          static_cast<char>(value >> 8), static_cast<char>(value)};
}

// A PNG chunk with its length and CRC.
std::string png_chunk(const std::string& type, const std::string& data) {
  const std::string body = type + data;
  const auto crc = static_cast<std::uint32_t>(
      crc32(0, reinterpret_cast<const Bytef*>(body.data()), static_cast<uInt>(body.size())));
  return big_endian(static_cast<std::uint32_t>(data.size())) + body + big_endian(crc);
}

// --------------------------------------------------------------------------------------- files

TEST_F(ImageIo, PngRoundTripsEveryChannelCount) {
  for (std::int64_t channels = 1; channels <= 4; ++channels) {
    const Tensor image = random_image(7, 11, channels, static_cast<unsigned>(channels));
    const std::string file = path(fmt::format("c{}.png", channels));
    kiln::write_png(file, image);
    const Tensor back = kiln::read_image(file);
    EXPECT_EQ(back.shape(), image.shape()) << channels;
    EXPECT_EQ(pixels(back), pixels(image)) << channels;
  }
}

TEST_F(ImageIo, JpegRoundTripsGreyAndRgbClosely) {
  for (std::int64_t channels : {1, 3}) {
    const Tensor image = gradient_image(32, 48, channels);
    const std::string file = path(fmt::format("c{}.jpg", channels));
    kiln::write_jpeg(file, image, 95);
    const Tensor back = kiln::read_image(file);
    EXPECT_EQ(back.shape(), image.shape());
    EXPECT_LE(max_difference(back, image), 12) << channels;
  }
}

TEST_F(ImageIo, FormatComesFromMagicBytesAndWriteImageFromExtension) {
  const Tensor image = random_image(5, 6, 3, 7);
  kiln::write_image(path("a.PNG"), image);
  fs::rename(path("a.PNG"), path("really_a_png.jpg"));
  EXPECT_EQ(pixels(kiln::read_image(path("really_a_png.jpg"))), pixels(image));
  kiln::write_image(path("b.jpeg"), gradient_image(16, 16, 3));
  EXPECT_EQ(read_bytes(path("b.jpeg")).substr(0, 3), "\xff\xd8\xff");
  expect_error([&] { kiln::write_image(path("c.bmp"), image); }, "unknown extension");
  EXPECT_FALSE(fs::exists(path("c.bmp")));
}

TEST_F(ImageIo, NotAnImageIsAnError) {
  write_bytes(path("text.png"), "this is not a picture");
  expect_error([&] { kiln::read_image(path("text.png")); }, "not a PNG or JPEG");
  write_bytes(path("empty.png"), "");
  expect_error([&] { kiln::read_image(path("empty.png")); }, "empty");
  expect_error([&] { kiln::read_image(path("missing.png")); }, "cannot open");
}

TEST_F(ImageIo, TruncatedPngIsAnError) {
  kiln::write_png(path("full.png"), random_image(64, 64, 3, 3));
  const std::string bytes = read_bytes(path("full.png"));
  write_bytes(path("cut.png"), bytes.substr(0, bytes.size() / 2));
  expect_error([&] { kiln::read_image(path("cut.png")); }, "truncated or corrupt PNG");
  write_bytes(path("header_only.png"), bytes.substr(0, 40));
  expect_error([&] { kiln::read_image(path("header_only.png")); }, "PNG");
}

TEST_F(ImageIo, TruncatedJpegIsAnError) {
  kiln::write_jpeg(path("full.jpg"), gradient_image(64, 64, 3), 90);
  const std::string bytes = read_bytes(path("full.jpg"));
  write_bytes(path("cut.jpg"), bytes.substr(0, bytes.size() / 2));
  expect_error([&] { kiln::read_image(path("cut.jpg")); }, "truncated or corrupt JPEG");
  write_bytes(path("header_cut.jpg"), bytes.substr(0, 30));
  expect_error([&] { kiln::read_image(path("header_cut.jpg")); }, "JPEG");
}

TEST_F(ImageIo, PngHeaderClaimingHugeDimensionsIsRejected) {
  // 60000 x 60000 RGB, valid CRCs, an empty zlib stream for pixels: rejected from the header.
  const std::string ihdr =
      big_endian(60000) + big_endian(60000) + std::string("\x08\x02\x00\x00\x00", 5);
  const std::string png = std::string("\x89PNG\r\n\x1a\n", 8) + png_chunk("IHDR", ihdr) +
                          png_chunk("IDAT", std::string("\x78\x9c\x03\x00\x00\x00\x00\x01", 8)) +
                          png_chunk("IEND", "");
  write_bytes(path("huge.png"), png);
  expect_error([&] { kiln::read_image(path("huge.png")); }, "claims 60000x60000 pixels");
}

TEST_F(ImageIo, JpegHeaderClaimingHugeDimensionsIsRejected) {
  kiln::write_jpeg(path("small.jpg"), gradient_image(16, 16, 3), 90);
  std::string bytes = read_bytes(path("small.jpg"));
  const std::size_t sof = bytes.find("\xff\xc0");
  ASSERT_NE(sof, std::string::npos);
  // SOF0: marker, length (2), precision (1), height (2), width (2).
  bytes.replace(sof + 5, 4, big_endian((60000u << 16) | 60000u));
  write_bytes(path("huge.jpg"), bytes);
  expect_error([&] { kiln::read_image(path("huge.jpg")); }, "claims 60000x60000 pixels");
}

TEST_F(ImageIo, BadWritesLeaveNoFile) {
  expect_error([&] { kiln::write_jpeg(path("rgba.jpg"), random_image(4, 4, 4, 1)); },
               "grey or RGB");
  expect_error([&] { kiln::write_png(path("f32.png"), Tensor::zeros({4, 4, 1})); }, "u8 image");
  expect_error([&] { kiln::write_png(path("five.png"), random_image(2, 2, 5, 1)); }, "1 to 4");
  expect_error([&] { kiln::write_jpeg(path("q.jpg"), random_image(4, 4, 3, 1), 0); }, "quality");
  EXPECT_TRUE(entries().empty());
  expect_error([&] { kiln::write_png(path("no/such/dir/x.png"), random_image(4, 4, 3, 1)); },
               "x.png");
}

TEST(ImageGrey, FollowsPillowsLumaWeights) {
  const Tensor rgb = image_from({255, 0, 0, 0, 255, 0, 0, 0, 255, 10, 20, 30}, 2, 2, 3);
  // (r * 19595 + g * 38470 + b * 7471 + 32768) >> 16
  EXPECT_EQ(pixels(kiln::to_grayscale(rgb)), (std::vector<int>{76, 150, 29, 18}));
  const Tensor grey_alpha = image_from({5, 255, 6, 0}, 1, 2, 2);
  EXPECT_EQ(pixels(kiln::to_grayscale(grey_alpha)), (std::vector<int>{5, 6}));
  EXPECT_EQ(pixels(kiln::to_rgb(grey_alpha)), (std::vector<int>{5, 5, 5, 6, 6, 6}));
  const Tensor rgba = image_from({1, 2, 3, 4, 5, 6, 7, 8}, 1, 2, 4);
  EXPECT_EQ(pixels(kiln::to_rgb(rgba)), (std::vector<int>{1, 2, 3, 5, 6, 7}));
}

// ------------------------------------------------------------------------------------- kernels

TEST(ImageKernels, NamedKernelsAreThere) {
  for (const char* name :
       {"identity", "edge_1",     "edge_2",     "ridge_4",   "ridge_8",      "sharpen",
        "box_blur", "gaussian_3", "gaussian_5", "unsharp_5", "sobel_x",      "sobel_y",
        "emboss",   "BLUR",       "CONTOUR",    "DETAIL",    "EDGE_ENHANCE", "EDGE_ENHANCE_MORE",
        "EMBOSS",   "FIND_EDGES", "SHARPEN",    "SMOOTH",    "SMOOTH_MORE"}) {
    const kiln::ImageKernel k = kiln::parse_image_kernel(name);
    EXPECT_EQ(k.name, name);
    EXPECT_EQ(static_cast<std::int64_t>(k.weights.size()), k.size * k.size) << name;
  }
  EXPECT_EQ(kiln::parse_image_kernel("edge_1").weights,
            (std::vector<double>{1, 0, -1, 1, 0, -1, 1, 0, -1}));
  EXPECT_EQ(kiln::parse_image_kernel("edge_2").weights,
            (std::vector<double>{0, 1, 0, 0, 1, 0, 0, 1, 0}));
  EXPECT_EQ(kiln::parse_image_kernel("gaussian_5").size, 5);
}

TEST(ImageKernels, ListsOfOddSquareLength) {
  EXPECT_EQ(kiln::parse_image_kernel("1, 2,3,4,5,6,7,8,-9.5").weights,
            (std::vector<double>{1, 2, 3, 4, 5, 6, 7, 8, -9.5}));
  EXPECT_EQ(kiln::parse_image_kernel("7").size, 1);
  std::string seven(49 * 2 - 1, ',');
  for (std::size_t i = 0; i < seven.size(); i += 2) seven[i] = '1';
  EXPECT_EQ(kiln::parse_image_kernel(seven).size, 7);
  expect_error([] { kiln::parse_image_kernel("1,2,3,4"); }, "not the square of an odd number");
  expect_error([] { kiln::parse_image_kernel("1,2,3,4,5,6,7,8"); },
               "not the square of an odd number");
  expect_error([] { kiln::parse_image_kernel("1,2,x,4,5,6,7,8,9"); }, "'x' is not a number");
  expect_error([] { kiln::parse_image_kernel("1,2,3,4,5,6,7,8,9,"); }, "not a number");
  expect_error([] { kiln::parse_image_kernel("blur"); }, "edge_1");
  expect_error([] { kiln::parse_image_kernel("edge_3"); },
               "unknown name 'edge_3' (names: identity");
}

// ------------------------------------------------------------------------------------- filters

TEST_F(ImageFilter, IdentityReturnsTheInput) {
  const Tensor image = random_image(9, 13, 3, 11);
  const kiln::ImageKernel identity = kiln::parse_image_kernel("identity");
  EXPECT_EQ(pixels(kiln::filter_image(image, identity)), pixels(image));
  kiln::FilterOptions same;
  same.padding = kiln::Padding::same();
  EXPECT_EQ(pixels(kiln::filter_image(image, identity, same)), pixels(image));
  const Tensor rgba = random_image(6, 5, 4, 12);
  EXPECT_EQ(pixels(kiln::filter_image(rgba, identity)), pixels(rgba));
}

TEST_F(ImageFilter, Edge1OnAVerticalStepEdgeGivesTheKnownColumnProfile) {
  // 5 rows of 50 50 50 50 0 0 0 0: edge_1 gives 3 * (left - right neighbour), scale 1 (the
  // weights sum to 0), and Pillow copies the outer rows and columns.
  std::vector<int> values;
  for (int y = 0; y < 5; ++y) values.insert(values.end(), {50, 50, 50, 50, 0, 0, 0, 0});
  const Tensor step = image_from(values, 5, 8);
  const Tensor out = kiln::filter_image(step, kiln::parse_image_kernel("edge_1"));
  const std::vector<int> border = {50, 50, 50, 50, 0, 0, 0, 0};
  const std::vector<int> inner = {50, 0, 0, 150, 150, 0, 0, 0};
  std::vector<int> expected;
  for (int y = 0; y < 5; ++y) {
    const std::vector<int>& row = (y == 0 || y == 4) ? border : inner;
    expected.insert(expected.end(), row.begin(), row.end());
  }
  EXPECT_EQ(pixels(out), expected);

  // With zero padding ('same') every column is filtered; the top and bottom rows see two rows.
  kiln::FilterOptions same;
  same.padding = kiln::Padding::same();
  const std::vector<int> same_out =
      pixels(kiln::filter_image(step, kiln::parse_image_kernel("edge_1"), same));
  EXPECT_EQ(std::vector<int>(same_out.begin(), same_out.begin() + 8),
            (std::vector<int>{0, 0, 0, 100, 100, 0, 0, 0}));
  EXPECT_EQ(std::vector<int>(same_out.begin() + 16, same_out.begin() + 24),
            (std::vector<int>{0, 0, 0, 150, 150, 0, 0, 0}));
  // The other way round the edge is negative and clamps to 0; an offset brings it back.
  std::vector<int> flipped;
  for (int y = 0; y < 5; ++y) flipped.insert(flipped.end(), {0, 0, 0, 0, 50, 50, 50, 50});
  kiln::FilterOptions offset;
  offset.offset = 200;
  const std::vector<int> neg = pixels(
      kiln::filter_image(image_from(flipped, 5, 8), kiln::parse_image_kernel("edge_1"), offset));
  EXPECT_EQ(std::vector<int>(neg.begin() + 8, neg.begin() + 16),
            (std::vector<int>{0, 200, 200, 50, 50, 200, 200, 50}));
}

TEST_F(ImageFilter, PillowsOrientationAndRounding) {
  // An impulse of 90 under weights 1..9 / 9: Pillow puts weight 3 up-left of the impulse's
  // response and 9 down-left (the first row of weights meets the row below the centre).
  std::vector<int> values(49, 0);
  values[3 * 7 + 3] = 90;
  kiln::FilterOptions ninth;
  ninth.scale = 9;
  const std::vector<int> out = pixels(kiln::filter_image(
      image_from(values, 7, 7), kiln::parse_image_kernel("1,2,3,4,5,6,7,8,9"), ninth));
  const std::vector<int> rows = {out[2 * 7 + 2], out[2 * 7 + 3], out[2 * 7 + 4],
                                 out[3 * 7 + 2], out[3 * 7 + 3], out[3 * 7 + 4],
                                 out[4 * 7 + 2], out[4 * 7 + 3], out[4 * 7 + 4]};
  EXPECT_EQ(rows, (std::vector<int>{30, 20, 10, 60, 50, 40, 90, 80, 70}));
  // 1 under 1/2: exactly .5 rounds up; 1 under 1/4 rounds down.
  const Tensor ones = image_from(std::vector<int>(9, 1), 3, 3);
  kiln::FilterOptions half;
  half.scale = 18;
  EXPECT_EQ(pixels(kiln::filter_image(ones, kiln::parse_image_kernel("box_blur"), half))[4], 1);
  half.scale = 36;
  EXPECT_EQ(pixels(kiln::filter_image(ones, kiln::parse_image_kernel("box_blur"), half))[4], 0);
}

TEST_F(ImageFilter, KerasOrientationIsACorrelation) {
  // An impulse under a correlation gives the kernel turned by 180 degrees: weight 9 up-left.
  std::vector<int> values(49, 0);
  values[3 * 7 + 3] = 90;
  kiln::FilterOptions keras;
  keras.scale = 9;
  keras.orientation = kiln::KernelOrientation::keras;
  for (const bool padded : {false, true}) {
    if (padded) keras.padding = kiln::Padding::same();
    const std::vector<int> out = pixels(kiln::filter_image(
        image_from(values, 7, 7), kiln::parse_image_kernel("1,2,3,4,5,6,7,8,9"), keras));
    const std::vector<int> rows = {out[2 * 7 + 2], out[2 * 7 + 3], out[2 * 7 + 4],
                                   out[3 * 7 + 2], out[3 * 7 + 3], out[3 * 7 + 4],
                                   out[4 * 7 + 2], out[4 * 7 + 3], out[4 * 7 + 4]};
    EXPECT_EQ(rows, (std::vector<int>{90, 80, 70, 60, 50, 40, 30, 20, 10})) << padded;
  }
  // On a kernel symmetric top to bottom the two orientations agree.
  const Tensor image = random_image(12, 9, 3, 4);
  kiln::FilterOptions pillow, keras_sobel;
  keras_sobel.orientation = kiln::KernelOrientation::keras;
  const kiln::ImageKernel sobel_x = kiln::parse_image_kernel("sobel_x");
  EXPECT_EQ(pixels(kiln::filter_image(image, sobel_x, pillow)),
            pixels(kiln::filter_image(image, sobel_x, keras_sobel)));
}

TEST_F(ImageFilter, PaddingIsBoundedBeforeAllocating) {
  const Tensor image = random_image(10, 20, 3, 4);
  kiln::FilterOptions huge;
  huge.padding = kiln::Padding::parse("100000");
  expect_error([&] { kiln::filter_image(image, kiln::parse_image_kernel("edge_1"), huge); },
               "must be 0..13 rows");
  kiln::FilterOptions most;
  most.padding = kiln::Padding::parse("13,23");
  EXPECT_EQ(kiln::filter_image(image, kiln::parse_image_kernel("edge_1"), most).shape(),
            (kiln::Shape{10 + 26 - 2, 20 + 46 - 2, 3}));
  kiln::PoolImageOptions pool;
  pool.padding = kiln::Padding::parse("1000");
  expect_error([&] { kiln::pool_image(image, pool); }, "padding");
}

TEST_F(ImageFilter, StrideAndPaddingGiveConv2dsOutputSizes) {
  const kiln::ImageKernel k3 = kiln::parse_image_kernel("sobel_x");
  const kiln::ImageKernel k5 = kiln::parse_image_kernel("gaussian_5");
  for (const auto& [height, width] :
       {std::pair<std::int64_t, std::int64_t>{7, 10}, {8, 9}, {5, 5}}) {
    for (const char* padding : {"valid", "same", "2"}) {
      for (std::int64_t stride : {1, 2, 3}) {
        for (const kiln::ImageKernel* k : {&k3, &k5}) {
          kiln::FilterOptions options;
          options.padding = kiln::Padding::parse(padding);
          options.stride = stride;
          const Tensor out = kiln::filter_image(random_image(height, width, 3, 5), *k, options);
          const Tensor reference = kiln::conv2d(Tensor::zeros({1, height, width, 1}),
                                                Tensor::zeros({k->size, k->size, 1, 1}), Tensor(),
                                                stride, *options.padding);
          EXPECT_EQ(out.shape(), (kiln::Shape{reference.dim(1), reference.dim(2), 3}))
              << height << "x" << width << " padding " << padding << " stride " << stride;
        }
      }
    }
  }
  kiln::FilterOptions strided;
  strided.stride = 2;
  EXPECT_EQ(kiln::filter_image(random_image(9, 9, 1, 1), k3, strided).shape(),
            (kiln::Shape{4, 4, 1}));
}

TEST_F(ImageFilter, ScaleAndSmallImages) {
  const Tensor image = random_image(6, 6, 1, 2);
  kiln::FilterOptions zero;
  zero.scale = 0.0;
  expect_error([&] { kiln::filter_image(image, kiln::parse_image_kernel("box_blur"), zero); },
               "scale must be a non-zero number");
  // Pillow returns an image smaller than the kernel unchanged.
  const Tensor tiny = random_image(2, 9, 1, 3);
  EXPECT_EQ(pixels(kiln::filter_image(tiny, kiln::parse_image_kernel("edge_1"))), pixels(tiny));
  kiln::FilterOptions valid;
  valid.padding = kiln::Padding::valid();
  expect_error([&] { kiln::filter_image(tiny, kiln::parse_image_kernel("edge_1"), valid); },
               "does not fit");
}

TEST(ImagePool, MaxMinAvgOnAKnownImage) {
  const Tensor image = image_from({1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 17}, 4, 4);
  kiln::PoolImageOptions options;
  options.mode = kiln::parse_pool_mode("max");
  EXPECT_EQ(pixels(kiln::pool_image(image, options)), (std::vector<int>{6, 8, 14, 17}));
  options.mode = kiln::parse_pool_mode("min");
  EXPECT_EQ(pixels(kiln::pool_image(image, options)), (std::vector<int>{1, 3, 9, 11}));
  options.mode = kiln::parse_pool_mode("avg");
  // 3.5 -> 4, 5.5 -> 6, 11.5 -> 12, 13.75 -> 14
  EXPECT_EQ(pixels(kiln::pool_image(image, options)), (std::vector<int>{4, 6, 12, 14}));
  options.mode = kiln::PoolMode::max;
  options.strides = 1;
  EXPECT_EQ(kiln::pool_image(random_image(10, 7, 3, 1), options).shape(), (kiln::Shape{9, 6, 3}));
  options.pool_size = 3;
  options.strides = 2;
  options.padding = kiln::Padding::same();
  EXPECT_EQ(kiln::pool_image(random_image(10, 7, 4, 1), options).shape(), (kiln::Shape{5, 4, 4}));
  expect_error([] { kiln::parse_pool_mode("median"); }, "max, min or avg");
  options.pool_size = 20;
  options.padding = kiln::Padding::valid();
  expect_error([&] { kiln::pool_image(image, options); }, "does not fit");
}

// Keras's windows, not only square ones: numbers worked out by hand on a 4x5 picture.
TEST(ImagePool, NonSquareStridedWindows) {
  // 1  2  3  4  5
  // 6  7  8  9 10
  // 11 12 13 14 15
  // 16 17 18 19 21
  const Tensor image =
      image_from({1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 21}, 4, 5);
  kiln::PoolImageOptions options;
  options.pool_size = kiln::Size2(2, 3);
  options.strides = kiln::Size2(1, 2);
  // Rows 0-1, 1-2, 2-3 by columns 0-2, 2-4.
  const Tensor max = kiln::pool_image(image, options);
  EXPECT_EQ(max.shape(), (kiln::Shape{3, 2, 1}));
  EXPECT_EQ(pixels(max), (std::vector<int>{8, 10, 13, 15, 18, 21}));
  options.mode = kiln::PoolMode::min;
  EXPECT_EQ(pixels(kiln::pool_image(image, options)), (std::vector<int>{1, 3, 6, 8, 11, 13}));
  // 27/6 = 4.5 -> 5, 39/6 = 6.5 -> 7, 57/6 = 9.5 -> 10, 69/6 = 11.5 -> 12, 87/6 = 14.5 -> 15,
  // 100/6 = 16.67 -> 17.
  options.mode = kiln::PoolMode::avg;
  EXPECT_EQ(pixels(kiln::pool_image(image, options)), (std::vector<int>{5, 7, 10, 12, 15, 17}));
  // 'same' with 3x2 windows every 2: one padded row at the bottom, one padded column at the right
  // (Keras's split), so rows 0-2 and 2-3 by columns 0-1, 2-3 and 4.
  options.mode = kiln::PoolMode::max;
  options.pool_size = kiln::Size2(3, 2);
  options.strides = 2;
  options.padding = kiln::Padding::same();
  const Tensor same = kiln::pool_image(image, options);
  EXPECT_EQ(same.shape(), (kiln::Shape{2, 3, 1}));
  EXPECT_EQ(pixels(same), (std::vector<int>{12, 14, 15, 17, 19, 21}));
  options.pool_size = kiln::Size2(5, 1);
  options.padding = kiln::Padding::valid();
  expect_error([&] { kiln::pool_image(image, options); }, "a 5x1 window does not fit");
}

// --------------------------------------------------------------------------------------- Pillow

// Runs a Python script with Debian's Pillow: `script` written to `dir`/name, argv[1] = dir.
void run_pillow(const std::string& file, const std::string& script, const std::string& dir) {
  write_bytes(file, script);
  const std::string command = fmt::format("{} {} {} 2>&1", kPython, file, dir);
  FILE* pipe = popen(command.c_str(), "r");
  ASSERT_NE(pipe, nullptr);
  std::string output;
  char buffer[4096];
  std::size_t got = 0;
  while ((got = std::fread(buffer, 1, sizeof buffer, pipe)) > 0) output.append(buffer, got);
  ASSERT_EQ(pclose(pipe), 0) << "Pillow failed (it needs " << kPython
                             << " with PIL: apt-get install -y python3-pil):\n"
                             << output;
}

// A 16-bit PNG writer in Python (Pillow writes 16-bit grey only): png16(path, uint16 array,
// colour type, extra chunks).
const char* const kPng16Writer =
    "import struct, zlib\n"
    "import numpy as np\n"
    "def png16(path, arr, color_type, extra=b''):\n"
    "    h, w = arr.shape[:2]\n"
    "    raw = b''.join(b'\\x00' + arr[y].astype('>u2').tobytes() for y in range(h))\n"
    "    def chunk(t, d):\n"
    "        return struct.pack('>I', len(d)) + t + d + struct.pack('>I', zlib.crc32(t + d))\n"
    "    ihdr = struct.pack('>IIBBBBB', w, h, 16, color_type, 0, 0, 0)\n"
    "    data = chunk(b'IHDR', ihdr) + extra + chunk(b'IDAT', zlib.compress(raw)) + chunk(b'IEND', b'')\n"
    "    open(path, 'wb').write(b'\\x89PNG\\r\\n\\x1a\\n' + data)\n"
    "def gama(value):\n"
    "    d = struct.pack('>I', value)\n"
    "    return struct.pack('>I', 4) + b'gAMA' + d + struct.pack('>I', zlib.crc32(b'gAMA' + d))\n";

TEST_F(ImagePillow, SixteenBitPngsReadAsPillowReadsThem) {
  // Grey written by Pillow (mode I;16); RGB and RGBA by hand, RGBA with a gAMA chunk of 1.0
  // (linear) that Pillow ignores. References: Pillow's own 8-bit decoding (RGB, RGBA), and
  // Pillow's 16-bit grey values >> 8 (Pillow opens 16-bit grey as mode I).
  const std::string script = std::string(kPng16Writer) +
                             "import sys\n"
                             "from PIL import Image\n"
                             "out = sys.argv[1]\n"
                             "v = np.array([[64 * 257, 128 * 257, 0x40ff, 65535, 0, 255, 256, "
                             "0x8080]], dtype=np.uint16)\n"
                             "v = np.repeat(v, 3, axis=0)\n"
                             "Image.fromarray(v, 'I;16').save(out + '/grey16.png')\n"
                             "png16(out + '/rgb16.png', np.stack([v, v[:, ::-1], v], -1), 2)\n"
                             "png16(out + '/rgba16.png', np.stack([v, v, v[:, ::-1], v], -1), 6, "
                             "gama(100000))\n"
                             "g = np.array(Image.open(out + '/grey16.png'))\n"
                             "Image.fromarray((g >> 8).astype(np.uint8)).save(out + '/grey8.png')\n"
                             "Image.open(out + '/rgb16.png').save(out + '/rgb8.png')\n"
                             "Image.open(out + '/rgba16.png').save(out + '/rgba8.png')\n";
  run_pillow(path("png16.py"), script, dir_.string());
  const Tensor grey = kiln::read_image(path("grey16.png"));
  ASSERT_EQ(grey.shape(), (kiln::Shape{3, 8, 1}));
  const std::vector<int> first_row = pixels(grey);
  EXPECT_EQ(std::vector<int>(first_row.begin(), first_row.begin() + 8),
            (std::vector<int>{64, 128, 64, 255, 0, 0, 1, 128}));
  for (const char* name : {"grey", "rgb", "rgba"}) {
    const Tensor ours = kiln::read_image(path(fmt::format("{}16.png", name)));
    const Tensor pillow = kiln::read_image(path(fmt::format("{}8.png", name)));
    EXPECT_EQ(pixels(ours), pixels(pillow)) << name;
    EXPECT_EQ(ours.shape(), pillow.shape()) << name;
  }
}

struct PillowCase {
  std::string kernel;     // a name of named_image_kernels()
  std::string reference;  // the Pillow filter: "ImageFilter.DETAIL" or "ImageFilter.Kernel(...)"
};

std::string python_list(const std::vector<double>& weights) {
  return fmt::format("[{}]", fmt::join(weights, ", "));
}

// Every named kernel: Pillow's built-ins are compared with Pillow's own ImageFilter.NAME, the
// others with ImageFilter.Kernel given kiln's default scale and offset explicitly (for a zero
// sum, scale 1: Pillow's own default would divide by 0).
const std::vector<PillowCase>& pillow_cases() {
  static const std::vector<PillowCase> cases = [] {
    std::vector<PillowCase> all;
    for (const kiln::ImageKernel& k : kiln::named_image_kernels()) {
      const bool builtin = std::isupper(static_cast<unsigned char>(k.name[0])) != 0;
      double sum = 0;
      for (double w : k.weights) sum += w;
      const double scale = k.scale.value_or(sum == 0 ? 1.0 : sum);
      all.push_back({k.name, builtin
                                 ? "ImageFilter." + k.name
                                 : fmt::format("ImageFilter.Kernel(({0}, {0}), {1}, {2}, {3})",
                                               k.size, python_list(k.weights), scale, k.offset)});
    }
    return all;
  }();
  return cases;
}

// Two photographs (grace_hopper.jpg, 600x512; Minduka_Present_Blue_Pack.png) as grey, RGB, RGBA,
// and 16-bit grey and RGBA PNGs whose high bytes are those pictures (low bytes: noise); Pillow's
// result of every case, from the 8-bit pictures.
std::string pillow_script() {
  std::string filters;
  for (const PillowCase& c : pillow_cases()) {
    filters += fmt::format("    ('{}', {}),\n", c.kernel, c.reference);
  }
  return std::string(kPng16Writer) +
         "import sys\n"
         "from PIL import Image, ImageFilter\n"
         "out = sys.argv[1]\n"
         "photos = {'hopper': '" +
         std::string(kPhoto) + "', 'present': '" + kSecondPhoto +
         "'}\n"
         "filters = [\n" +
         filters +
         "]\n"
         "for photo, file in photos.items():\n"
         "    rgb = Image.open(file).convert('RGB')\n"
         "    grey = rgb.convert('L')\n"
         "    rgba = rgb.copy()\n"
         "    rgba.putalpha(grey.point(lambda v: 255 - v))\n"
         "    noise = np.random.default_rng(1).integers(0, 256, size=(rgb.height, rgb.width, 4))\n"
         "    png16(f'{out}/{photo}_grey16.png', np.array(grey, np.uint16) * 256 + noise[..., 0], 0)\n"
         "    png16(f'{out}/{photo}_rgba16.png', np.array(rgba, np.uint16) * 256 + noise, 6)\n"
         "    for mode, im in (('grey', grey), ('rgb', rgb), ('rgba', rgba)):\n"
         "        im.save(f'{out}/{photo}_{mode}.png')\n"
         "        for name, f in filters:\n"
         "            im.filter(f).save(f'{out}/{photo}_{mode}_{name}.png')\n";
}

TEST_F(ImagePillow, NamedKernelsAndBuiltinFiltersAreBitExactWithPillow) {
  for (const char* photo : {kPhoto, kSecondPhoto}) {
    ASSERT_TRUE(fs::exists(photo))
        << photo << " is missing: apt-get install -y python-matplotlib-data";
  }
  run_pillow(path("pillow.py"), pillow_script(), dir_.string());
  // Our decoder and grey conversion give exactly Pillow's pixels.
  const Tensor hopper = kiln::read_image(kPhoto);
  ASSERT_EQ(hopper.shape(), (kiln::Shape{600, 512, 3}));
  EXPECT_EQ(max_difference(hopper, kiln::read_image(path("hopper_rgb.png"))), 0);
  EXPECT_EQ(max_difference(kiln::to_grayscale(hopper), kiln::read_image(path("hopper_grey.png"))),
            0);
  int cases = 0;
  for (const char* photo : {"hopper", "present"}) {
    // (the input kiln reads, the mode of Pillow's result it must equal)
    const std::vector<std::pair<std::string, std::string>> inputs = {
        {"grey", "grey"}, {"rgb", "rgb"}, {"rgba", "rgba"}, {"grey16", "grey"}, {"rgba16", "rgba"}};
    for (const auto& [input, mode] : inputs) {
      const Tensor image = kiln::read_image(path(fmt::format("{}_{}.png", photo, input)));
      EXPECT_EQ(
          max_difference(image, kiln::read_image(path(fmt::format("{}_{}.png", photo, mode)))), 0)
          << photo << " " << input;
      for (const PillowCase& c : pillow_cases()) {
        const Tensor ours = kiln::filter_image(image, kiln::parse_image_kernel(c.kernel));
        const Tensor pillow =
            kiln::read_image(path(fmt::format("{}_{}_{}.png", photo, mode, c.kernel)));
        EXPECT_EQ(max_difference(ours, pillow), 0) << photo << " " << input << " " << c.kernel;
        ++cases;
      }
    }
  }
  EXPECT_EQ(cases, 2 * 5 * static_cast<int>(pillow_cases().size()));
}

TEST_F(ImagePillow, SeedKernelsDefaultToTheSeedsScaleAndOffset) {
  // The seed calls ImageFilter.Kernel((3,3), edge_2, 1, 0): scale 1, not the weights' sum (3).
  const Tensor image = random_image(8, 8, 1, 21);
  kiln::FilterOptions one, three;
  one.scale = 1;
  three.scale = 3;
  const kiln::ImageKernel edge_2 = kiln::parse_image_kernel("edge_2");
  EXPECT_EQ(pixels(kiln::filter_image(image, edge_2)),
            pixels(kiln::filter_image(image, edge_2, one)));
  EXPECT_NE(pixels(kiln::filter_image(image, edge_2)),
            pixels(kiln::filter_image(image, edge_2, three)));
  EXPECT_EQ(edge_2.scale, 1.0);
  EXPECT_EQ(kiln::parse_image_kernel("edge_1").scale, 1.0);
  // A list's default scale is the sum of its weights, 1 when that is 0.
  const kiln::ImageKernel list = kiln::parse_image_kernel("0,1,0,0,1,0,0,1,0");
  EXPECT_EQ(pixels(kiln::filter_image(image, list)),
            pixels(kiln::filter_image(image, list, three)));
  EXPECT_EQ(kiln::parse_image_kernel("EMBOSS").offset, 128.0);
}

}  // namespace
