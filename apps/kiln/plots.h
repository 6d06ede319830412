// The run directory's pictures, drawn with Cairo and written atomically as PNG:
// training curves, the confusion-matrix heatmap and a grid of misclassified test images.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "kiln/model.h"
#include "kiln/tensor.h"

namespace kiln::cli {

// Two panels per epoch: the (total) loss, and every accuracy (one per output for several), each
// with its training and (when present) validation curve, axes with ticks, and a legend.
void plot_history(const std::string& path, const History& history, const std::string& title);

// A heatmap of an i32 (k, k) matrix (rows true, columns predicted) with the counts in the cells
// and the class names on both axes.
void plot_confusion_matrix(const std::string& path, const Tensor& matrix,
                           const std::vector<std::string>& class_names, const std::string& title);

struct Misclassified {
  std::int64_t index = 0;  // into the images
  int truth = 0, predicted = 0;
};

// A grid of images (f32 (N, H, W, 1) in [0, 1] on the CPU), each titled "true:7, predict:2".
void plot_misclassified(const std::string& path, const Tensor& images,
                        const std::vector<Misclassified>& samples, const std::string& title);

}  // namespace kiln::cli
