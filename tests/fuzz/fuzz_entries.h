// The bodies of kiln's fuzz targets, shared by the libFuzzer mains (tests/fuzz/fuzz_*.cpp, clang)
// and the regression test that replays every saved input in the normal suite
// (tests/unit/test_fuzz_regressions.cpp, any compiler). Each entry feeds one input to one public
// reader. kiln::Error is the expected answer to bad input and is swallowed; any other exception,
// a sanitizer report or a crash is a finding. A broken invariant (a rejected load that changed
// the model, raw and gzip copies of one IDX file read differently, a model_config that does not
// survive a save/load round trip) throws FuzzInvariant, which is not a kiln::Error.
#pragma once

#include <unistd.h>
#include <zlib.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "kiln/data.h"
#include "kiln/error.h"
#include "kiln/image.h"
#include "kiln/layers.h"
#include "kiln/model.h"
#include "kiln/model_io.h"
#include "kiln/tensor.h"

namespace kiln::fuzz {

// LeakSanitizer: HDF5 1.10 loses small buffers on some error paths inside the library while it
// parses a corrupt object header (e.g. under H5Aexists), after kiln has closed every handle. Those
// are HDF5's to fix; kiln's own leaks are still reported. (This header is included by one file
// per program, which makes this the program's suppression list.)
extern "C" const char* __lsan_default_suppressions() { return "leak:libhdf5\n"; }

// An invariant the fuzzed code broke (deliberately not a kiln::Error).
class FuzzInvariant : public std::logic_error {
 public:
  using std::logic_error::logic_error;
};

// Environment for fuzzing: the CPU, and no allocator cache (a cached block would hide a
// use-after-free from AddressSanitizer). Existing settings are kept.
inline void init_environment() {
  ::setenv("KILN_DEVICE", "cpu", 0);
  ::setenv("KILN_CPU_NO_CACHE", "1", 0);
}

// A file in the temp directory, unique to this process and `name`, removed on destruction.
class TempFile {
 public:
  explicit TempFile(const std::string& name)
      : path_((std::filesystem::temp_directory_path() /
               ("kiln_fuzz_" + std::to_string(::getpid()) + "_" + name))
                  .string()) {}
  ~TempFile() {
    std::error_code ignored;
    std::filesystem::remove(path_, ignored);
  }
  TempFile(const TempFile&) = delete;
  TempFile& operator=(const TempFile&) = delete;

  const std::string& write(const std::uint8_t* data, std::size_t size) {
    std::ofstream out(path_, std::ios::binary | std::ios::trunc);
    out.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
    if (!out) throw std::runtime_error("fuzz: cannot write " + path_);
    return path_;
  }

 private:
  std::string path_;
};

// `data` compressed as a gzip stream (deflate with the gzip wrapper, as gzip(1) writes it).
inline std::vector<std::uint8_t> gzip_bytes(const std::uint8_t* data, std::size_t size) {
  z_stream stream{};
  if (deflateInit2(&stream, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) !=
      Z_OK) {
    throw std::runtime_error("fuzz: deflateInit2 failed");
  }
  std::vector<std::uint8_t> out(deflateBound(&stream, static_cast<uLong>(size)) + 32);
  stream.next_in = const_cast<Bytef*>(data);
  stream.avail_in = static_cast<uInt>(size);
  stream.next_out = out.data();
  stream.avail_out = static_cast<uInt>(out.size());
  const int status = deflate(&stream, Z_FINISH);
  out.resize(stream.total_out);
  deflateEnd(&stream);
  if (status != Z_STREAM_END) throw std::runtime_error("fuzz: deflate did not finish");
  return out;
}

// What read_idx gave: the tensor's shape, dtype and bytes, or nothing for an Error.
struct IdxOutcome {
  bool ok = false;
  Shape shape;
  DType dtype = DType::u8;
  std::vector<std::uint8_t> bytes;
  bool operator==(const IdxOutcome&) const = default;
};

inline IdxOutcome read_idx_outcome(const std::string& path) {
  IdxOutcome outcome;
  try {
    const Tensor tensor = read_idx(path);
    const auto* first = static_cast<const std::uint8_t*>(tensor.raw_data());
    outcome = {true, tensor.shape(), tensor.dtype(), {first, first + tensor.nbytes()}};
  } catch (const Error&) {
  }
  return outcome;
}

// read_idx on the input as a file (a raw IDX file, or a gzip stream when it starts with 1f 8b)
// and on a gzip-compressed copy of it; unless the input is itself gzip, both must agree.
inline void fuzz_idx(const std::uint8_t* data, std::size_t size) {
  TempFile raw("idx");
  const IdxOutcome from_raw = read_idx_outcome(raw.write(data, size));
  TempFile gz("idx.gz");
  const std::vector<std::uint8_t> compressed = gzip_bytes(data, size);
  const IdxOutcome from_gzip = read_idx_outcome(gz.write(compressed.data(), compressed.size()));
  const bool input_is_gzip = size >= 2 && data[0] == 0x1f && data[1] == 0x8b;
  if (!input_is_gzip && !(from_raw == from_gzip)) {
    throw FuzzInvariant("read_idx: the raw file and its gzip copy read differently");
  }
}

// The model the fuzzed weight files are loaded into: the architecture of the seed weights file
// (tests/fuzz/corpus/h5_model/weights.h5), built once per process.
inline std::unique_ptr<Sequential> make_weights_model() {
  return std::make_unique<Sequential>(
      std::vector<LayerRef>{InputLayer({6, 6, 1}, "input"),
                            Conv2D(2, 3, {.activation = "relu", .name = "conv"}),
                            MaxPooling2D(2, "pool"), Flatten("flatten"),
                            Dense(3, {.activation = "softmax", .name = "dense"})},
      "fuzz_weights");
}

inline Model& weights_model() {
  static const std::unique_ptr<Sequential> model = make_weights_model();
  return *model;
}

inline std::vector<Tensor> weight_handles(const Model& model) {
  std::vector<Tensor> handles;
  for (const auto& variable : model.weights()) handles.push_back(variable->value());
  return handles;
}

inline std::vector<std::vector<float>> weight_values(const Model& model) {
  std::vector<std::vector<float>> values;
  for (const auto& variable : model.weights()) {
    values.push_back(variable->value().to_vector<float>());
  }
  return values;
}

// load_weights into the fixed model: on an Error the model must be exactly as before. After a
// successful load the old weights are put back, so every input meets the same model.
inline void load_weights_into_fixed_model(const std::string& path) {
  Model& model = weights_model();
  const std::vector<Tensor> handles = weight_handles(model);
  const std::vector<std::vector<float>> before = weight_values(model);
  try {
    load_weights(model, path);
  } catch (const Error&) {
    if (weight_values(model) != before) {
      throw FuzzInvariant("load_weights changed the model before rejecting the file");
    }
  }
  const auto variables = model.weights();
  for (std::size_t i = 0; i < variables.size(); ++i) variables[i]->value() = handles[i];
}

// load_model and load_weights on the input as an HDF5 file.
inline void fuzz_h5_model(const std::uint8_t* data, std::size_t size) {
  TempFile file("model.h5");
  const std::string& path = file.write(data, size);
  clear_session();
  try {
    const std::unique_ptr<Model> model = load_model(path);
  } catch (const Error&) {
  }
  load_weights_into_fixed_model(path);
}

// model_from_json on the input text; a model it builds must come back the same from its own
// model_config_json.
inline void fuzz_model_config(const std::uint8_t* data, std::size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  std::string config;
  try {
    clear_session();
    config = model_config_json(*model_from_json(text));
  } catch (const Error&) {
    return;
  }
  std::string again;
  try {
    clear_session();
    again = model_config_json(*model_from_json(config));
  } catch (const Error& error) {
    throw FuzzInvariant(std::string("model_config round trip rejected: ") + error.what());
  }
  if (again != config) throw FuzzInvariant("model_config round trip changed the config");
}

// read_image on the input as a file; what it returns must be a valid image within the cap.
inline void fuzz_image(const std::uint8_t* data, std::size_t size, const std::string& name) {
  TempFile file(name);
  std::optional<Tensor> image;
  try {
    image = read_image(file.write(data, size));
  } catch (const Error&) {
    return;
  }
  try {
    check_image(*image, "read_image result");
  } catch (const Error& error) {
    throw FuzzInvariant(error.what());
  }
  if (image->dim(0) * image->dim(1) > kMaxImagePixels) {
    throw FuzzInvariant("read_image returned an image above kMaxImagePixels");
  }
}

inline void fuzz_png(const std::uint8_t* data, std::size_t size) {
  fuzz_image(data, size, "image.png");
}

inline void fuzz_jpeg(const std::uint8_t* data, std::size_t size) {
  fuzz_image(data, size, "image.jpg");
}

// Every target by the name of its corpus and regression folders (tests/fuzz/*/<name>/).
struct Target {
  std::string_view name;
  void (*run)(const std::uint8_t*, std::size_t);
};

inline constexpr Target kTargets[] = {
    {"idx", fuzz_idx}, {"h5_model", fuzz_h5_model}, {"model_config", fuzz_model_config},
    {"png", fuzz_png}, {"jpeg", fuzz_jpeg},
};

}  // namespace kiln::fuzz
