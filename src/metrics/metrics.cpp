// Confusion matrix and its text table.
#include "kiln/metrics.h"

#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

#include "core/check.h"

namespace kiln {

namespace {

// The labels as host integers; an Error unless i32 or u8 with one value per sample.
std::vector<std::int64_t> host_labels(const Tensor& labels, const char* which) {
  KILN_CHECK(labels.defined(), "confusion_matrix: {} is undefined", which);
  KILN_CHECK(labels.rank() == 1 || (labels.rank() == 2 && labels.dim(1) == 1),
             "confusion_matrix: {} must be labels of shape (N) or (N, 1), found {}", which,
             shape_str(labels.shape()));
  std::vector<std::int64_t> out;
  if (labels.dtype() == DType::i32) {
    for (std::int32_t v : labels.to_vector<std::int32_t>()) out.push_back(v);
  } else if (labels.dtype() == DType::u8) {
    for (std::uint8_t v : labels.to_vector<std::uint8_t>()) out.push_back(v);
  } else {
    fail("confusion_matrix: {} must be i32 or u8 labels, found {}", which,
         dtype_name(labels.dtype()));
  }
  return out;
}

void check_label(std::int64_t value, std::size_t index, int num_classes, const char* which) {
  KILN_CHECK(value >= 0 && value < num_classes,
             "confusion_matrix: {}[{}] is {}, expected a class in [0, {})", which, index, value,
             num_classes);
}

std::string pad_left(const std::string& text, std::size_t width) {
  return text.size() >= width ? text : std::string(width - text.size(), ' ') + text;
}

std::string pad_right(const std::string& text, std::size_t width) {
  return text.size() >= width ? text : text + std::string(width - text.size(), ' ');
}

std::string row_label(std::size_t index, const std::vector<std::string>& names) {
  const std::string number = std::to_string(index);
  if (names.empty() || names[index] == number) return number;
  return number + " " + names[index];
}

}  // namespace

Tensor confusion_matrix(const Tensor& y_true, const Tensor& y_pred, int num_classes) {
  KILN_CHECK(num_classes >= 1, "confusion_matrix: num_classes must be >= 1, found {}", num_classes);
  const std::vector<std::int64_t> truth = host_labels(y_true, "y_true");
  const std::vector<std::int64_t> pred = host_labels(y_pred, "y_pred");
  KILN_CHECK(truth.size() == pred.size(),
             "confusion_matrix: y_true has {} labels but y_pred has {}", truth.size(), pred.size());
  const auto k = static_cast<std::size_t>(num_classes);
  std::vector<std::int32_t> counts(k * k, 0);
  for (std::size_t i = 0; i < truth.size(); ++i) {
    check_label(truth[i], i, num_classes, "y_true");
    check_label(pred[i], i, num_classes, "y_pred");
    ++counts[static_cast<std::size_t>(truth[i]) * k + static_cast<std::size_t>(pred[i])];
  }
  return Tensor::from_vector(counts, {num_classes, num_classes});
}

double accuracy_from_confusion(const Tensor& matrix) {
  KILN_CHECK(matrix.dtype() == DType::i32 && matrix.rank() == 2 && matrix.dim(0) == matrix.dim(1),
             "accuracy_from_confusion: expected a square i32 matrix, found {}", matrix.str());
  const std::vector<std::int32_t> counts = matrix.to_vector<std::int32_t>();
  const auto k = static_cast<std::size_t>(matrix.dim(0));
  std::int64_t total = 0, correct = 0;
  for (std::size_t i = 0; i < counts.size(); ++i) {
    total += counts[i];
    if (i / k == i % k) correct += counts[i];
  }
  return total > 0 ? static_cast<double>(correct) / static_cast<double>(total) : 0.0;
}

std::string format_confusion_matrix(const Tensor& matrix,
                                    const std::vector<std::string>& class_names) {
  KILN_CHECK(matrix.dtype() == DType::i32 && matrix.rank() == 2 && matrix.dim(0) == matrix.dim(1),
             "format_confusion_matrix: expected a square i32 matrix, found {}", matrix.str());
  const auto k = static_cast<std::size_t>(matrix.dim(0));
  KILN_CHECK(class_names.empty() || class_names.size() == k,
             "format_confusion_matrix: {} class names for a {}x{} matrix", class_names.size(), k,
             k);
  const std::vector<std::int32_t> counts = matrix.to_vector<std::int32_t>();
  const std::string corner = "true \\ predicted";
  std::size_t label_width = corner.size();
  for (std::size_t r = 0; r < k; ++r)
    label_width = std::max(label_width, row_label(r, class_names).size());
  std::size_t cell_width = std::to_string(k - 1).size();
  for (std::int32_t c : counts) cell_width = std::max(cell_width, std::to_string(c).size());
  cell_width += 2;

  std::string text = pad_right(corner, label_width);
  for (std::size_t c = 0; c < k; ++c) text += pad_left(std::to_string(c), cell_width);
  text += '\n';
  for (std::size_t r = 0; r < k; ++r) {
    text += pad_right(row_label(r, class_names), label_width);
    for (std::size_t c = 0; c < k; ++c)
      text += pad_left(std::to_string(counts[r * k + c]), cell_width);
    text += '\n';
  }
  return text;
}

}  // namespace kiln
