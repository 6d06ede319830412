// The vision subcommands of the kiln tool: `filter` (hand-made kernels on a picture, Pillow's
// ImageFilter.Kernel semantics), `pool` (max/min/avg pooling of a picture) and `features` (a
// trained model's feature maps or kernels as a grid picture).
#pragma once

#include <CLI/CLI.hpp>
#include <functional>

namespace kiln::cli {

// Adds the subcommands to `app`. Parsing one stores its work in `action`, which main runs after
// parsing, inside its error handling (failures throw kiln::Error).
void add_vision_commands(CLI::App& app, std::function<int()>& action);

}  // namespace kiln::cli
