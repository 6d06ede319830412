// StepGraph: how fit runs its training steps — eagerly, or, on a device that can capture (a
// GPU), by replaying one captured step (Note [Captured steps] in step_graph.cpp).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "backend/backend.h"
#include "kiln/optimizers.h"
#include "kiln/tensor.h"

namespace kiln {

class StepGraph {
 public:
  // `step(indices)` runs one training step on the data rows `indices` (i32, on the device) and
  // returns the sample counts behind the metric sums it added to (MetricSums::accumulate).
  using Step = std::function<std::vector<double>(const Tensor& indices)>;

  // `obstacle` says why steps must run eagerly ("" when nothing stands in the way); then every
  // step does. Full batches of `batch_size` rows are captured; other sizes run eagerly.
  StepGraph(Step step, Device device, std::int64_t batch_size, Optimizer& optimizer,
            std::string obstacle);
  ~StepGraph();
  StepGraph(const StepGraph&) = delete;
  StepGraph& operator=(const StepGraph&) = delete;

  // One training step on the rows `indices`; returns the counts to add to the metric sums.
  std::vector<double> run(const Tensor& indices);

 private:
  std::vector<double> capture_and_run(const Tensor& rows);

  Step step_;
  Device device_;
  std::int64_t batch_size_;
  Optimizer& optimizer_;
  std::string obstacle_;
  int eager_full_steps_ = 0;  // full batches run eagerly so far (the warm-up)
  Tensor rows_;               // the captured step's indices, at a fixed address
  std::unique_ptr<backend::CapturedWork> graph_;
  std::vector<double> counts_;  // what each replay adds to the metric counts
};

// Why fit cannot capture its steps on `device` with these settings, or "" (Note [Captured steps]):
// turned off, the CPU, an optimizer that is not capturable, check_numerics, a layer that draws
// per call.
std::string capture_obstacle(Device device, bool cuda_graphs, const Optimizer& optimizer,
                             const std::vector<std::string>& layers_drawing_per_call);

}  // namespace kiln
