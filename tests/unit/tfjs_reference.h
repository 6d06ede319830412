// The TF.js reference a detector test compares kiln with (tests/reference/tfjs/). When node and
// the pinned TF.js runtime are there (tests/reference/tfjs/node_modules: scripts/fetch-models.sh
// installs it wherever npm is), the reference script runs on the wasm backend on the float input
// kiln made in this very run, so that a change to kiln's pre-processing is followed at once;
// otherwise — or with KILN_TFJS_REFERENCE=committed — the committed JSON, which
// tests/reference/tfjs/regenerate.sh writes, is read. A script that fails is reported as such.
// CTest runs each test in a process of its own, so a reference made is kept in the temp
// directory under a hash of everything it depends on (the input, the scripts, the pinned
// versions, the model.json) and made again only when one of them changes.
#pragma once

#include <fmt/format.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include <unistd.h>

#include "kiln/tensor.h"

namespace kiln::testing {

struct TfjsReference {
  nlohmann::json json;
  std::string source;  // what was read, for the test's log
};

inline std::string tfjs_reference_dir() {
  return std::string(KILN_SOURCE_DIR) + "/tests/reference/tfjs";
}

// Whether the reference scripts can run here: node on PATH and the pinned runtime installed.
inline bool tfjs_runtime_available() {
  const char* choice = std::getenv("KILN_TFJS_REFERENCE");
  if (choice != nullptr && std::string(choice) == "committed") return false;
  const std::filesystem::path modules = tfjs_reference_dir() + "/node_modules/@tensorflow";
  return std::filesystem::exists(modules / "tfjs/package.json") &&
         std::filesystem::exists(modules / "tfjs-backend-wasm/package.json") &&
         std::system("command -v node >/dev/null 2>&1") == 0;
}

// `text` single-quoted for the shell.
inline std::string shell_quoted(const std::string& text) {
  std::string quoted = "'";
  for (char ch : text) quoted += ch == '\'' ? std::string("'\\''") : std::string(1, ch);
  return quoted + "'";
}

// FNV-1a over `bytes`, continuing from `hash`.
inline std::uint64_t fnv1a(std::string_view bytes, std::uint64_t hash = 14695981039346656037ull) {
  for (unsigned char ch : bytes) hash = (hash ^ ch) * 1099511628211ull;
  return hash;
}

inline std::string file_bytes(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

// script: tests/reference/tfjs/SCRIPT; committed: the JSON under tests/reference/.
inline TfjsReference tfjs_reference(const std::string& script, const std::string& model_dir,
                                    const Tensor& input, const std::string& committed) {
  namespace fs = std::filesystem;
  if (!tfjs_runtime_available()) {
    const std::string path = std::string(KILN_SOURCE_DIR) + "/tests/reference/" + committed;
    std::ifstream in(path);
    if (!in) throw std::runtime_error("cannot read " + path);
    return {nlohmann::json::parse(in), "the committed " + committed};
  }
  const std::vector<float> values = input.to_vector<float>();
  const std::string_view input_bytes(reinterpret_cast<const char*>(values.data()),
                                     values.size() * sizeof(float));
  const std::string script_path = tfjs_reference_dir() + "/" + script;
  std::uint64_t key = fnv1a(input_bytes);
  key = fnv1a(file_bytes(script_path), key);
  key = fnv1a(file_bytes(tfjs_reference_dir() + "/common.js"), key);
  key = fnv1a(file_bytes(tfjs_reference_dir() + "/package.json"), key);  // the pinned versions
  key = fnv1a(file_bytes(fs::path(model_dir) / "model.json"), key);
  const fs::path cache = fs::temp_directory_path() / "kiln-tfjs-reference";
  const fs::path kept = cache / fmt::format("{}-{:016x}.json", script, key);
  if (std::ifstream in(kept); in) {
    return {nlohmann::json::parse(in), "TF.js (" + script + ", wasm), made earlier for this input"};
  }
  fs::create_directories(cache);
  const fs::path dir = cache / fmt::format("run-{}-{}", script, ::getpid());
  fs::create_directories(dir);
  std::ofstream(dir / "input.f32", std::ios::binary)
      .write(input_bytes.data(), static_cast<std::streamsize>(input_bytes.size()));
  const std::string command = "node " + shell_quoted(script_path) + " " + shell_quoted(model_dir) +
                              " " + shell_quoted((dir / "input.f32").string()) + " " +
                              shell_quoted((dir / "out.json").string()) + " wasm >" +
                              shell_quoted((dir / "log.txt").string()) + " 2>&1";
  const int status = std::system(command.c_str());
  const std::string said = file_bytes(dir / "log.txt");
  std::ifstream in(dir / "out.json");
  if (status != 0 || !in) {
    fs::remove_all(dir);
    throw std::runtime_error("the TF.js reference failed (" + command + "): " + said +
                             " — KILN_TFJS_REFERENCE=committed reads the committed JSON instead");
  }
  nlohmann::json json = nlohmann::json::parse(in);
  in.close();
  fs::rename(dir / "out.json", kept);  // atomic: a test beside this one reads all of it or none
  fs::remove_all(dir);
  return {std::move(json), "TF.js run now (" + script + ", wasm)"};
}

}  // namespace kiln::testing
