// The text of Model::summary() (Keras 2's layout).
#pragma once

#include <string>
#include <vector>

#include "kiln/layers.h"

namespace kiln {

// `layers[i]` is the layer of `nodes[i]`; `chain` selects the 3-column layout; input layers are
// listed when `show_inputs` (functional models) and left out for Sequential.
std::string render_summary(const std::string& model_name, const std::vector<LayerPtr>& layers,
                           const std::vector<std::shared_ptr<GraphNode>>& nodes, bool chain,
                           bool show_inputs, std::int64_t total_params);

}  // namespace kiln
