// Reading model, architecture and weights files by content, and writing .keras archives
// (model/model_files.h).
#include "model/model_files.h"

#include <chrono>
#include <ctime>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "core/check.h"
#include "io/file_kind.h"
#include "io/hdf5_file.h"
#include "io/keras3_weights.h"
#include "io/zip_archive.h"
#include "kiln/build_info.h"
#include "kiln/model_io.h"
#include "model/optimizer_weights.h"
#include "model/self_test.h"

namespace kiln {
namespace {

using Json = nlohmann::ordered_json;

constexpr const char* kConfigMember = "config.json";
constexpr const char* kMetadataMember = "metadata.json";
constexpr const char* kWeightsMember = "model.weights.h5";
// The Keras version whose .keras layout kiln writes (metadata.json; kiln_version says who wrote).
constexpr const char* kKeras3Version = "3.0.0";
// No config or metadata comes near this; weights are bounded by what kiln reads, plus room for
// HDF5's own structures.
constexpr std::size_t kMaxJsonBytes = std::size_t{16} << 20;
constexpr std::size_t kMaxWeightsBytes =
    static_cast<std::size_t>(kMaxFileWeightValues) * sizeof(float) + (std::size_t{16} << 20);

std::string read_text_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  KILN_CHECK(in.good(), "{}: cannot read the file", path);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

std::string not_a_model_file(const std::string& path, FileKind kind) {
  switch (kind) {
    case FileKind::missing: return fmt::format("{}: no such file", path);
    case FileKind::directory:
      return fmt::format(
          "{}: is a directory; kiln reads a .keras model as the zip archive Keras 3 writes by "
          "default (Keras's directory form is not read: zip it, or save with "
          "model.save(\"x.keras\"))",
          path);
    default:
      return fmt::format(
          "{}: not a Keras model file: expected an HDF5 file (.h5), a zip archive (.keras) or a "
          "JSON architecture (model.to_json()), found none of these signatures (truncated or "
          "corrupt?)",
          path);
  }
}

std::vector<std::string> weight_paths(const KerasArchitecture& architecture) {
  return keras3_layer_paths(architecture.class_names);
}

StoredWeights keras3_weights(hid_t file, const KerasArchitecture& architecture) {
  return {read_keras3_weights(file, architecture.layer_names, weight_paths(architecture)), true};
}

ModelFile read_archive(const std::string& path) {
  ZipReader archive(path);
  KILN_CHECK(archive.contains(kConfigMember),
             "{}: a zip archive without config.json is not a Keras 3 .keras model (members: {})",
             path, fmt::join(archive.member_names(), ", "));
  ModelFile file;
  file.architecture = read_keras_architecture(archive.read(kConfigMember, kMaxJsonBytes),
                                              path + "/" + kConfigMember);
  if (archive.contains(kMetadataMember)) {
    const Json metadata = Json::parse(archive.read(kMetadataMember, kMaxJsonBytes), nullptr, false);
    if (metadata.is_object()) file.architecture.keras_version = metadata.value("keras_version", "");
  }
  KILN_CHECK(archive.contains(kWeightsMember),
             "{}: the archive has no {} (members: {}); Keras's npz weights format is not read",
             path, kWeightsMember, fmt::join(archive.member_names(), ", "));
  const std::string image = archive.read(kWeightsMember, kMaxWeightsBytes);
  h5::Handle weights = h5::open_file_image(image, path + "/" + kWeightsMember);
  file.weights = keras3_weights(weights.id(), file.architecture);
  if (archive.contains(kSelfTestMember))
    file.self_test_image = archive.read(kSelfTestMember, kMaxWeightsBytes);
  return file;
}

ModelFile read_h5_model(const std::string& path) {
  ModelFileContents contents = read_model_h5(path);
  ModelFile file;
  file.architecture = read_keras_architecture(contents.model_config, path + ": model_config");
  file.architecture.training_config = contents.training_config;
  file.architecture.keras_version = contents.keras_version;
  file.weights = StoredWeights{std::move(contents.weights), false};
  return file;
}

std::string date_saved() {
  const std::time_t now = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
  std::tm local{};
  localtime_r(&now, &local);
  char text[32];
  std::strftime(text, sizeof text, "%Y-%m-%d@%H:%M:%S", &local);
  return text;
}

std::string memory_file(const std::string& name, const std::function<void(hid_t)>& write) {
  h5::Handle file = h5::create_memory_file(name);
  write(file.id());
  return h5::file_image(file.id());
}

}  // namespace

ModelFile read_model_file(const std::string& path) {
  const FileKind kind = file_kind(path);
  if (kind == FileKind::hdf5) return read_h5_model(path);
  if (kind == FileKind::zip) return read_archive(path);
  KILN_CHECK(kind == FileKind::json, "{}", not_a_model_file(path, kind));
  ModelFile file;
  file.architecture = read_keras_architecture(read_text_file(path), path);
  return file;
}

StoredWeights read_weights_file(const std::string& path, const KerasArchitecture& architecture) {
  const FileKind kind = file_kind(path);
  if (kind == FileKind::zip) return *read_archive(path).weights;
  KILN_CHECK(kind == FileKind::hdf5,
             "{}: not a weights file: expected HDF5 (Keras save_weights .h5 or .weights.h5) or a "
             ".keras archive",
             path);
  h5::Handle file = h5::open_file(path);
  if (has_keras3_weights(file.id())) return keras3_weights(file.id(), architecture);
  file.close();
  return {load_weights_h5(path), false};
}

void verify_model_file(const std::string& path, const ModelFile& file, Model& model) {
  if (!file.self_test_image.empty()) {
    h5::Handle image = h5::open_file_image(file.self_test_image, path + "/" + kSelfTestMember);
    verify_self_test(image.id(), model, path);
    return;
  }
  if (file_kind(path) == FileKind::hdf5) {
    h5::Handle h5_file = h5::open_file(path);
    if (has_self_test(h5_file.id())) {
      verify_self_test(h5_file.id(), model, path);
      return;
    }
  }
  fail(
      "{}: --verify: the file carries no self-test (kiln stores one in the .h5 and .keras files "
      "it writes; files from Keras have none)",
      path);
}

void restore_optimizer_state(const std::string& path, Model& model) {
  if (file_kind(path) != FileKind::hdf5) return;
  h5::Handle file = h5::open_file(path);
  read_optimizer_weights(file.id(), model, path);
}

void save_keras_archive(const Model& model, const std::string& path,
                        const std::string& training_config,
                        const std::vector<LayerWeights>& layers) {
  std::vector<std::string> class_names;
  for (const LayerWeights& layer : layers)
    class_names.push_back(model.get_layer(layer.layer_name)->type());
  const Json metadata = {
      {"keras_version", kKeras3Version}, {"date_saved", date_saved()}, {"kiln_version", version()}};
  const std::string weights = memory_file(path + "/" + kWeightsMember, [&](hid_t file) {
    write_keras3_weights(file, layers, keras3_layer_paths(class_names));
  });
  const std::string self_test =
      memory_file(path + "/" + kSelfTestMember, [&](hid_t file) { write_self_test(file, model); });
  write_zip_atomically(path, {{kMetadataMember, metadata.dump()},
                              {kConfigMember, keras3_config_json(model, training_config)},
                              {kWeightsMember, weights},
                              {kSelfTestMember, self_test}});
}

}  // namespace kiln
