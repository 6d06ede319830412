// A model's output heads as the CLI trains and scores them on MNIST-like data: a class head
// (softmax over the data set's classes; targets one-hot, or integer labels for the sparse loss)
// or an odd head (one sigmoid unit; target 1 when the label is odd, as in the seed's odd/even
// experiment). Also the order Keras gives log keys of several heads.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "kiln/model.h"
#include "kiln/optimizers.h"
#include "kiln/tensor.h"

namespace kiln::cli {

inline constexpr const char* kBinaryLoss = "binary_crossentropy";

struct Head {
  std::string output;  // the model's output name
  std::string loss;    // categorical_crossentropy, sparse_categorical_crossentropy or binary
  bool odd() const { return loss == kBinaryLoss; }
};

// The heads of a loaded model, judged by the width of each output for one image of
// `sample_images`: one unit is an odd head, `classes` units (any number above one when
// `classes` is 0) a class head with the categorical loss; any other output is an Error naming it.
std::vector<Head> infer_heads(Model& model, const Tensor& sample_images, int classes);

// Each head's loss with the accuracy metric; `loss_weights` as given (default 1 per output).
CompileOptions head_compile_options(const std::vector<Head>& heads,
                                    std::shared_ptr<Optimizer> optimizer,
                                    const std::map<std::string, double>& loss_weights = {});

// The images keyed by the model's single input name.
TensorMap input_map(const Model& model, const Tensor& images);
// Every head's targets from i32 labels (N).
TensorMap head_targets(const std::vector<Head>& heads, const Tensor& labels, int classes);
// (label % 2) as f32 (N, 1).
Tensor odd_targets(const Tensor& labels);

// The first class head: the confusion matrix and misclassified images are drawn for it.
const Head& class_head(const std::vector<Head>& heads);
// The log key of a head's metric: "accuracy" for a single head, "<output>_accuracy" otherwise.
std::string head_key(const std::vector<Head>& heads, const Head& head, const std::string& metric);

// A model's loss and metrics on a test set, and the confusion matrix of its class head.
struct TestScores {
  std::map<std::string, double> logs;
  std::vector<std::string> keys;  // of logs, in Keras's order
  double class_accuracy = 0;      // the class head's accuracy
  Tensor predicted;               // the class head's i32 (N) predictions on the CPU
  Tensor confusion;               // i32 (classes, classes)
};
// Scores a model compiled with head_compile_options(heads, …) on `images` and i32 `labels`.
// Under mpirun every rank must call it (evaluate shares the images among the ranks); only rank 0
// gets `predicted` and `confusion` (the others have nothing to print).
TestScores score_test(Model& model, const std::vector<Head>& heads, const Tensor& images,
                      const Tensor& labels, int classes, std::int64_t batch_size);
// "Test <key>: <value>" for every key, in order.
void print_scores(const TestScores& scores);

// The keys of `logs` in Keras's order: loss, each output's loss, each output's metrics (outputs
// in `outputs` order), then the "val_" keys likewise.
std::vector<std::string> keras_key_order(const std::map<std::string, double>& logs,
                                         const std::vector<std::string>& outputs);

}  // namespace kiln::cli
