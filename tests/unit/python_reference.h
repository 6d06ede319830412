// Runs a reference script of tests/reference/ with Debian's /usr/bin/python3 (where python3-torch
// lives, not a pyenv python3 that may come first on PATH): it reads DIR/cases.json and writes
// DIR/ref.json, which is returned. A failing script is a test failure naming the command.
#pragma once

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include <nlohmann/json.hpp>

namespace kiln::testing {

inline nlohmann::json run_python_reference(const std::filesystem::path& dir,
                                           const std::string& script,
                                           const nlohmann::json& cases) {
  std::ofstream(dir / "cases.json") << cases.dump();
  const std::string command = "/usr/bin/python3 " + std::string(KILN_SOURCE_DIR) +
                              "/tests/reference/" + script + " " + dir.string();
  EXPECT_EQ(std::system(command.c_str()), 0) << "the PyTorch reference failed: " << command;
  std::ifstream in(dir / "ref.json");
  return nlohmann::json::parse(in);
}

}  // namespace kiln::testing
