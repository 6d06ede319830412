// --input-scale: see input_scale.h.
#include "input_scale.h"

#include <cmath>

#include "common.h"

namespace kiln::cli {

namespace {

// The name of the Rescaling layer the model's single input feeds, or "" when there is none.
std::string leading_rescaling(const Model& model) {
  const std::vector<std::string> inputs = model.input_names();
  if (inputs.size() != 1) return "";
  for (const LayerPtr& layer : model.layers()) {
    const std::vector<std::string> inbound = model.inbound_layers(layer->name());
    if (inbound.size() == 1 && inbound[0] == inputs[0] && layer->type() == "Rescaling") {
      return layer->name();
    }
  }
  return "";
}

}  // namespace

const std::vector<std::string>& input_scale_names() {
  static const std::vector<std::string> names{"1/255", "1", "auto"};
  return names;
}

std::string InputScale::text() const {
  const std::string value = raw ? "1" : "1/255";
  return why.empty() ? value : value + " (auto: " + why + ")";
}

InputScale resolve_input_scale(const Model& model, const std::string& option) {
  if (option == "1/255") return {false, ""};
  if (option == "1") return {true, ""};
  if (option != "auto") {
    cli_fail("--input-scale: expected 1/255, 1 or auto, found '{}'", option);
  }
  const std::string rescaling = leading_rescaling(model);
  if (rescaling.empty()) return {false, "no leading Rescaling layer"};
  return {true, "the model starts with Rescaling layer '" + rescaling + "'"};
}

Tensor scaled_pixels(const Tensor& unit_images, const InputScale& scale) {
  if (!scale.raw) return unit_images;
  std::vector<float> values = unit_images.to(Device::cpu()).to_vector<float>();
  for (float& v : values) v = std::round(v * 255.0f);
  return Tensor::from_vector(values, unit_images.shape());
}

}  // namespace kiln::cli
