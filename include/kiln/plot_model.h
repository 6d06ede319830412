// A picture of a model's graph, like keras.utils.plot_model(model, show_shapes=True): one box per
// layer with its name, type and output shape, arrows along the data flow. Laid out by Graphviz.
#pragma once

#include <string>

#include "kiln/export.h"
#include "kiln/model.h"

namespace kiln {

// The graph in Graphviz's DOT language.
KILN_API std::string model_to_dot(const Model& model);

// Writes a .png or .svg (chosen by the extension) through Graphviz's `dot` program (Debian
// package graphviz). The file is written atomically; an Error if dot is missing or fails.
KILN_API void plot_model(const Model& model, const std::string& path);

}  // namespace kiln
