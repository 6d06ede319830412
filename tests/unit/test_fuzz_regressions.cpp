// Every saved fuzz input — the seed corpora (tests/fuzz/corpus/<target>/) and the inputs that once
// crashed kiln (tests/fuzz/regressions/<target>/) — replayed through the same entry functions as
// the libFuzzer targets (tests/fuzz/fuzz_entries.h), without libFuzzer: bad input may only raise
// kiln::Error, which the entries swallow; a crash, a sanitizer report (in the ASan build) or any
// other exception fails. Also checks that every seed corpus is there and that the real seed files
// load.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <memory>
#include <string>
#include <vector>

#include "fuzz/fuzz_entries.h"
#include "kiln/data.h"
#include "kiln/image.h"
#include "kiln/model_io.h"

namespace {

namespace fs = std::filesystem;

const fs::path kFuzzDir = fs::path(KILN_SOURCE_DIR) / "tests" / "fuzz";

std::vector<fs::path> files_in(const fs::path& dir) {
  std::vector<fs::path> files;
  if (!fs::is_directory(dir)) return files;
  for (const auto& entry : fs::directory_iterator(dir)) {
    if (entry.is_regular_file()) files.push_back(entry.path());
  }
  std::sort(files.begin(), files.end());
  return files;
}

std::vector<std::uint8_t> read_bytes(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// Runs every file of `dir` through `target`; returns how many there were.
std::size_t replay(const kiln::fuzz::Target& target, const fs::path& dir) {
  const std::vector<fs::path> files = files_in(dir);
  for (const fs::path& file : files) {
    const std::vector<std::uint8_t> bytes = read_bytes(file);
    EXPECT_NO_THROW(target.run(bytes.data(), bytes.size()))
        << "fuzz_" << target.name << " on " << file.string();
  }
  return files.size();
}

// The environment is left as it is (init_environment is for the fuzzing processes only).
class FuzzInputs : public ::testing::TestWithParam<kiln::fuzz::Target> {};

TEST_P(FuzzInputs, SeedCorpusReplaysWithoutCrash) {
  const kiln::fuzz::Target& target = GetParam();
  EXPECT_GE(replay(target, kFuzzDir / "corpus" / std::string(target.name)), 2u)
      << "the seed corpus of fuzz_" << target.name << " is missing";
}

// Every target keeps at least one regression input: a replay of an empty folder cannot fail.
TEST_P(FuzzInputs, RegressionsReplayWithoutCrash) {
  const kiln::fuzz::Target& target = GetParam();
  EXPECT_GE(replay(target, kFuzzDir / "regressions" / std::string(target.name)), 1u)
      << "tests/fuzz/regressions/" << target.name << " holds no input";
}

INSTANTIATE_TEST_SUITE_P(Targets, FuzzInputs, ::testing::ValuesIn(kiln::fuzz::kTargets),
                         [](const ::testing::TestParamInfo<kiln::fuzz::Target>& target_info) {
                           return std::string(target_info.param.name);
                         });

// The seeds are real files that kiln reads: a seed the reader rejects would only seed the
// fuzzer with an early error.
TEST(FuzzSeeds, RealSeedFilesLoad) {
  for (const fs::path& file : files_in(kFuzzDir / "corpus" / "idx")) {
    EXPECT_NO_THROW(kiln::read_idx(file.string())) << file.string();
  }
  for (const char* folder : {"png", "jpeg"}) {
    for (const fs::path& file : files_in(kFuzzDir / "corpus" / folder)) {
      if (file.filename() == "cmyk.jpg") continue;  // a JPEG kiln rejects, by design
      EXPECT_NO_THROW(kiln::read_image(file.string())) << file.string();
    }
  }
  for (const fs::path& file : files_in(kFuzzDir / "corpus" / "model_config")) {
    const std::vector<std::uint8_t> text = read_bytes(file);
    kiln::clear_session();
    EXPECT_NO_THROW(kiln::model_from_json(std::string(text.begin(), text.end()))) << file.string();
  }
  for (const fs::path& file : files_in(kFuzzDir / "corpus" / "h5_model")) {
    const std::string name = file.filename().string();
    kiln::clear_session();
    if (name.rfind("model", 0) == 0) {
      EXPECT_NO_THROW(kiln::load_model(file.string())) << name;
    } else {
      const std::unique_ptr<kiln::Sequential> model = kiln::fuzz::make_weights_model();
      EXPECT_NO_THROW(kiln::load_weights(*model, file.string())) << name;
    }
  }
}

std::string error_of(const std::function<void()>& load) {
  try {
    load();
  } catch (const kiln::Error& error) {
    return error.what();
  }
  return "no error";
}

std::string regression_path(const std::string& target, const std::string& name) {
  return (kFuzzDir / "regressions" / target / name).string();
}

std::string regression_text(const std::string& name) {
  const std::vector<std::uint8_t> bytes =
      read_bytes(kFuzzDir / "regressions" / "model_config" / name);
  return {bytes.begin(), bytes.end()};
}

// The limits the fixes added, with the messages a user sees.
TEST(FuzzFixes, ModelConfigLimitsAreErrors) {
  EXPECT_NE(error_of([] {
              kiln::model_from_json(regression_text("dense-weight-too-big.json"));
            }).find("values kiln reads"),
            std::string::npos);
  EXPECT_NE(error_of([] {
              kiln::model_from_json(regression_text("conv-kernel-huge.json"));
            }).find("values kiln reads"),
            std::string::npos);
  EXPECT_NE(error_of([] {
              kiln::model_from_json(regression_text("units-float-1e300.json"));
            }).find("expected an integer"),
            std::string::npos);
  EXPECT_NE(error_of([] {
              kiln::model_from_json(regression_text("padding-short-pair.json"));
            }).find("model_config"),
            std::string::npos);
}

TEST(FuzzFixes, WeightDatasetOverTheLimitIsRejectedBeforeAllocation) {
  const std::unique_ptr<kiln::Sequential> model = kiln::fuzz::make_weights_model();
  const std::string path =
      (kFuzzDir / "regressions" / "h5_model" / "weights-kernel-2e40-values.h5").string();
  const std::string message = error_of([&] { kiln::load_weights(*model, path); });
  EXPECT_NE(message.find("(1048576, 1048576)"), std::string::npos) << message;
  EXPECT_NE(message.find("values kiln reads"), std::string::npos) << message;
}

// The readers' guards, each met by the regression input made for it (tests/fuzz/README.md), with
// the message a user sees. Without the guard the input would allocate gigabytes, overflow a buffer
// or decode a half-read file as if it were whole.
void expect_error(const std::function<void()>& load, const std::string& expected) {
  const std::string message = error_of(load);
  EXPECT_NE(message.find(expected), std::string::npos) << message;
}

TEST(FuzzFixes, IdxHeadersThatLieAboutTheSizeAreErrors) {
  // 65536^4 bytes: a 64-bit product of the extents wraps to 0; the check divides instead.
  expect_error([] { kiln::read_idx(regression_path("idx", "dims-product-wraps-to-zero.idx")); },
               "absurd dimensions: dimension 2 is 65536, making more than 4294967296 bytes");
  // A gzip stream cannot be sized before it is read: the data is read in chunks, so the 4 GiB
  // the header claims are never allocated for the 10 bytes the stream holds.
  expect_error(
      [] { kiln::read_idx(regression_path("idx", "gzip-claims-4gib-holds-10-bytes.idx.gz")); },
      "(4294967296 bytes of data), but the data ends after 10 bytes");
}

TEST(FuzzFixes, PngOverTheSizeCapOrCutShortIsAnError) {
  expect_error([] { kiln::read_image(regression_path("png", "header-60000x60000-one-row.png")); },
               "PNG header claims 60000x60000 pixels, more than the");
  expect_error([] { kiln::read_image(regression_path("png", "rgb-24x18-idat-cut-in-half.png")); },
               "truncated or corrupt PNG (libpng: ");
}

TEST(FuzzFixes, JpegOverTheSizeCapOrCutShortIsAnError) {
  expect_error([] { kiln::read_image(regression_path("jpeg", "rgb-444-frame-65500x65500.jpg")); },
               "JPEG header claims 65500x65500 pixels, more than the");
  expect_error([] { kiln::read_image(regression_path("jpeg", "rgb-420-scan-cut-in-half.jpg")); },
               "truncated or corrupt JPEG (libjpeg: ");
}

}  // namespace
