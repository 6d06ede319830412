// Confusion matrix (against hand-counted pairs), its accuracy and its text table, and the errors
// for bad labels.
#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <vector>

#include "kiln/error.h"
#include "kiln/metrics.h"

namespace {

kiln::Tensor labels(const std::vector<std::int32_t>& values) {
  return kiln::Tensor::from_vector(values, {static_cast<std::int64_t>(values.size())});
}

TEST(ConfusionMatrix, CountsPairsRowsTrueColumnsPredicted) {
  const kiln::Tensor m =
      kiln::confusion_matrix(labels({0, 1, 2, 2, 1, 0}), labels({0, 2, 2, 1, 1, 0}), 3);
  EXPECT_EQ(m.dtype(), kiln::DType::i32);
  EXPECT_EQ(m.shape(), (kiln::Shape{3, 3}));
  EXPECT_EQ(m.to_vector<std::int32_t>(), (std::vector<std::int32_t>{2, 0, 0, 0, 1, 1, 0, 1, 1}));
  EXPECT_DOUBLE_EQ(kiln::accuracy_from_confusion(m), 4.0 / 6.0);
}

TEST(ConfusionMatrix, AcceptsU8LabelsAndEmptyInput) {
  const kiln::Tensor truth = kiln::Tensor::from_vector(std::vector<std::uint8_t>{1, 1}, {2});
  EXPECT_EQ(kiln::confusion_matrix(truth, labels({1, 0}), 2).to_vector<std::int32_t>(),
            (std::vector<std::int32_t>{0, 0, 1, 1}));
  const kiln::Tensor empty = kiln::confusion_matrix(labels({}), labels({}), 2);
  EXPECT_EQ(empty.to_vector<std::int32_t>(), (std::vector<std::int32_t>{0, 0, 0, 0}));
  EXPECT_EQ(kiln::accuracy_from_confusion(empty), 0.0);
}

TEST(ConfusionMatrix, RejectsMismatchAndOutOfRangeLabels) {
  EXPECT_THROW(kiln::confusion_matrix(labels({0, 1}), labels({0}), 2), kiln::Error);
  try {
    kiln::confusion_matrix(labels({0, 1, 5}), labels({0, 1, 1}), 3);
    FAIL() << "expected an Error";
  } catch (const kiln::Error& e) {
    EXPECT_NE(std::string(e.what()).find("y_true[2] is 5"), std::string::npos) << e.what();
  }
  EXPECT_THROW(kiln::confusion_matrix(labels({0}), labels({-1}), 3), kiln::Error);
  EXPECT_THROW(kiln::confusion_matrix(kiln::Tensor::zeros({2}), labels({0, 0}), 2), kiln::Error);
}

TEST(ConfusionMatrix, FormatsATable) {
  const kiln::Tensor m = kiln::confusion_matrix(labels({0, 1, 1}), labels({0, 1, 0}), 2);
  EXPECT_EQ(kiln::format_confusion_matrix(m),
            "true \\ predicted  0  1\n"
            "0                 1  0\n"
            "1                 1  1\n");
  const std::string named = kiln::format_confusion_matrix(m, {"cat", "dog"});
  EXPECT_NE(named.find("0 cat"), std::string::npos) << named;
  EXPECT_NE(named.find("1 dog"), std::string::npos) << named;
  EXPECT_THROW(kiln::format_confusion_matrix(m, {"only one"}), kiln::Error);
}

}  // namespace
