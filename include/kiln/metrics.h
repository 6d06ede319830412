// Classification metrics: the confusion matrix (as sklearn.metrics.confusion_matrix) and a text
// table of it for terminals.
#pragma once

#include <string>
#include <vector>

#include "kiln/export.h"
#include "kiln/tensor.h"

namespace kiln {

// Counts of (true class, predicted class) pairs: i32 (num_classes, num_classes), rows true,
// columns predicted. Labels are i32 (or u8) tensors of the same length, on any device, each in
// [0, num_classes). A length mismatch or an out-of-range label is an Error naming its index.
KILN_API Tensor confusion_matrix(const Tensor& y_true, const Tensor& y_pred, int num_classes);

// Fraction of the matrix's counts on its diagonal (0 when the matrix is empty).
KILN_API double accuracy_from_confusion(const Tensor& matrix);

// The matrix as a right-aligned text table: a header row of predicted-class indices, one row per
// true class labelled "index name" (just the index when the name is the index), e.g.
//   true \ predicted     0     1 ...
//   0                  975     0 ...
// `class_names` may be empty (indices only) or have one name per class.
KILN_API std::string format_confusion_matrix(const Tensor& matrix,
                                             const std::vector<std::string>& class_names = {});

}  // namespace kiln
