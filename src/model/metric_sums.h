// The running sums of an epoch's losses and metrics, kept on the model's device.
//
// Note [Metrics on the device]
// ~~~~~~~~~~~~~~~~~~~~~~~~~~~~
// A training step's losses and accuracy counts stay on the device (StepLogs): reading one back
// makes the host wait for the GPU, which would serialise every step. fit adds each step's logs
// into one f32 vector — a slot per key, with scale * value, without waiting — and reads the
// whole vector (one wait) only when the progress bar draws a line and at the end of the epoch,
// Keras's steps_per_execution idea. The running means are then exactly Keras's (sums weighted by
// batch size over the samples seen), accumulated in f32 rather than on the host in double
// (a relative difference around 1e-7 over an epoch). A non-finite loss is seen at those reads,
// so fit stops at most one progress line after the step that produced it.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "kiln/model.h"

namespace kiln {

class MetricSums {
 public:
  // One slot per key, in the order of `keys`, on `device`, all zero.
  MetricSums(std::vector<std::string> keys, Device device);
  // Adds one step's logs (every key of the logs must be one of the keys; no wait).
  void add(const StepLogs& logs) { add_counts(accumulate(logs)); }
  // The two halves of add(): the device sums (queued work, which a captured step records), and
  // the samples behind them, known on the host (a replayed step adds its capture's counts).
  std::vector<double> accumulate(const StepLogs& logs);
  void add_counts(const std::vector<double>& counts);
  // Back to zero for the next epoch, in place (the sums keep their device address).
  void reset();
  // The means so far by key, in key order: one read of the device (one wait).
  std::vector<std::pair<std::string, double>> means() const;
  // The samples behind each sum, in key order (a data-parallel fit reduces means * counts).
  const std::vector<double>& counts() const { return counts_; }

 private:
  std::vector<std::string> keys_;
  Tensor sums_;                 // f32 (keys) on the device
  std::vector<double> counts_;  // samples behind each sum (known on the host)
};

}  // namespace kiln
