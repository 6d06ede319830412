// IDX reader and dataset loaders: good raw and gzip files written by the test, every kind of bad
// file (each Error must name the file), to_categorical, the data directory, and the real MNIST /
// Fashion-MNIST files when scripts/fetch-data.sh has put them in place.
#include <gtest/gtest.h>
#include <zlib.h>

#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "kiln/data.h"
#include "kiln/error.h"
#include "temp_dir.h"

namespace fs = std::filesystem;

namespace {

using Bytes = std::vector<std::uint8_t>;

void append_u32(Bytes& bytes, std::uint32_t value) {
  for (int shift = 24; shift >= 0; shift -= 8)
    bytes.push_back(static_cast<std::uint8_t>(value >> shift));
}

Bytes idx_header(std::uint8_t type, const std::vector<std::uint32_t>& dims) {
  Bytes bytes{0, 0, type, static_cast<std::uint8_t>(dims.size())};
  for (std::uint32_t dim : dims) append_u32(bytes, dim);
  return bytes;
}

Bytes idx_u8(const std::vector<std::uint32_t>& dims, const Bytes& payload) {
  Bytes bytes = idx_header(0x08, dims);
  bytes.insert(bytes.end(), payload.begin(), payload.end());
  return bytes;
}

void write_raw(const fs::path& path, const Bytes& bytes) {
  std::ofstream out(path, std::ios::binary);
  out.write(reinterpret_cast<const char*>(bytes.data()),
            static_cast<std::streamsize>(bytes.size()));
}

void write_gzip(const fs::path& path, const Bytes& bytes) {
  gzFile file = gzopen(path.c_str(), "wb");
  ASSERT_NE(file, nullptr);
  ASSERT_EQ(gzwrite(file, bytes.data(), static_cast<unsigned>(bytes.size())),
            static_cast<int>(bytes.size()));
  gzclose(file);
}

Bytes read_bytes(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return Bytes(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

Bytes counting(std::size_t count, std::size_t modulo = 251) {
  Bytes values(count);
  for (std::size_t i = 0; i < count; ++i) values[i] = static_cast<std::uint8_t>(i % modulo);
  return values;
}

// Pseudo-random bytes: incompressible, so cutting or damaging the gzip stream hits deflate data.
Bytes noise(std::size_t count) {
  std::mt19937 generator(42);
  Bytes values(count);
  for (auto& value : values) value = static_cast<std::uint8_t>(generator() & 0xff);
  return values;
}

// Runs `action`, expects a kiln::Error, and returns its message.
template <class Action>
std::string error_of(Action action) {
  try {
    action();
  } catch (const kiln::Error& error) {
    return error.what();
  }
  ADD_FAILURE() << "expected kiln::Error";
  return {};
}

using TempDir = kiln::testing::TempDirTest;

// Reading `bytes` written raw to a file must fail with a message naming the file and `expected`.
void expect_bad_raw(const fs::path& path, const Bytes& bytes, const std::string& expected) {
  write_raw(path, bytes);
  std::string message = error_of([&] { kiln::read_idx(path.string()); });
  EXPECT_NE(message.find(path.string()), std::string::npos) << message;
  EXPECT_NE(message.find(expected), std::string::npos) << message;
}

void expect_bad_gzip(const fs::path& path, const Bytes& bytes, const std::string& expected) {
  write_gzip(path, bytes);
  std::string message = error_of([&] { kiln::read_idx(path.string()); });
  EXPECT_NE(message.find(path.string()), std::string::npos) << message;
  EXPECT_NE(message.find(expected), std::string::npos) << message;
}

using IdxReader = TempDir;

TEST_F(IdxReader, ReadsRawUnsignedBytes) {
  Bytes payload = counting(3 * 2 * 4);
  write_raw(path("images"), idx_u8({3, 2, 4}, payload));
  kiln::Tensor tensor = kiln::read_idx(path("images"));
  EXPECT_EQ(tensor.dtype(), kiln::DType::u8);
  EXPECT_EQ(tensor.shape(), (kiln::Shape{3, 2, 4}));
  EXPECT_EQ(tensor.to_vector<std::uint8_t>(), payload);
}

TEST_F(IdxReader, ReadsGzipDetectedByMagicBytesNotName) {
  Bytes payload = noise(5 * 7);
  write_gzip(path("compressed.gz"), idx_u8({5, 7}, payload));
  write_gzip(path("compressed_without_suffix"), idx_u8({5, 7}, payload));
  write_raw(path("raw_with_suffix.gz"), idx_u8({5, 7}, payload));
  for (const char* name : {"compressed.gz", "compressed_without_suffix", "raw_with_suffix.gz"}) {
    kiln::Tensor tensor = kiln::read_idx(path(name));
    EXPECT_EQ(tensor.shape(), (kiln::Shape{5, 7})) << name;
    EXPECT_EQ(tensor.to_vector<std::uint8_t>(), payload) << name;
  }
}

TEST_F(IdxReader, ConvertsBigEndianTypes) {
  Bytes ints = idx_header(0x0C, {3});
  for (std::uint32_t value :
       {std::uint32_t{1}, std::uint32_t{0xFFFFFFFE}, std::uint32_t{0x01020304}}) {
    append_u32(ints, value);
  }
  write_raw(path("ints"), ints);
  EXPECT_EQ(kiln::read_idx(path("ints")).to_vector<std::int32_t>(),
            (std::vector<std::int32_t>{1, -2, 0x01020304}));

  Bytes shorts = idx_header(0x0B, {2});
  shorts.insert(shorts.end(), {0xFF, 0xFD, 0x01, 0x00});
  write_raw(path("shorts"), shorts);
  EXPECT_EQ(kiln::read_idx(path("shorts")).to_vector<std::int32_t>(),
            (std::vector<std::int32_t>{-3, 256}));

  Bytes signed_bytes = idx_header(0x09, {2});
  signed_bytes.insert(signed_bytes.end(), {0x80, 0x7F});
  write_raw(path("signed"), signed_bytes);
  EXPECT_EQ(kiln::read_idx(path("signed")).to_vector<std::int32_t>(),
            (std::vector<std::int32_t>{-128, 127}));

  Bytes floats = idx_header(0x0D, {2});
  append_u32(floats, 0x3FC00000);  // 1.5f
  append_u32(floats, 0xC0200000);  // -2.5f
  write_gzip(path("floats.gz"), floats);
  kiln::Tensor float_tensor = kiln::read_idx(path("floats.gz"));
  EXPECT_EQ(float_tensor.dtype(), kiln::DType::f32);
  EXPECT_EQ(float_tensor.to_vector<float>(), (std::vector<float>{1.5f, -2.5f}));

  Bytes doubles = idx_header(0x0E, {1});
  doubles.insert(doubles.end(), {0x40, 0x09, 0x21, 0xFB, 0x54, 0x44, 0x2D, 0x18});  // pi
  write_raw(path("doubles"), doubles);
  EXPECT_EQ(kiln::read_idx(path("doubles")).to_vector<double>()[0], 3.141592653589793);
}

TEST_F(IdxReader, WrongMagicNumber) {
  Bytes bytes = idx_u8({2}, {1, 2});
  bytes[0] = 0x12;
  expect_bad_raw(path("bad_magic"), bytes, "wrong magic number");
  expect_bad_raw(path("unknown_type"), idx_header(0x07, {2}), "found 00 00 07 01");
  expect_bad_raw(path("rank_zero"), Bytes{0, 0, 8, 0}, "wrong magic number");
  expect_bad_gzip(path("bad_magic.gz"), bytes, "wrong magic number");
}

TEST_F(IdxReader, TruncatedHeader) {
  expect_bad_raw(path("empty"), {}, "truncated header");
  expect_bad_raw(path("short_magic"), {0, 0, 8}, "truncated header: expected 4 bytes, found 3");
  Bytes dims = idx_header(0x08, {60000, 28, 28});
  dims.resize(10);
  expect_bad_raw(path("short_dims"), dims, "truncated header: expected 12 bytes, found 6");
  expect_bad_gzip(path("short_dims.gz"), dims, "truncated header");
}

TEST_F(IdxReader, HeaderClaimsMoreThanRawFileHolds) {
  // 60000 images of 28x28 claimed, 10 images present: rejected from the file size, before the
  // 47 MB the header asks for are allocated.
  expect_bad_raw(path("truncated"), idx_u8({60000, 28, 28}, counting(10 * 28 * 28)),
                 "the header claims 60000 items of shape (60000, 28, 28) (47040000 bytes");
  expect_bad_raw(path("one_short"), idx_u8({4}, {1, 2, 3}), "holds only 3 bytes");
}

TEST_F(IdxReader, HeaderClaimsMoreThanGzipStreamHolds) {
  expect_bad_gzip(path("truncated.gz"), idx_u8({60000, 28, 28}, counting(10 * 28 * 28)),
                  "but the data ends after 7840 bytes");
}

TEST_F(IdxReader, TrailingBytes) {
  expect_bad_raw(path("trailing"), idx_u8({2}, {1, 2, 3}), "1 trailing bytes");
  expect_bad_gzip(path("trailing.gz"), idx_u8({2}, {1, 2, 3}), "trailing data");
}

TEST_F(IdxReader, ZeroOrAbsurdDimensions) {
  expect_bad_raw(path("zero"), idx_header(0x08, {3, 0, 28}), "dimension 1 is 0");
  expect_bad_raw(path("absurd"), idx_header(0x08, {0xFFFFFFFF, 0xFFFFFFFF, 28}),
                 "absurd dimensions");
  expect_bad_gzip(path("absurd.gz"), idx_header(0x0E, {0x80000000}), "absurd dimensions");
}

TEST_F(IdxReader, TruncatedGzipStream) {
  write_gzip(path("whole.gz"), idx_u8({100, 28, 28}, noise(100 * 28 * 28)));
  Bytes compressed = read_bytes(path("whole.gz"));
  compressed.resize(compressed.size() / 2);
  write_raw(path("cut.gz"), compressed);
  std::string message = error_of([&] { kiln::read_idx(path("cut.gz")); });
  EXPECT_NE(message.find(path("cut.gz")), std::string::npos) << message;
  EXPECT_NE(message.find("corrupt gzip stream"), std::string::npos) << message;
}

TEST_F(IdxReader, CorruptGzipStream) {
  write_gzip(path("whole.gz"), idx_u8({100, 28, 28}, noise(100 * 28 * 28)));
  Bytes compressed = read_bytes(path("whole.gz"));
  for (std::size_t i = compressed.size() / 3; i < compressed.size() / 3 + 64; ++i)
    compressed[i] ^= 0x5A;
  write_raw(path("damaged.gz"), compressed);
  std::string message = error_of([&] { kiln::read_idx(path("damaged.gz")); });
  EXPECT_NE(message.find(path("damaged.gz")), std::string::npos) << message;
  EXPECT_NE(message.find("corrupt gzip stream"), std::string::npos) << message;

  // The data decompresses but the CRC in the trailer no longer matches.
  write_gzip(path("crc.gz"), idx_u8({4}, {1, 2, 3, 4}));
  Bytes with_crc = read_bytes(path("crc.gz"));
  with_crc[with_crc.size() - 8] ^= 0xFF;
  write_raw(path("crc.gz"), with_crc);
  message = error_of([&] { kiln::read_idx(path("crc.gz")); });
  EXPECT_NE(message.find("corrupt gzip stream"), std::string::npos) << message;
}

TEST_F(IdxReader, MissingFileOrDirectory) {
  std::string message = error_of([&] { kiln::read_idx(path("absent")); });
  EXPECT_NE(message.find(path("absent") + ": no such file"), std::string::npos) << message;
  message = error_of([&] { kiln::read_idx(dir_.string()); });
  EXPECT_NE(message.find("not a regular file"), std::string::npos) << message;
}

// Writes a small MNIST-like data set in `dir` (optionally gzip-compressed).
void write_split(const fs::path& dir, const std::string& prefix, std::uint32_t images,
                 std::uint32_t labels, bool gzip, std::uint8_t max_label = 9) {
  Bytes label_values(labels);
  for (std::uint32_t i = 0; i < labels; ++i)
    label_values[i] = static_cast<std::uint8_t>(i % (max_label + 1));
  if (labels > 0) label_values[labels - 1] = max_label;
  Bytes image_file = idx_u8({images, 28, 28}, counting(std::size_t{images} * 28 * 28, 256));
  Bytes label_file = idx_u8({labels}, label_values);
  std::string suffix = gzip ? ".gz" : "";
  fs::path image_path = dir / (prefix + "-images-idx3-ubyte" + suffix);
  fs::path label_path = dir / (prefix + "-labels-idx1-ubyte" + suffix);
  if (gzip) {
    write_gzip(image_path, image_file);
    write_gzip(label_path, label_file);
  } else {
    write_raw(image_path, image_file);
    write_raw(label_path, label_file);
  }
}

using IdxDatasets = TempDir;

TEST_F(IdxDatasets, LoadsMnistLayoutRaw) {
  fs::create_directories(path("mnist"));
  write_split(path("mnist"), "train", 3, 3, false);
  write_split(path("mnist"), "t10k", 2, 2, false);
  kiln::Dataset data = kiln::load_mnist(dir_.string());
  EXPECT_EQ(data.x_train.shape(), (kiln::Shape{3, 28, 28, 1}));
  EXPECT_EQ(data.x_test.shape(), (kiln::Shape{2, 28, 28, 1}));
  EXPECT_EQ(data.x_train.dtype(), kiln::DType::f32);
  EXPECT_EQ(data.y_train.dtype(), kiln::DType::i32);
  EXPECT_EQ(data.y_train.to_vector<std::int32_t>(), (std::vector<std::int32_t>{0, 1, 9}));
  std::vector<float> pixels = data.x_train.to_vector<float>();
  EXPECT_FLOAT_EQ(pixels[0], 0.0f);
  EXPECT_FLOAT_EQ(pixels[255], 1.0f);
  EXPECT_FLOAT_EQ(pixels[256 + 51], 51.0f / 255.0f);
  EXPECT_EQ(data.class_names.size(), 10u);
  EXPECT_EQ(data.class_names[7], "7");
}

TEST_F(IdxDatasets, LoadsFashionMnistLayoutGzip) {
  fs::create_directories(path("fashion-mnist"));
  write_split(path("fashion-mnist"), "train", 4, 4, true);
  write_split(path("fashion-mnist"), "t10k", 1, 1, true);
  kiln::Dataset data = kiln::load_dataset("fashion_mnist", dir_.string());
  EXPECT_EQ(data.x_train.shape(), (kiln::Shape{4, 28, 28, 1}));
  EXPECT_EQ(data.y_test.shape(), (kiln::Shape{1}));
  ASSERT_EQ(data.class_names.size(), 10u);
  EXPECT_EQ(data.class_names[0], "T-shirt/top");
  EXPECT_EQ(data.class_names[9], "Ankle boot");
}

TEST_F(IdxDatasets, ImageAndLabelCountsDiffer) {
  fs::create_directories(path("mnist"));
  write_split(path("mnist"), "train", 3, 2, false);
  write_split(path("mnist"), "t10k", 2, 2, false);
  std::string message = error_of([&] { kiln::load_mnist(dir_.string()); });
  EXPECT_NE(message.find("image and label counts differ"), std::string::npos) << message;
  EXPECT_NE(message.find(((dir_ / "mnist") / "train-images-idx3-ubyte").string() + " has 3 images"),
            std::string::npos)
      << message;
  EXPECT_NE(message.find(((dir_ / "mnist") / "train-labels-idx1-ubyte").string() + " has 2 labels"),
            std::string::npos)
      << message;
}

TEST_F(IdxDatasets, MissingFileSaysHowToFetch) {
  fs::create_directories(path("mnist"));
  write_split(path("mnist"), "train", 3, 3, false);
  std::string message = error_of([&] { kiln::load_mnist(dir_.string()); });
  EXPECT_NE(message.find(((dir_ / "mnist") / "t10k-images-idx3-ubyte").string()), std::string::npos)
      << message;
  EXPECT_NE(message.find("fetch-data.sh"), std::string::npos) << message;
}

TEST_F(IdxDatasets, WrongImageSizeOrLabelRange) {
  fs::create_directories(path("mnist"));
  write_split(path("mnist"), "t10k", 2, 2, false);
  write_raw((dir_ / "mnist") / "train-images-idx3-ubyte", idx_u8({1, 27, 27}, counting(27 * 27)));
  write_raw((dir_ / "mnist") / "train-labels-idx1-ubyte", idx_u8({1}, {0}));
  std::string message = error_of([&] { kiln::load_mnist(dir_.string()); });
  EXPECT_NE(message.find("expected 28x28 images, found 27x27"), std::string::npos) << message;

  write_split(path("mnist"), "train", 3, 3, false, 12);
  message = error_of([&] { kiln::load_mnist(dir_.string()); });
  EXPECT_NE(
      message.find(((dir_ / "mnist") / "train-labels-idx1-ubyte").string() + ": label 2 is 12"),
      std::string::npos)
      << message;
}

TEST_F(IdxDatasets, UnknownDatasetName) {
  std::string message = error_of([&] { kiln::load_dataset("cifar10", dir_.string()); });
  EXPECT_NE(message.find("unknown dataset 'cifar10'"), std::string::npos) << message;
}

// Sets an environment variable for one scope and restores it afterwards.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const char* value) : name_(name) {
    if (const char* old = std::getenv(name)) old_ = old;
    if (value != nullptr) {
      setenv(name, value, 1);
    } else {
      unsetenv(name);
    }
  }
  ~ScopedEnv() {
    if (old_) {
      setenv(name_, old_->c_str(), 1);
    } else {
      unsetenv(name_);
    }
  }
  ScopedEnv(const ScopedEnv&) = delete;
  ScopedEnv& operator=(const ScopedEnv&) = delete;

 private:
  const char* name_;
  std::optional<std::string> old_;
};

TEST(IdxDataDir, KilnDataElseHome) {
  {
    ScopedEnv data("KILN_DATA", "/somewhere/data");
    EXPECT_EQ(kiln::default_data_dir(), "/somewhere/data");
  }
  ScopedEnv data("KILN_DATA", nullptr);
  ScopedEnv home("HOME", "/home/tester");
  EXPECT_EQ(kiln::default_data_dir(), "/home/tester/.kiln/datasets");
}

TEST(IdxToCategorical, OneHotFromI32AndU8) {
  kiln::Tensor labels = kiln::Tensor::from_vector<std::int32_t>({2, 0, 1}, {3});
  kiln::Tensor one_hot = kiln::to_categorical(labels, 3);
  EXPECT_EQ(one_hot.shape(), (kiln::Shape{3, 3}));
  EXPECT_EQ(one_hot.dtype(), kiln::DType::f32);
  EXPECT_EQ(one_hot.to_vector<float>(), (std::vector<float>{0, 0, 1, 1, 0, 0, 0, 1, 0}));
  kiln::Tensor bytes = kiln::Tensor::from_vector<std::uint8_t>({1, 0}, {2});
  EXPECT_EQ(kiln::to_categorical(bytes, 2).to_vector<float>(), (std::vector<float>{0, 1, 1, 0}));
}

TEST(IdxToCategorical, LabelOutOfRange) {
  kiln::Tensor labels = kiln::Tensor::from_vector<std::int32_t>({0, 10, 1}, {3});
  std::string message = error_of([&] { kiln::to_categorical(labels, 10); });
  EXPECT_NE(message.find("label at index 1 is 10, expected 0..9"), std::string::npos) << message;
  kiln::Tensor negative = kiln::Tensor::from_vector<std::int32_t>({-1}, {1});
  EXPECT_THROW(kiln::to_categorical(negative, 10), kiln::Error);
  EXPECT_THROW(kiln::to_categorical(labels, 0), kiln::Error);
  kiln::Tensor floats = kiln::Tensor::from_vector<float>({1.0f}, {1});
  EXPECT_THROW(kiln::to_categorical(floats, 10), kiln::Error);
}

bool has_files(const fs::path& dir) {
  return fs::exists(dir / "train-images-idx3-ubyte") ||
         fs::exists(dir / "train-images-idx3-ubyte.gz");
}

TEST(MnistReal, CountsAndFirstLabels) {
  std::string dir = kiln::default_data_dir();
  if (!has_files(fs::path(dir) / "mnist")) {
    GTEST_SKIP() << "MNIST is not in " << dir << "/mnist (run scripts/fetch-data.sh)";
  }
  kiln::Dataset data = kiln::load_mnist(dir);
  EXPECT_EQ(data.x_train.shape(), (kiln::Shape{60000, 28, 28, 1}));
  EXPECT_EQ(data.y_train.shape(), (kiln::Shape{60000}));
  EXPECT_EQ(data.x_test.shape(), (kiln::Shape{10000, 28, 28, 1}));
  EXPECT_EQ(data.y_test.shape(), (kiln::Shape{10000}));
  EXPECT_EQ(data.y_train.data<std::int32_t>()[0], 5);
  EXPECT_EQ(data.y_test.data<std::int32_t>()[0], 7);
  const float* first = data.x_train.data<float>();
  double sum = 0;
  for (int i = 0; i < 28 * 28; ++i) {
    ASSERT_GE(first[i], 0.0f);
    ASSERT_LE(first[i], 1.0f);
    sum += first[i];
  }
  EXPECT_NEAR(sum, 27525.0 / 255.0, 1e-3);  // the first image's pixel sum in the original file
}

TEST(MnistReal, FashionCountsAndFirstLabels) {
  std::string dir = kiln::default_data_dir();
  if (!has_files(fs::path(dir) / "fashion-mnist")) {
    GTEST_SKIP() << "Fashion-MNIST is not in " << dir
                 << "/fashion-mnist (run scripts/fetch-data.sh)";
  }
  kiln::Dataset data = kiln::load_fashion_mnist(dir);
  EXPECT_EQ(data.x_train.dim(0), 60000);
  EXPECT_EQ(data.x_test.dim(0), 10000);
  EXPECT_EQ(data.y_train.data<std::int32_t>()[0], 9);
  EXPECT_EQ(data.class_names[static_cast<std::size_t>(data.y_test.data<std::int32_t>()[0])],
            "Ankle boot");
}

}  // namespace
