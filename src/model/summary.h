// Internal helpers shared by the model's text forms: the summary table and the Keras files.
#pragma once

#include <string>
#include <vector>

#include "kiln/layers.h"
#include "kiln/model.h"

namespace kiln {

// Sequential models leave their InputLayer out of Keras 2's summaries and weight files.
inline bool is_sequential(const Model& model) {
  return dynamic_cast<const Sequential*>(&model) != nullptr;
}

// `layers[i]` is the layer of `nodes[i]`; `chain` selects the 3-column layout; input layers are
// listed when `show_inputs` (functional models) and left out for Sequential.
std::string render_summary(const std::string& model_name, const std::vector<LayerPtr>& layers,
                           const std::vector<std::shared_ptr<GraphNode>>& nodes, bool chain,
                           bool show_inputs, std::int64_t total_params);

}  // namespace kiln
