// The IDX reader: header checks against the file before anything is allocated, the data read
// through stdio (raw files) or zlib's gz* API (gzip files, recognised by their magic bytes), and
// big-endian elements converted to the host's order.
#include <zlib.h>

#include <array>
#include <bit>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <memory>
#include <string>
#include <system_error>
#include <vector>

#include "core/check.h"
#include "kiln/data.h"

namespace kiln {
namespace {

// No data set kiln reads comes near these; a header claiming more is corrupt.
constexpr std::uint64_t kMaxDataBytes = std::uint64_t{1} << 32;
constexpr int kMaxRank = 8;
constexpr std::size_t kReadChunk = std::size_t{1} << 20;

struct ElementType {
  std::uint8_t code;
  const char* name;
  std::size_t bytes;
  DType dtype;
};

constexpr std::array<ElementType, 6> kElementTypes{{
    {0x08, "unsigned byte", 1, DType::u8},
    {0x09, "signed byte", 1, DType::i32},
    {0x0B, "short", 2, DType::i32},
    {0x0C, "int", 4, DType::i32},
    {0x0D, "float", 4, DType::f32},
    {0x0E, "double", 8, DType::f64},
}};

const ElementType* find_element_type(std::uint8_t code) {
  for (const ElementType& type : kElementTypes) {
    if (type.code == code) return &type;
  }
  return nullptr;
}

std::uint32_t big_endian_u32(const std::uint8_t* bytes) {
  return (std::uint32_t{bytes[0]} << 24) | (std::uint32_t{bytes[1]} << 16) |
         (std::uint32_t{bytes[2]} << 8) | std::uint32_t{bytes[3]};
}

template <class Unsigned>
Unsigned big_endian(const std::uint8_t* bytes) {
  Unsigned value = 0;
  for (std::size_t i = 0; i < sizeof(Unsigned); ++i) value = (value << 8) | bytes[i];
  return value;
}

// A byte stream over a raw file or a gzip file; reads return fewer bytes only at the end.
class Source {
 public:
  virtual ~Source() = default;
  virtual std::size_t read(void* buffer, std::size_t count) = 0;
};

class RawSource : public Source {
 public:
  RawSource(const std::string& path) : path_(path), file_(std::fopen(path.c_str(), "rb")) {
    KILN_CHECK(file_ != nullptr, "IDX file {}: cannot open: {}", path, std::strerror(errno));
  }
  ~RawSource() override { std::fclose(file_); }
  RawSource(const RawSource&) = delete;
  RawSource& operator=(const RawSource&) = delete;

  std::size_t read(void* buffer, std::size_t count) override {
    std::size_t got = std::fread(buffer, 1, count, file_);
    KILN_CHECK(got == count || !std::ferror(file_), "IDX file {}: read error: {}", path_,
               std::strerror(errno));
    return got;
  }

 private:
  std::string path_;
  std::FILE* file_;
};

class GzipSource : public Source {
 public:
  GzipSource(const std::string& path) : path_(path), file_(gzopen(path.c_str(), "rb")) {
    KILN_CHECK(file_ != nullptr, "IDX file {}: cannot open: {}", path, std::strerror(errno));
    gzbuffer(file_, 1 << 17);
  }
  ~GzipSource() override { gzclose_r(file_); }
  GzipSource(const GzipSource&) = delete;
  GzipSource& operator=(const GzipSource&) = delete;

  std::size_t read(void* buffer, std::size_t count) override {
    auto* bytes = static_cast<std::uint8_t*>(buffer);
    std::size_t total = 0;
    while (total < count) {
      unsigned want = static_cast<unsigned>(std::min<std::size_t>(count - total, 1u << 30));
      int got = gzread(file_, bytes + total, want);
      check_stream();
      if (got <= 0) break;
      total += static_cast<std::size_t>(got);
    }
    return total;
  }

 private:
  // A corrupt stream (bad deflate data, CRC or length mismatch, cut-off stream) is an Error.
  void check_stream() {
    int code = Z_OK;
    const char* message = gzerror(file_, &code);
    KILN_CHECK(code == Z_OK, "IDX file {}: corrupt gzip stream: {}", path_,
               code == Z_BUF_ERROR ? "the compressed data ends early (truncated file)" : message);
  }

  std::string path_;
  gzFile file_;
};

bool is_gzip(const std::string& path) {
  std::FILE* file = std::fopen(path.c_str(), "rb");
  KILN_CHECK(file != nullptr, "IDX file {}: cannot open: {}", path, std::strerror(errno));
  std::array<unsigned char, 2> magic{};
  std::size_t got = std::fread(magic.data(), 1, magic.size(), file);
  std::fclose(file);
  return got == 2 && magic[0] == 0x1f && magic[1] == 0x8b;
}

std::uint64_t file_size(const std::string& path) {
  std::error_code error;
  std::uint64_t size = std::filesystem::file_size(path, error);
  KILN_CHECK(!error, "IDX file {}: cannot read its size: {}", path, error.message());
  return size;
}

void check_exists(const std::string& path) {
  std::error_code error;
  auto status = std::filesystem::status(path, error);
  KILN_CHECK(std::filesystem::exists(status), "IDX file {}: no such file", path);
  KILN_CHECK(std::filesystem::is_regular_file(status), "IDX file {}: not a regular file", path);
}

struct Header {
  const ElementType* type = nullptr;
  Shape shape;
  std::uint64_t data_bytes = 0;
  std::uint64_t header_bytes = 0;
};

// Reads exactly `count` bytes, or fails saying what the part is and how much was there.
void read_part(Source& source, void* buffer, std::size_t count, const std::string& path,
               const char* part) {
  std::size_t got = source.read(buffer, count);
  KILN_CHECK(got == count, "IDX file {}: truncated {}: expected {} bytes, found {}", path, part,
             count, got);
}

Header read_header(Source& source, const std::string& path) {
  std::array<std::uint8_t, 4> magic{};
  read_part(source, magic.data(), magic.size(), path, "header");
  Header header;
  header.type = find_element_type(magic[2]);
  int rank = magic[3];
  KILN_CHECK(
      magic[0] == 0 && magic[1] == 0 && header.type != nullptr && rank >= 1 && rank <= kMaxRank,
      "IDX file {}: wrong magic number: expected 00 00 <type 08/09/0B/0C/0D/0E> <rank 1..{}>, "
      "found {:02x} {:02x} {:02x} {:02x}",
      path, kMaxRank, magic[0], magic[1], magic[2], magic[3]);
  std::vector<std::uint8_t> dims(4 * static_cast<std::size_t>(rank));
  read_part(source, dims.data(), dims.size(), path, "header");
  std::uint64_t elements = 1;
  for (int axis = 0; axis < rank; ++axis) {
    std::uint32_t extent = big_endian_u32(dims.data() + 4 * axis);
    KILN_CHECK(extent > 0, "IDX file {}: dimension {} is 0", path, axis);
    KILN_CHECK(extent <= kMaxDataBytes / elements / header.type->bytes,
               "IDX file {}: absurd dimensions: dimension {} is {}, making more than {} bytes",
               path, axis, extent, kMaxDataBytes);
    elements *= extent;
    header.shape.push_back(extent);
  }
  header.data_bytes = elements * header.type->bytes;
  header.header_bytes = magic.size() + dims.size();
  return header;
}

// A raw file's size must be exactly header + data: checked before the data is allocated.
void check_raw_size(const Header& header, const std::string& path) {
  std::uint64_t size = file_size(path);
  std::uint64_t expected = header.header_bytes + header.data_bytes;
  KILN_CHECK(
      size >= expected,
      "IDX file {}: truncated: the header claims {} items of shape {} ({} bytes of {} data), "
      "but the file holds only {} bytes after the {}-byte header",
      path, header.shape[0], shape_str(header.shape), header.data_bytes, header.type->name,
      size - header.header_bytes, header.header_bytes);
  KILN_CHECK(size == expected,
             "IDX file {}: {} trailing bytes: expected a file of {} bytes for shape {}, found {}",
             path, size - expected, expected, shape_str(header.shape), size);
}

// Reads the data in chunks, so a gzip header that lies about the size costs only what the stream
// really holds before the short read is reported.
std::vector<std::uint8_t> read_data(Source& source, const Header& header, const std::string& path) {
  std::vector<std::uint8_t> bytes;
  std::uint64_t total = header.data_bytes;
  while (bytes.size() < total) {
    std::size_t offset = bytes.size();
    std::size_t want =
        static_cast<std::size_t>(std::min<std::uint64_t>(kReadChunk, total - offset));
    bytes.resize(offset + want);
    std::size_t got = source.read(bytes.data() + offset, want);
    KILN_CHECK(got == want,
               "IDX file {}: truncated: the header claims {} items of shape {} ({} bytes of data), "
               "but the data ends after {} bytes",
               path, header.shape[0], shape_str(header.shape), total, offset + got);
  }
  std::uint8_t extra = 0;
  KILN_CHECK(source.read(&extra, 1) == 0,
             "IDX file {}: trailing data after the {} bytes of data that shape {} needs", path,
             total, shape_str(header.shape));
  return bytes;
}

template <class Out, class Unsigned, class Signed>
void convert_big_endian(const std::vector<std::uint8_t>& bytes, Out* out) {
  std::size_t count = bytes.size() / sizeof(Unsigned);
  for (std::size_t i = 0; i < count; ++i) {
    Unsigned value = big_endian<Unsigned>(bytes.data() + i * sizeof(Unsigned));
    out[i] = static_cast<Out>(std::bit_cast<Signed>(value));
  }
}

Tensor to_tensor(const std::vector<std::uint8_t>& bytes, const Header& header) {
  Tensor tensor = Tensor::empty(header.shape, header.type->dtype);
  switch (header.type->code) {
    case 0x08: std::memcpy(tensor.data<std::uint8_t>(), bytes.data(), bytes.size()); break;
    case 0x09:
      convert_big_endian<std::int32_t, std::uint8_t, std::int8_t>(bytes,
                                                                  tensor.data<std::int32_t>());
      break;
    case 0x0B:
      convert_big_endian<std::int32_t, std::uint16_t, std::int16_t>(bytes,
                                                                    tensor.data<std::int32_t>());
      break;
    case 0x0C:
      convert_big_endian<std::int32_t, std::uint32_t, std::int32_t>(bytes,
                                                                    tensor.data<std::int32_t>());
      break;
    case 0x0D: convert_big_endian<float, std::uint32_t, float>(bytes, tensor.data<float>()); break;
    default: convert_big_endian<double, std::uint64_t, double>(bytes, tensor.data<double>()); break;
  }
  return tensor;
}

}  // namespace

Tensor read_idx(const std::string& path) {
  check_exists(path);
  bool gzip = is_gzip(path);
  std::unique_ptr<Source> source;
  if (gzip) {
    source = std::make_unique<GzipSource>(path);
  } else {
    source = std::make_unique<RawSource>(path);
  }
  Header header = read_header(*source, path);
  if (!gzip) check_raw_size(header, path);
  std::vector<std::uint8_t> bytes = read_data(*source, header, path);
  return to_tensor(bytes, header);
}

}  // namespace kiln
