// The picture kiln detect writes: the photo with each detection's rectangle in its class's
// colour and, above the rectangle (inside it when there is no room above), a label box of that
// colour holding "class: NN%" — the style of the TF Hub object-detection notebook the seed ends
// with. Drawn with Cairo.
#pragma once

#include <vector>

#include "kiln/detector.h"
#include "kiln/tensor.h"

namespace kiln::cli {

// image: u8 (h, w, 1..4); returns u8 (h, w, 3) with the boxes drawn.
Tensor draw_detections(const Tensor& image, const std::vector<Detection>& detections);

}  // namespace kiln::cli
