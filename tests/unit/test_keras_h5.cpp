// Keras HDF5 weights and model files: round trips, atomic writes, corruption caught by the
// Fletcher32 checksum, bad files, and h5py (Debian python3-h5py, run as /usr/bin/python3) both
// checking kiln's files and writing Keras-style files for kiln to read.
#include <gtest/gtest.h>
#include <hdf5.h>
#include <sys/stat.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "io/atomic_file.h"
#include "io/hdf5_file.h"
#include "io/keras_h5.h"
#include "kiln/error.h"
#include "temp_dir.h"

namespace fs = std::filesystem;

namespace {

// Exactly representable values that differ per weight: the h5py check recomputes them.
std::vector<float> pattern(std::size_t count, int weight_index) {
  std::vector<float> values(count);
  for (std::size_t i = 0; i < count; ++i) {
    values[i] =
        static_cast<float>((i * 7 + static_cast<std::size_t>(weight_index)) % 29) * 0.125f - 1.75f;
  }
  return values;
}

kiln::Tensor pattern_tensor(const kiln::Shape& shape, int weight_index) {
  return kiln::Tensor::from_vector(
      pattern(static_cast<std::size_t>(kiln::shape_numel(shape)), weight_index), shape);
}

// conv2d (3,3,1,4) + (4), flatten (no weights), dense (36,10) + (10).
std::vector<kiln::LayerWeights> seed_layers() {
  return {
      {"conv2d",
       {{"kernel:0", pattern_tensor({3, 3, 1, 4}, 0)}, {"bias:0", pattern_tensor({4}, 1)}}},
      {"flatten", {}},
      {"dense", {{"kernel:0", pattern_tensor({36, 10}, 2)}, {"bias:0", pattern_tensor({10}, 3)}}},
  };
}

kiln::Tensor random_tensor(const kiln::Shape& shape, unsigned seed) {
  std::mt19937 generator(seed);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<float> values(static_cast<std::size_t>(kiln::shape_numel(shape)));
  for (float& value : values) value = normal(generator);
  return kiln::Tensor::from_vector(values, shape);
}

void expect_same_layers(const std::vector<kiln::LayerWeights>& actual,
                        const std::vector<kiln::LayerWeights>& expected) {
  ASSERT_EQ(actual.size(), expected.size());
  for (std::size_t layer = 0; layer < expected.size(); ++layer) {
    EXPECT_EQ(actual[layer].layer_name, expected[layer].layer_name);
    ASSERT_EQ(actual[layer].weights.size(), expected[layer].weights.size());
    for (std::size_t w = 0; w < expected[layer].weights.size(); ++w) {
      const auto& [name, tensor] = actual[layer].weights[w];
      EXPECT_EQ(name, expected[layer].weights[w].first);
      EXPECT_EQ(tensor.dtype(), kiln::DType::f32);
      EXPECT_EQ(tensor.shape(), expected[layer].weights[w].second.shape());
      EXPECT_EQ(tensor.to_vector<float>(), expected[layer].weights[w].second.to_vector<float>())
          << expected[layer].layer_name << "/" << name;
    }
  }
}

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

std::string read_text(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

void write_text(const fs::path& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary);
  out << text;
}

struct CommandResult {
  int status = -1;
  std::string output;
};

CommandResult run_command(const std::string& command) {
  CommandResult result;
  std::FILE* pipe = popen((command + " 2>&1").c_str(), "r");
  if (pipe == nullptr) return result;
  char buffer[4096];
  std::size_t got = 0;
  while ((got = std::fread(buffer, 1, sizeof buffer, pipe)) > 0) result.output.append(buffer, got);
  result.status = pclose(pipe);
  return result;
}

// Debian's python3-h5py lives in the system Python, not in a pyenv `python3` that may come first
// on PATH.
constexpr const char* kPython = "/usr/bin/python3";

CommandResult run_python(const fs::path& script_path, const std::string& script,
                         const std::string& arguments) {
  write_text(script_path, script);
  return run_command(std::string(kPython) + " " + script_path.string() + " " + arguments);
}

using TempDir = kiln::testing::TempDirTest;

using KerasH5 = TempDir;

TEST_F(KerasH5, WeightsRoundTripIdenticalValues) {
  std::vector<kiln::LayerWeights> layers = {
      {"conv2d",
       {{"kernel:0", random_tensor({3, 3, 1, 32}, 1)}, {"bias:0", random_tensor({32}, 2)}}},
      {"max_pooling2d", {}},
      {"dense", {{"kernel:0", random_tensor({5408, 10}, 3)}, {"bias:0", random_tensor({10}, 4)}}},
  };
  kiln::save_weights_h5(path("weights.h5"), layers);
  expect_same_layers(kiln::load_weights_h5(path("weights.h5")), layers);
  EXPECT_EQ(entries(), (std::vector<std::string>{"weights.h5"}));
}

TEST_F(KerasH5, Float64TensorsAreStoredAsFloat32) {
  std::vector<double> values{0.5, -1.25, 3.0};
  std::vector<kiln::LayerWeights> layers = {
      {"dense", {{"bias:0", kiln::Tensor::from_vector(values, {3})}}}};
  kiln::save_weights_h5(path("weights.h5"), layers);
  std::vector<kiln::LayerWeights> loaded = kiln::load_weights_h5(path("weights.h5"));
  EXPECT_EQ(loaded[0].weights[0].second.to_vector<float>(),
            (std::vector<float>{0.5f, -1.25f, 3.0f}));
}

TEST_F(KerasH5, ModelFileRoundTrip) {
  std::string config =
      R"({"class_name": "Sequential", "config": {"name": "sequential", "layers": []}})";
  std::string training = R"({"loss": "categorical_crossentropy"})";
  kiln::save_model_h5(path("model.h5"), config, training, seed_layers());
  kiln::ModelFileContents contents = kiln::read_model_h5(path("model.h5"));
  EXPECT_EQ(contents.model_config, config);
  EXPECT_EQ(contents.training_config, training);
  EXPECT_EQ(contents.keras_version, "2.15.0");
  EXPECT_EQ(contents.backend, "tensorflow");
  expect_same_layers(contents.weights, seed_layers());
  expect_same_layers(kiln::load_weights_h5(path("model.h5")), seed_layers());

  kiln::save_model_h5(path("untrained.h5"), config, "", seed_layers());
  EXPECT_EQ(kiln::read_model_h5(path("untrained.h5")).training_config, "");
}

TEST_F(KerasH5, WeightsFileIsNotAModelFile) {
  kiln::save_weights_h5(path("weights.h5"), seed_layers());
  std::string message = error_of([&] { kiln::read_model_h5(path("weights.h5")); });
  EXPECT_NE(message.find(path("weights.h5")), std::string::npos) << message;
  EXPECT_NE(message.find("no model_config"), std::string::npos) << message;
}

TEST_F(KerasH5, LongLayerNameListIsSplitLikeKeras) {
  std::vector<kiln::LayerWeights> layers;
  for (int i = 0; i < 2000; ++i) {
    char name[64];
    std::snprintf(name, sizeof name, "layer_with_a_rather_long_name_%04d", i);
    layers.push_back({name, {}});
  }
  layers.back().weights.emplace_back("bias:0", pattern_tensor({3}, 0));
  kiln::save_weights_h5(path("many.h5"), layers);
  {
    kiln::h5::Handle file = kiln::h5::open_file(path("many.h5"));
    EXPECT_FALSE(kiln::h5::has_attribute(file.id(), "layer_names"));
    EXPECT_TRUE(kiln::h5::has_attribute(file.id(), "layer_names0"));
    EXPECT_TRUE(kiln::h5::has_attribute(file.id(), "layer_names1"));
    EXPECT_FALSE(kiln::h5::has_attribute(file.id(), "layer_names2"));
  }
  expect_same_layers(kiln::load_weights_h5(path("many.h5")), layers);
}

TEST_F(KerasH5, InvalidNamesAreRejectedBeforeWriting) {
  std::vector<kiln::LayerWeights> duplicate = {{"dense", {}}, {"dense", {}}};
  EXPECT_NE(error_of([&] { kiln::save_weights_h5(path("w.h5"), duplicate); }).find("appears twice"),
            std::string::npos);
  std::vector<kiln::LayerWeights> slash = {{"a/b", {}}};
  EXPECT_THROW(kiln::save_weights_h5(path("w.h5"), slash), kiln::Error);
  std::vector<kiln::LayerWeights> undefined = {{"dense", {{"kernel:0", kiln::Tensor()}}}};
  EXPECT_THROW(kiln::save_weights_h5(path("w.h5"), undefined), kiln::Error);
  EXPECT_TRUE(entries().empty());
}

TEST_F(KerasH5, FailedSaveKeepsThePreviousFile) {
  kiln::save_weights_h5(path("weights.h5"), seed_layers());
  std::string before = read_text(path("weights.h5"));
  // Passes the name checks but fails inside the HDF5 writing (a name longer than an attribute
  // can hold), after the temp file exists.
  std::vector<kiln::LayerWeights> failing = {{std::string(70000, 'x'), {}}};
  EXPECT_THROW(kiln::save_weights_h5(path("weights.h5"), failing), kiln::Error);
  EXPECT_EQ(read_text(path("weights.h5")), before);
  EXPECT_EQ(entries(), (std::vector<std::string>{"weights.h5"}));
  expect_same_layers(kiln::load_weights_h5(path("weights.h5")), seed_layers());
}

// Flips one byte inside the stored data of `dataset_path` (found through the chunk index).
void flip_data_byte(const std::string& file_path, const std::string& dataset_path) {
  haddr_t address = 0;
  hsize_t size = 0;
  {
    kiln::h5::Handle file = kiln::h5::open_file(file_path);
    kiln::h5::Handle dataset = kiln::h5::open_dataset(file.id(), dataset_path);
    kiln::h5::Handle space(H5Dget_space(dataset.id()));
    hsize_t offset[8] = {};
    unsigned filter_mask = 0;
    ASSERT_GE(H5Dget_chunk_info(dataset.id(), space.id(), 0, offset, &filter_mask, &address, &size),
              0);
  }
  ASSERT_GT(size, 8u);
  std::fstream io(file_path, std::ios::in | std::ios::out | std::ios::binary);
  io.seekg(static_cast<std::streamoff>(address + size / 2));
  char byte = 0;
  io.read(&byte, 1);
  byte = static_cast<char>(byte ^ 0x10);
  io.seekp(static_cast<std::streamoff>(address + size / 2));
  io.write(&byte, 1);
}

TEST_F(KerasH5, FlippedDataByteIsCaughtByFletcher32) {
  kiln::save_weights_h5(path("weights.h5"), seed_layers());
  flip_data_byte(path("weights.h5"), "dense/dense/kernel:0");
  std::string message = error_of([&] { kiln::load_weights_h5(path("weights.h5")); });
  EXPECT_NE(message.find(path("weights.h5")), std::string::npos) << message;
  EXPECT_NE(message.find("/dense/dense/kernel:0"), std::string::npos) << message;
  EXPECT_NE(message.find("Fletcher32"), std::string::npos) << message;
}

TEST_F(KerasH5, NonFiniteValueNamesLayerAndWeight) {
  std::vector<float> values(10, 0.5f);
  values[3] = std::numeric_limits<float>::quiet_NaN();
  std::vector<kiln::LayerWeights> layers = seed_layers();
  layers[2].weights[1].second = kiln::Tensor::from_vector(values, {10});
  kiln::save_weights_h5(path("nan.h5"), layers);
  std::string message = error_of([&] { kiln::load_weights_h5(path("nan.h5")); });
  EXPECT_NE(message.find("layer 'dense', weight 'dense/bias:0' of shape (10,): element 3 is nan"),
            std::string::npos)
      << message;
  EXPECT_NE(message.find(path("nan.h5")), std::string::npos) << message;
}

// A Keras-layout file with one layer "dense" whose dataset is written by `write`.
template <class Write>
void write_custom(const std::string& file_path, const std::vector<std::string>& weight_names,
                  Write write) {
  kiln::h5::Handle file = kiln::h5::create_file(file_path);
  kiln::h5::write_string_list_attribute(file.id(), "layer_names", {"dense"});
  kiln::h5::Handle group = kiln::h5::create_group(file.id(), "dense");
  kiln::h5::write_string_list_attribute(group.id(), "weight_names", weight_names);
  write(group.id());
}

TEST_F(KerasH5, WrongDtypeOrMissingPartsAreNamed) {
  std::vector<std::int32_t> ints{1, 2, 3};
  write_custom(path("ints.h5"), {"dense/bias:0"}, [&](hid_t group) {
    kiln::h5::write_dataset(group, "dense/bias:0", kiln::DType::i32, ints.data(), {3});
  });
  std::string message = error_of([&] { kiln::load_weights_h5(path("ints.h5")); });
  EXPECT_NE(
      message.find("layer 'dense', weight 'dense/bias:0': expected float32 data, found int32"),
      std::string::npos)
      << message;

  write_custom(path("missing.h5"), {"dense/kernel:0"}, [](hid_t) {});
  message = error_of([&] { kiln::load_weights_h5(path("missing.h5")); });
  EXPECT_NE(message.find(path("missing.h5") + ":/dense/dense/kernel:0: dataset is missing"),
            std::string::npos)
      << message;

  {
    kiln::h5::Handle file = kiln::h5::create_file(path("ghost.h5"));
    kiln::h5::write_string_list_attribute(file.id(), "layer_names", {"ghost"});
  }
  message = error_of([&] { kiln::load_weights_h5(path("ghost.h5")); });
  EXPECT_NE(message.find(path("ghost.h5") + ":/ghost: group is missing"), std::string::npos)
      << message;

  { kiln::h5::Handle file = kiln::h5::create_file(path("empty.h5")); }
  message = error_of([&] { kiln::load_weights_h5(path("empty.h5")); });
  EXPECT_NE(message.find("not a Keras weights file"), std::string::npos) << message;
}

TEST_F(KerasH5, TruncatedMissingOrForeignFiles) {
  kiln::save_weights_h5(path("weights.h5"), seed_layers());
  fs::resize_file(path("weights.h5"), fs::file_size(path("weights.h5")) * 6 / 10);
  std::string message = error_of([&] { kiln::load_weights_h5(path("weights.h5")); });
  EXPECT_NE(message.find(path("weights.h5")), std::string::npos) << message;

  message = error_of([&] { kiln::load_weights_h5(path("absent.h5")); });
  EXPECT_NE(message.find(path("absent.h5") + ": no such file"), std::string::npos) << message;

  write_text(path("text.h5"), "this is not HDF5\n");
  message = error_of([&] { kiln::read_model_h5(path("text.h5")); });
  EXPECT_NE(message.find(path("text.h5") + ": not an HDF5 file"), std::string::npos) << message;
}

// Checks kiln's weights and model files with h5py, independently of kiln's reader.
constexpr const char* kCheckLayoutScript = R"PY(
import json
import sys

import h5py
import numpy as np

weights_path, model_path = sys.argv[1], sys.argv[2]


def pattern(count, index):
    i = np.arange(count, dtype=np.int64)
    return (((i * 7 + index) % 29) * 0.125 - 1.75).astype(np.float32)


def names(array):
    assert array.dtype.kind == "S", array.dtype
    return [n.decode("utf8") for n in array]


def check_weights(group):
    assert names(group.attrs["layer_names"]) == ["conv2d", "flatten", "dense"]
    assert group.attrs["backend"] == b"tensorflow", group.attrs["backend"]
    assert group.attrs["keras_version"] == b"2.15.0", group.attrs["keras_version"]
    assert names(group["conv2d"].attrs["weight_names"]) == ["conv2d/kernel:0", "conv2d/bias:0"]
    assert names(group["dense"].attrs["weight_names"]) == ["dense/kernel:0", "dense/bias:0"]
    assert len(group["flatten"].attrs["weight_names"]) == 0
    assert list(group["flatten"].keys()) == []
    expected = [("conv2d/conv2d/kernel:0", (3, 3, 1, 4)), ("conv2d/conv2d/bias:0", (4,)),
                ("dense/dense/kernel:0", (36, 10)), ("dense/dense/bias:0", (10,))]
    for index, (path, shape) in enumerate(expected):
        dataset = group[path]
        assert dataset.dtype == np.float32, (path, dataset.dtype)
        assert dataset.shape == shape, (path, dataset.shape)
        assert dataset.fletcher32, path
        assert np.array_equal(dataset[()].ravel(), pattern(int(np.prod(shape)), index)), path


with h5py.File(weights_path, "r") as f:
    check_weights(f)

with h5py.File(model_path, "r") as f:
    config = f.attrs["model_config"]
    assert isinstance(config, bytes), type(config)
    assert json.loads(config.decode("utf8"))["class_name"] == "Sequential"
    training = json.loads(f.attrs["training_config"].decode("utf8"))
    assert training["loss"] == "categorical_crossentropy", training
    assert f.attrs["keras_version"] == "2.15.0", f.attrs["keras_version"]
    assert f.attrs["backend"] == "tensorflow", f.attrs["backend"]
    check_weights(f["model_weights"])

print("h5py layout check passed")
)PY";

TEST_F(KerasH5, H5pyReadsTheKerasLayout) {
  kiln::save_weights_h5(path("weights.h5"), seed_layers());
  kiln::save_model_h5(
      path("model.h5"),
      R"({"class_name": "Sequential", "config": {"name": "sequential", "layers": []}})",
      R"({"loss": "categorical_crossentropy"})", seed_layers());
  CommandResult result =
      run_python(path("check.py"), kCheckLayoutScript, path("weights.h5") + " " + path("model.h5"));
  EXPECT_EQ(result.status, 0) << "the h5py check failed (it needs " << kPython
                              << " with h5py: apt-get install -y python3-h5py):\n"
                              << result.output;
  EXPECT_NE(result.output.find("h5py layout check passed"), std::string::npos) << result.output;
}

// Writes model files the way Keras does through h5py: "keras2" as tf.keras 2.x (str root
// attributes, numpy bytes name lists, an empty float64 weight_names for a layer without weights,
// weights at <layer>/<layer>/kernel:0), "keras3" as Keras 3's legacy HDF5 format (variable-length
// name lists, weight paths sequential/<layer>/kernel, a float64 bias, top_level_model_weights).
constexpr const char* kKerasWriterScript = R"PY(
import json
import sys

import h5py
import numpy as np

path, flavour = sys.argv[1], sys.argv[2]
keras3 = flavour == "keras3"


def pattern(count, index):
    i = np.arange(count, dtype=np.int64)
    return (((i * 7 + index) % 29) * 0.125 - 1.75).astype(np.float32)


layers = {
    "conv2d": [("kernel", (3, 3, 1, 4)), ("bias", (4,))],
    "flatten": [],
    "dense": [("kernel", (36, 10)), ("bias", (10,))],
}
config = {"class_name": "Sequential", "config": {"name": "sequential", "layers": []}}
with h5py.File(path, "w") as f:
    f.attrs["keras_version"] = "3.3.3" if keras3 else "2.15.0"
    f.attrs["backend"] = "tensorflow"
    f.attrs["model_config"] = json.dumps(config).encode("utf8")
    weights = f.create_group("model_weights")
    order = ["conv2d", "flatten", "dense"]
    if keras3:
        weights.attrs["layer_names"] = order
    else:
        weights.attrs["layer_names"] = [name.encode("utf8") for name in order]
    weights.attrs["backend"] = b"tensorflow"
    weights.attrs["keras_version"] = b"3.3.3" if keras3 else b"2.15.0"
    index = 0
    for name in sorted(layers):
        group = weights.create_group(name)
        stored = []
        for short, shape in layers[name]:
            stored.append(f"sequential/{name}/{short}" if keras3 else f"{name}/{short}:0")
        group.attrs["weight_names"] = [s.encode("utf8") for s in stored]
        for stored_name, (short, shape) in zip(stored, layers[name]):
            start = {"conv2d": 0, "dense": 2}[name] + (1 if short == "bias" else 0)
            values = pattern(int(np.prod(shape)), start).reshape(shape)
            if keras3 and short == "bias":
                values = values.astype(np.float64)
            group.create_dataset(stored_name, shape, dtype=values.dtype)[:] = values
    if keras3:
        top = weights.create_group("top_level_model_weights")
        top.attrs["weight_names"] = []
)PY";

TEST_F(KerasH5, ReadsFilesWrittenByKerasThroughH5py) {
  for (const char* flavour : {"keras2", "keras3"}) {
    std::string file = path(std::string(flavour) + ".h5");
    CommandResult result = run_python(path("write.py"), kKerasWriterScript, file + " " + flavour);
    ASSERT_EQ(result.status, 0) << "writing a Keras-style file with h5py failed (it needs "
                                << kPython << " with h5py: apt-get install -y python3-h5py):\n"
                                << result.output;
    kiln::ModelFileContents contents = kiln::read_model_h5(file);
    EXPECT_NE(contents.model_config.find(R"("class_name": "Sequential")"), std::string::npos);
    EXPECT_EQ(contents.backend, "tensorflow");
    EXPECT_EQ(contents.keras_version, std::string(flavour) == "keras3" ? "3.3.3" : "2.15.0");
    std::vector<kiln::LayerWeights> expected = seed_layers();
    if (std::string(flavour) == "keras3") {
      for (auto& layer : expected) {
        for (auto& weight : layer.weights)
          weight.first = weight.first.substr(0, weight.first.size() - 2);
      }
    }
    expect_same_layers(contents.weights, expected);
  }
}

using AtomicFile = TempDir;

TEST_F(AtomicFile, WritesAndReplacesLeavingNoTempFile) {
  kiln::write_file_atomically(path("log.csv"), "epoch,loss\n");
  EXPECT_EQ(read_text(path("log.csv")), "epoch,loss\n");
  struct stat info {};
  ASSERT_EQ(stat(path("log.csv").c_str(), &info), 0);
  EXPECT_EQ(info.st_mode & 0777, 0644u);
  chmod(path("log.csv").c_str(), 0600);
  kiln::write_file_atomically(path("log.csv"), "epoch,loss\n1,0.5\n");
  EXPECT_EQ(read_text(path("log.csv")), "epoch,loss\n1,0.5\n");
  ASSERT_EQ(stat(path("log.csv").c_str(), &info), 0);
  EXPECT_EQ(info.st_mode & 0777, 0600u);
  EXPECT_EQ(entries(), (std::vector<std::string>{"log.csv"}));
}

TEST_F(AtomicFile, FailingWriterLeavesTheExistingFileIntact) {
  write_text(path("checkpoint.h5"), "previous checkpoint");
  std::string temp_seen;
  EXPECT_THROW(kiln::write_file_atomically(path("checkpoint.h5"),
                                           [&](const std::string& temp) {
                                             temp_seen = temp;
                                             write_text(temp, "half a checkpo");
                                             throw kiln::Error("disk full (injected)");
                                           }),
               kiln::Error);
  EXPECT_EQ(fs::path(temp_seen).parent_path(), dir_);
  EXPECT_EQ(read_text(path("checkpoint.h5")), "previous checkpoint");
  EXPECT_EQ(entries(), (std::vector<std::string>{"checkpoint.h5"}));
}

// A writer killed mid-write leaves its temp file; the next successful write of the same path
// removes it, and only it (other paths' temp files and look-alike names stay).
TEST_F(AtomicFile, SuccessfulWriteRemovesTempFilesAKilledWriterLeft) {
  write_text(path(".checkpoint.h5.tmp-a1B2c3"), "half a checkpo");
  write_text(path(".model.h5.tmp-a1B2c3"), "half a model");
  write_text(path(".checkpoint.h5.tmp-notmine"), "kept");
  kiln::write_file_atomically(path("checkpoint.h5"), "new checkpoint");
  EXPECT_EQ(read_text(path("checkpoint.h5")), "new checkpoint");
  EXPECT_EQ(entries(), (std::vector<std::string>{".checkpoint.h5.tmp-notmine",
                                                 ".model.h5.tmp-a1B2c3", "checkpoint.h5"}));
}

TEST_F(AtomicFile, MissingDirectoryOrDirectoryTargetIsAnError) {
  std::string inside_missing = path("no_such_dir/out.txt");
  std::string message = error_of([&] { kiln::write_file_atomically(inside_missing, "x"); });
  EXPECT_NE(message.find(inside_missing), std::string::npos) << message;

  fs::create_directories(path("a_directory"));
  message = error_of([&] { kiln::write_file_atomically(path("a_directory"), "x"); });
  EXPECT_NE(message.find(path("a_directory")), std::string::npos) << message;
  EXPECT_EQ(entries(), (std::vector<std::string>{"a_directory"}));
}

}  // namespace
