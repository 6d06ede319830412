// --input-scale: how the CLI scales the 0..255 pixels of data-set images and pictures before
// feeding them to a loaded model. Keras's MNIST examples divide by 255; a model that was trained on
// raw pixels, or that rescales them itself with a leading Rescaling layer, wants them unscaled.
#pragma once

#include <string>
#include <vector>

#include "kiln/model.h"
#include "kiln/tensor.h"

namespace kiln::cli {

// The values --input-scale takes: "1/255" (the default), "1" (raw 0..255 pixels) or "auto".
const std::vector<std::string>& input_scale_names();

struct InputScale {
  bool raw = false;  // true: pixels 0..255; false: pixels / 255, in [0, 1]
  std::string why;   // for "auto": what decided it
  // "1/255" or "1", with the reason for "auto": "1 (auto: the model starts with Rescaling 'x')".
  std::string text() const;
};

// The scale `option` names for `model`. "auto" is raw when the layer fed by the model's single
// input is a Rescaling layer (so pixels are never scaled twice), else 1/255.
InputScale resolve_input_scale(const Model& model, const std::string& option);

// `unit_images` (f32 in [0, 1], as the data set loaders and read_png_gray give them) at `scale`:
// themselves for 1/255, round(value * 255) for raw pixels (exactly the bytes of the file).
Tensor scaled_pixels(const Tensor& unit_images, const InputScale& scale);

}  // namespace kiln::cli
