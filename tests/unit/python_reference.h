// Runs a reference script of tests/reference/ with Debian's /usr/bin/python3 (where python3-torch
// lives, not a pyenv python3 that may come first on PATH): it reads DIR/cases.json and writes
// DIR/ref.json, which is returned. A failing script is a test failure naming the command.
// write_reference_inputs writes the cases' input tensors for it.
#pragma once

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "kiln/tensor.h"

namespace kiln::testing {

// Writes each tensor (float32 or int32) to DIR/in<N>.bin, raw little-endian, N counting on from
// `file`; returns the list [{"file", "shape", "dtype"}] the scripts read inputs from.
inline nlohmann::json write_reference_inputs(const std::filesystem::path& dir,
                                             const std::vector<Tensor>& tensors, int& file) {
  nlohmann::json inputs = nlohmann::json::array();
  for (const Tensor& t : tensors) {
    const bool ints = t.dtype() == DType::i32;
    const Tensor stored = ints ? t : t.astype(DType::f32);
    const std::string name = "in" + std::to_string(file++) + ".bin";
    std::ofstream out(dir / name, std::ios::binary);
    out.write(static_cast<const char*>(stored.raw_data()),
              static_cast<std::streamsize>(stored.nbytes()));
    inputs.push_back({{"file", name}, {"shape", t.shape()}, {"dtype", ints ? "int32" : "float32"}});
  }
  return inputs;
}

inline nlohmann::json run_python_reference(const std::filesystem::path& dir,
                                           const std::string& script, const nlohmann::json& cases) {
  std::ofstream(dir / "cases.json") << cases.dump();
  const std::string command = "/usr/bin/python3 " + std::string(KILN_SOURCE_DIR) +
                              "/tests/reference/" + script + " " + dir.string();
  EXPECT_EQ(std::system(command.c_str()), 0) << "the PyTorch reference failed: " << command;
  std::ifstream in(dir / "ref.json");
  return nlohmann::json::parse(in);
}

}  // namespace kiln::testing
