// The text files of a run directory and the per-epoch history.
#include "run_files.h"

#include <chrono>
#include <ctime>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <system_error>

#include "common.h"
#include "heads.h"

namespace kiln::cli {

namespace {

std::string csv_field(const std::string& text) {
  if (text.find_first_of(",\"\n") == std::string::npos) return text;
  std::string quoted = "\"";
  for (char c : text) quoted += c == '"' ? std::string("\"\"") : std::string(1, c);
  return quoted + "\"";
}

}  // namespace

void append_epoch(History& history, const std::map<std::string, double>& logs,
                  const std::vector<std::string>& outputs) {
  if (history.keys.empty()) history.keys = keras_key_order(logs, outputs);
  for (const std::string& key : history.keys) {
    const auto found = logs.find(key);
    if (found == logs.end()) cli_fail("epoch logs lack '{}', which earlier epochs have", key);
    history.values[key].push_back(found->second);
  }
}

std::size_t epoch_count(const History& history) {
  return history.keys.empty() ? 0 : history.values.at(history.keys.front()).size();
}

std::string history_csv(const History& history) {
  std::string text = "epoch";
  for (const std::string& key : history.keys) {
    text += ',';
    text += key;
  }
  text += "\n";
  for (std::size_t e = 0; e < epoch_count(history); ++e) {
    text += std::to_string(e + 1);
    for (const std::string& key : history.keys)
      text += fmt::format(",{:.6g}", history.values.at(key)[e]);
    text += "\n";
  }
  return text;
}

std::string history_json(const History& history) {
  nlohmann::ordered_json out = nlohmann::ordered_json::object();
  for (const std::string& key : history.keys) out[key] = history.values.at(key);
  return out.dump();
}

std::string confusion_csv(const Tensor& matrix, const std::vector<std::string>& class_names) {
  const auto k = static_cast<std::size_t>(matrix.dim(0));
  const std::vector<std::int32_t> counts = matrix.to_vector<std::int32_t>();
  std::string text = "true\\predicted";
  for (std::size_t c = 0; c < k; ++c) {
    text += ',';
    text += csv_field(class_names.at(c));
  }
  text += "\n";
  for (std::size_t r = 0; r < k; ++r) {
    text += csv_field(class_names.at(r));
    for (std::size_t c = 0; c < k; ++c) {
      text += ',';
      text += std::to_string(counts[r * k + c]);
    }
    text += "\n";
  }
  return text;
}

std::string default_run_dir(const std::string& dataset, const std::string& experiment) {
  const std::time_t now = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
  std::tm local{};
  localtime_r(&now, &local);
  char stamp[32];
  std::strftime(stamp, sizeof stamp, "%Y%m%d-%H%M%S", &local);
  const std::string suffix = experiment == "seed" ? "" : "-" + experiment;
  return "runs/" + canonical_dataset(dataset) + suffix + "-" + stamp;
}

void make_run_dir(const std::string& dir) {
  std::error_code error;
  std::filesystem::create_directories(dir, error);
  if (error) cli_fail("cannot create the run directory {}: {}", dir, error.message());
  if (!std::filesystem::is_directory(dir, error)) cli_fail("{} exists and is not a directory", dir);
}

std::string run_file(const std::string& dir, const std::string& name) {
  return (std::filesystem::path(dir) / name).string();
}

}  // namespace kiln::cli
