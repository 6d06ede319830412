// What fit() and evaluate() do differently in a data-parallel world (docs/DISTRIBUTED.md), kept
// here so that the training loop's hooks stay one line each. In a world of one every function
// below does nothing (or returns what one process would use).
#pragma once

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "distributed/gradient_reducer.h"
#include "kiln/tape.h"
#include "kiln/tensor.h"

namespace kiln {
class Model;
}

namespace kiln::distributed {

// Rows [begin, end) of this rank's share of the global rows [begin, end): rank r of w takes
// rows * r / w to rows * (r + 1) / w (equal shares when w divides the rows).
std::pair<std::int64_t, std::int64_t> shard(std::int64_t begin, std::int64_t end);
// A kiln::Error unless the global batch divides evenly among the ranks.
void check_batch_divides(std::int64_t batch_size, const char* what);
// A kiln::Error on every rank when any rank's model config or kiln version differs from rank 0's.
void check_same_model(const Model& model);
// Rank 0's values of `variables` on every rank.
void broadcast_values(const std::vector<std::shared_ptr<Variable>>& variables);
// The moving statistics of BatchNormalization (the non-trainable weights of trainable layers,
// which a training forward pass moves on each rank with its own shard) averaged over the ranks,
// in place on every rank (Note [Moving statistics] in data_parallel.cpp). fit calls it at the end
// of every epoch.
void average_moving_statistics(const Model& model);
// Rank 0's flag on every rank (the progress bar's "draw now", which reads reduced metrics).
bool rank0_says(bool flag);
// The means over every rank's samples, in key order, of this rank's `means` (by key, in key
// order) over `counts` samples each (MetricSums::means() and counts()).
std::vector<std::pair<std::string, double>> reduced_means(
    std::vector<std::pair<std::string, double>> means, const std::vector<double>& counts);

// The gradient half of a data-parallel training step (Note [Gradient buckets]).
class StepReducer {
 public:
  // tape.accumulate(total, variables), the gradients weighted by `weight` (this rank's rows /
  // the global batch's) and summed over the ranks. With every gradient a view of `buffer` on the
  // CPU, or on a GPU when kiln has NCCL, buckets are summed while the backward pass goes on
  // (Note [Gradient buckets], Note [Gradient buckets on a GPU]); otherwise after it, staged
  // through the host.
  void accumulate(GradientTape& tape, const Tensor& total,
                  const std::vector<std::shared_ptr<Variable>>& variables, const Tensor& buffer,
                  float weight);
  // The reducer of the last bucketed step (tests read its buckets and overlap), or null.
  const GradientReducer* reducer() const { return reducer_.get(); }

 private:
  GradientReducer& reducer_for(const std::vector<std::shared_ptr<Variable>>& variables,
                               bool on_device);
  std::unique_ptr<GradientReducer> reducer_;
  std::vector<std::int64_t> sizes_;
  bool on_device_ = false;
  Tensor device_buffer_;  // the step's gradient buffer on a GPU, while its buckets launch
  float device_weight_ = 1.0f;
};

// The StepReducer behind the last data-parallel training step of this process (tests and
// benchmarks read it), or null.
const StepReducer* last_step_reducer();
void set_last_step_reducer(const StepReducer* reducer);

}  // namespace kiln::distributed
