// TF.js layers model.json + shards (io/tfjs_layers.h). Every entry of the manifest is checked
// before any shard is read, and every shard's size before its bytes are decoded, so a bad file
// is an Error that names it and allocates nothing large.
#include "io/tfjs_layers.h"

#include <bit>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <set>

#include <nlohmann/json.hpp>

#include "core/check.h"

namespace kiln {
namespace {

using Json = nlohmann::ordered_json;

// The most weight values a model.json may describe: the limit model_config puts on the weights
// a config may create (64 MiB of float32), so a hostile manifest cannot make kiln allocate more.
constexpr std::int64_t kMaxManifestValues = std::int64_t{1} << 24;

enum class Encoding { float32, uint8, uint16, float16 };

struct WeightEntry {
  std::string name;
  Shape shape;
  std::int64_t count = 1;
  Encoding encoding = Encoding::float32;
  double scale = 1.0, min = 0.0;  // uint8 / uint16 only
  bool optimizer = false;         // "group": "optimizer": stored, not part of the model
};

std::int64_t bytes_per_value(Encoding encoding) {
  switch (encoding) {
    case Encoding::uint8: return 1;
    case Encoding::uint16:
    case Encoding::float16: return 2;
    case Encoding::float32: break;
  }
  return 4;
}

std::string read_file(const std::string& path, const std::string& what) {
  std::error_code error;
  KILN_CHECK(std::filesystem::is_regular_file(path, error), "{}: {} is missing (no such file)",
             what, path);
  std::ifstream in(path, std::ios::binary);
  KILN_CHECK(in.is_open(), "{}: cannot open {}", what, path);
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  KILN_CHECK(!in.bad(), "{}: cannot read {}", what, path);
  return bytes;
}

Json parse_model_json(const std::string& path) {
  try {
    return Json::parse(read_file(path, "TF.js model.json"));
  } catch (const nlohmann::json::exception& e) {
    fail("{}: not valid JSON: {}", path, e.what());
  }
}

// The Keras model config, after refusing what is not a layers model.
const Json& keras_topology(const Json& root, const std::string& path) {
  KILN_CHECK(root.is_object(), "{}: expected a JSON object, found {}", path,
             std::string(root.type_name()));
  const std::string format = root.contains("format") && root["format"].is_string()
                                 ? root["format"].get<std::string>()
                                 : "";
  const bool graph = format == "graph-model" ||
                     (root.contains("modelTopology") && root["modelTopology"].contains("node"));
  KILN_CHECK(!graph,
             "{}: a TF.js graph model (format \"graph-model\", a TensorFlow GraphDef); "
             "load_model reads TF.js layers models (a Keras modelTopology)",
             path);
  std::vector<std::string> keys;
  for (const auto& item : root.items()) keys.push_back(item.key());
  KILN_CHECK(root.contains("modelTopology") && root.contains("weightsManifest"),
             "{}: expected a TF.js layers model.json with modelTopology and weightsManifest, "
             "found keys [{}]",
             path, fmt::join(keys, ", "));
  const Json& topology = root["modelTopology"];
  KILN_CHECK(topology.is_object(), "{}: modelTopology: expected an object, found {}", path,
             std::string(topology.type_name()));
  if (topology.contains("model_config")) return topology["model_config"];
  KILN_CHECK(topology.contains("class_name") && topology.contains("config"),
             "{}: modelTopology holds neither model_config nor a Keras model config "
             "(class_name, config)",
             path);
  return topology;
}

// "categoricalCrossentropy" -> "categorical_crossentropy"; snake_case names stay as they are.
std::string snake_case(const std::string& name) {
  std::string out;
  for (char c : name) {
    if (c >= 'A' && c <= 'Z') {
      out += '_';
      c = static_cast<char>(c - 'A' + 'a');
    }
    out += c;
  }
  return out;
}

// TF.js writes a training config in its own spelling: loss names in camelCase and the optimizer's
// learningRate, beta1, beta2 (tfjs-layers LayersModel.getTrainingConfig); Keras writes
// categorical_crossentropy, learning_rate, beta_1, beta_2. Returns it in Keras's.
Json keras_spelling(Json config) {
  if (config.contains("loss") && config["loss"].is_string()) {
    config["loss"] = snake_case(config["loss"].get<std::string>());
  } else if (config.contains("loss") && config["loss"].is_object() &&
             !config["loss"].contains("class_name")) {
    for (Json& loss : config["loss"]) {
      if (loss.is_string()) loss = snake_case(loss.get<std::string>());
    }
  }
  if (config.contains("optimizer_config") && config["optimizer_config"].is_object() &&
      config["optimizer_config"].contains("config") &&
      config["optimizer_config"]["config"].is_object()) {
    Json& options = config["optimizer_config"]["config"];
    for (const auto& [tfjs, keras] :
         {std::pair{"learningRate", "learning_rate"}, {"beta1", "beta_1"}, {"beta2", "beta_2"}}) {
      if (options.contains(tfjs) && !options.contains(keras)) options[keras] = options[tfjs];
    }
  }
  return config;
}

std::string training_config_of(const Json& root) {
  if (root.contains("trainingConfig") && root["trainingConfig"].is_object()) {
    return keras_spelling(root["trainingConfig"]).dump();
  }
  const Json& topology = root["modelTopology"];
  if (topology.contains("training_config") && topology["training_config"].is_object()) {
    return keras_spelling(topology["training_config"]).dump();
  }
  return "";
}

Encoding encoding_of(const Json& spec, const std::string& where) {
  const std::string dtype = spec.value("dtype", std::string("float32"));
  KILN_CHECK(dtype == "float32", "{}: dtype '{}' is not supported (kiln models hold float32)",
             where, dtype);
  if (!spec.contains("quantization")) return Encoding::float32;
  const Json& q = spec["quantization"];
  KILN_CHECK(q.is_object() && q.contains("dtype") && q["dtype"].is_string(),
             "{}: quantization: expected {{\"dtype\": …}}, found {}", where, q.dump());
  const std::string stored = q["dtype"].get<std::string>();
  if (stored == "float16") return Encoding::float16;
  KILN_CHECK(stored == "uint8" || stored == "uint16",
             "{}: quantization dtype '{}' is not supported (uint8, uint16, float16)", where,
             stored);
  for (const char* key : {"scale", "min"}) {
    KILN_CHECK(q.contains(key) && q[key].is_number(),
               "{}: {} quantization needs a number '{}', found {}", where, stored, key, q.dump());
  }
  return stored == "uint8" ? Encoding::uint8 : Encoding::uint16;
}

WeightEntry entry_of(const Json& spec, const std::string& path) {
  KILN_CHECK(spec.is_object() && spec.contains("name") && spec["name"].is_string() &&
                 spec.contains("shape") && spec["shape"].is_array(),
             "{}: weightsManifest: expected a weight entry with name and shape, found {}", path,
             spec.dump());
  WeightEntry entry;
  entry.name = spec["name"].get<std::string>();
  const std::string where = path + ": weight '" + entry.name + "'";
  for (const Json& extent : spec["shape"]) {
    KILN_CHECK(extent.is_number_integer() && extent.get<std::int64_t>() >= 0 &&
                   extent.get<std::int64_t>() <= kMaxManifestValues,
               "{}: shape {}: expected extents from 0 to {}", where, spec["shape"].dump(),
               kMaxManifestValues);
    entry.shape.push_back(extent.get<std::int64_t>());
    entry.count *= entry.shape.back();
    KILN_CHECK(entry.count <= kMaxManifestValues,
               "{}: shape {} holds more than the {} values kiln reads", where, spec["shape"].dump(),
               kMaxManifestValues);
  }
  entry.encoding = encoding_of(spec, where);
  if (entry.encoding == Encoding::uint8 || entry.encoding == Encoding::uint16) {
    entry.scale = spec["quantization"]["scale"].get<double>();
    entry.min = spec["quantization"]["min"].get<double>();
  }
  entry.optimizer = spec.value("group", std::string("model")) == "optimizer";
  return entry;
}

// The bytes of a group's shards, concatenated, checked against what its entries need (the
// sizes first, so a wrong shard is not read).
std::string group_bytes(const Json& paths, std::int64_t needed, std::size_t group,
                        const std::filesystem::path& dir, const std::string& path) {
  const std::string where = fmt::format("{}: weightsManifest group {}", path, group);
  KILN_CHECK(paths.is_array() && !paths.empty(), "{}: expected a list of shard paths, found {}",
             where, paths.dump());
  std::vector<std::string> files, sizes;
  std::int64_t total = 0;
  for (const Json& shard : paths) {
    KILN_CHECK(shard.is_string(), "{}: shard path {} is not a string", where, shard.dump());
    files.push_back((dir / shard.get<std::string>()).string());
    std::error_code error;
    KILN_CHECK(std::filesystem::is_regular_file(files.back(), error),
               "{}: shard {} is missing (no such file)", where, files.back());
    const auto size = static_cast<std::int64_t>(std::filesystem::file_size(files.back(), error));
    KILN_CHECK(!error, "{}: cannot read the size of shard {}", where, files.back());
    sizes.push_back(fmt::format("{} ({} bytes)", shard.get<std::string>(), size));
    total += size;
  }
  KILN_CHECK(total == needed, "{}: its weights take {} bytes, its shards hold {}: {}{}", where,
             needed, total, fmt::join(sizes, ", "),
             total < needed ? " (a shard is missing bytes)" : "");
  std::string bytes;
  for (const std::string& file : files) bytes += read_file(file, where);
  KILN_CHECK(static_cast<std::int64_t>(bytes.size()) == needed,
             "{}: read {} bytes of shards, expected {}", where, bytes.size(), needed);
  return bytes;
}

std::uint32_t little_endian(const unsigned char* p, int bytes) {
  std::uint32_t value = 0;
  for (int i = bytes - 1; i >= 0; --i) value = (value << 8) | p[i];
  return value;
}

// IEEE 754 half precision to float (exact: every half is a float).
float half_to_float(std::uint32_t half) {
  const std::uint32_t sign = (half & 0x8000u) << 16;
  const std::uint32_t exponent = (half >> 10) & 0x1fu;
  const std::uint32_t mantissa = half & 0x3ffu;
  if (exponent == 0) {  // zero or subnormal: mantissa * 2^-24
    const float magnitude = std::ldexp(static_cast<float>(mantissa), -24);
    return sign != 0 ? -magnitude : magnitude;
  }
  const std::uint32_t bits = exponent == 0x1fu ? 0x7f800000u | (mantissa << 13)  // inf, NaN
                                               : ((exponent + 112) << 23) | (mantissa << 13);
  return std::bit_cast<float>(sign | bits);
}

float decode_value(const WeightEntry& entry, const unsigned char* p) {
  switch (entry.encoding) {
    case Encoding::uint8:
    case Encoding::uint16: {
      const double q = little_endian(p, static_cast<int>(bytes_per_value(entry.encoding)));
      return static_cast<float>(q * entry.scale + entry.min);
    }
    case Encoding::float16: return half_to_float(little_endian(p, 2));
    case Encoding::float32: break;
  }
  return std::bit_cast<float>(little_endian(p, 4));
}

Tensor decode_weight(const WeightEntry& entry, const unsigned char* bytes,
                     const std::string& path) {
  Tensor values = Tensor::empty(entry.shape, DType::f32);
  float* out = values.data<float>();
  const std::int64_t step = bytes_per_value(entry.encoding);
  for (std::int64_t i = 0; i < entry.count; ++i) {
    out[i] = decode_value(entry, bytes + i * step);
    KILN_CHECK(std::isfinite(out[i]),
               "{}: weight '{}' of shape {}: element {} is {} (weights must be finite)", path,
               entry.name, shape_str(entry.shape), i, out[i]);
  }
  return values;
}

// Reads one manifest group into `model`; `names` and `values` count across groups.
void read_group(const Json& group, std::size_t index, const std::filesystem::path& dir,
                const std::string& path, std::set<std::string>& names, std::int64_t& values,
                TfjsLayersModel& model) {
  KILN_CHECK(group.is_object() && group.contains("weights") && group["weights"].is_array(),
             "{}: weightsManifest group {}: expected {{\"paths\": […], \"weights\": […]}}", path,
             index);
  std::vector<WeightEntry> entries;
  std::int64_t needed = 0;
  for (const Json& spec : group["weights"]) {
    entries.push_back(entry_of(spec, path));
    KILN_CHECK(names.insert(entries.back().name).second, "{}: weight '{}' appears twice", path,
               entries.back().name);
    values += entries.back().count;
    KILN_CHECK(values <= kMaxManifestValues, "{}: the weights exceed the {} values kiln reads",
               path, kMaxManifestValues);
    needed += entries.back().count * bytes_per_value(entries.back().encoding);
  }
  const std::string bytes = group_bytes(group.value("paths", Json()), needed, index, dir, path);
  const auto* cursor = reinterpret_cast<const unsigned char*>(bytes.data());
  for (const WeightEntry& entry : entries) {
    if (!entry.optimizer)
      model.weights.emplace_back(entry.name, decode_weight(entry, cursor, path));
    cursor += entry.count * bytes_per_value(entry.encoding);
  }
}

}  // namespace

namespace {

bool starts_with_json_object(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  char c = 0;
  while (in.get(c)) {
    if (c != ' ' && c != '\t' && c != '\n' && c != '\r') return c == '{';
  }
  return false;
}

}  // namespace

bool is_tfjs_model_file(const std::string& path) {
  if (!starts_with_json_object(path)) return false;
  std::ifstream in(path, std::ios::binary);
  const Json root = Json::parse(in, nullptr, /*allow_exceptions=*/false);
  return root.is_object() && root.contains("weightsManifest");
}

TfjsLayersModel read_tfjs_layers_model(const std::string& path) {
  const Json root = parse_model_json(path);
  TfjsLayersModel model;
  model.model_config = keras_topology(root, path).dump();
  model.training_config = training_config_of(root);
  const Json& manifest = root["weightsManifest"];
  KILN_CHECK(manifest.is_array(), "{}: weightsManifest: expected a list of groups, found {}", path,
             std::string(manifest.type_name()));
  const std::filesystem::path dir = std::filesystem::path(path).parent_path();
  std::set<std::string> names;
  std::int64_t values = 0;
  for (std::size_t i = 0; i < manifest.size(); ++i) {
    read_group(manifest[i], i + 1, dir, path, names, values, model);
  }
  return model;
}

}  // namespace kiln
