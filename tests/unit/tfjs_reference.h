// The TF.js reference a detector test compares kiln with (tests/reference/tfjs/). When node and
// the pinned TF.js runtime are there (tests/reference/tfjs/node_modules: scripts/fetch-models.sh
// installs it wherever npm is), the reference script runs now, on the wasm backend, on the float
// input kiln made in this very run, so that a change to kiln's pre-processing is followed at
// once; otherwise — or with KILN_TFJS_REFERENCE=committed — the committed JSON, which
// tests/reference/tfjs/regenerate.sh writes, is read. A script that fails is reported as such.
#pragma once

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>
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
  const fs::path dir =
      fs::temp_directory_path() / ("kiln_tfjs_" + script + "_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  const std::vector<float> values = input.to_vector<float>();
  std::ofstream(dir / "input.f32", std::ios::binary)
      .write(reinterpret_cast<const char*>(values.data()),
             static_cast<std::streamsize>(values.size() * sizeof(float)));
  const std::string command =
      "node " + shell_quoted(tfjs_reference_dir() + "/" + script) + " " + shell_quoted(model_dir) +
      " " + shell_quoted((dir / "input.f32").string()) + " " +
      shell_quoted((dir / "out.json").string()) + " wasm >" +
      shell_quoted((dir / "log.txt").string()) + " 2>&1";
  const int status = std::system(command.c_str());
  std::ifstream log(dir / "log.txt");
  const std::string said((std::istreambuf_iterator<char>(log)), std::istreambuf_iterator<char>());
  std::ifstream in(dir / "out.json");
  if (status != 0 || !in) {
    fs::remove_all(dir);
    throw std::runtime_error("the TF.js reference failed (" + command + "): " + said +
                             " — KILN_TFJS_REFERENCE=committed reads the committed JSON instead");
  }
  nlohmann::json json = nlohmann::json::parse(in);
  fs::remove_all(dir);
  return {std::move(json), "TF.js run now (" + script + ", wasm)"};
}

}  // namespace kiln::testing
