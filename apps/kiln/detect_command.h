// kiln detect: the packaged CenterNet (or a CenterNet model.json) on a photo — boxes drawn on a
// copy of it, a table on stdout, optionally the detections as JSON (TF Hub detector keys).
#pragma once

#include <CLI/CLI.hpp>
#include <functional>

namespace kiln::cli {

// Adds `detect` to `app`; parsing it stores its work in `action` (main runs it).
void add_detect_command(CLI::App& app, std::function<int()>& action);

}  // namespace kiln::cli
