// Note [Captured steps]
// ~~~~~~~~~~~~~~~~~~~~~
// A training step of fit queues a few hundred small kernels; on a GPU, launching them one by one
// from the host costs more than running them for a model like the seed's. Once the shapes are
// static, fit therefore records one whole step — gather the batch, forward, loss, backward, Adam,
// metric sums — as a graph (Backend::capture: a CUDA graph on a GPU) and replays it for every
// later full batch, as PyTorch's torch.cuda.graphs / CUDAGraph do:
// - The first full batch runs eagerly (the warm-up): it chooses every cuDNN algorithm (a Find
//   synchronises, which a capture forbids), creates the library handles, and allocates what
//   lives across steps — the gradient buffer (Note [Gradient buffers] in training.cpp), Adam's
//   slots, step counter and learning rate.
// - The second is captured and then replayed at once. Everything a replay reads or writes must
//   stay at one address: the step reads its batch's indices from a tensor of its own, into which
//   each step copies its slice of the epoch's order (a device-to-device copy, queued, no wait);
//   the metric sums live for the whole fit (MetricSums::reset zeroes them in place); Adam reads t
//   and the learning rate from device memory and the replayed update advances t
//   (Optimizer::count_replayed_step keeps the host's count). The blocks the captured step
//   allocates come from a private pool of the device allocator that nothing else uses while the
//   graph lives (Note [Graph pools] in cuda/caching_allocator.cpp).
// - The host sample counts behind the metric sums are known at capture; each replay adds them.
// - A partial last batch has other shapes: it runs eagerly (the algorithms it needs are adopted
//   without a benchmark, Note [Choosing algorithms] in cuda/cudnn_conv_algorithms.cpp).
// - A capture that fails (a host wait the step did after all, an out-of-memory in the private
//   pool, anything the CUDA runtime refused) prints one warning naming the reason; the step and
//   all later ones run eagerly, and the optimizer forgets the update it counted while capturing.
// - Steps run eagerly throughout when something stands in the way (capture_obstacle): graphs
//   turned off (FitOptions::cuda_graphs = false, KILN_CUDA_GRAPHS=0), the CPU (nothing to gain), an
//   optimizer that reads host values per step (SGD's learning rate), check_numerics (it reads
//   every op's result on the host), or a layer that draws a new host seed per call (Dropout):
//   a replay would repeat the captured draw.
#include "model/step_graph.h"

#include <cstdio>
#include <cstdlib>
#include <string_view>
#include <utility>

#include "kiln/numerics.h"

namespace kiln {

StepGraph::StepGraph(Step step, Device device, std::int64_t batch_size, Optimizer& optimizer,
                     std::string obstacle)
    : step_(std::move(step)),
      device_(device),
      batch_size_(batch_size),
      optimizer_(optimizer),
      obstacle_(std::move(obstacle)) {}

StepGraph::~StepGraph() = default;

std::vector<double> StepGraph::run(const Tensor& indices) {
  if (!obstacle_.empty() || indices.dim(0) != batch_size_) return step_(indices);
  if (graph_ != nullptr) {
    rows_.copy_from(indices);
    graph_->replay();
    optimizer_.count_replayed_step();
    return counts_;
  }
  if (eager_full_steps_ < 1) {  // the warm-up
    ++eager_full_steps_;
    return step_(indices);
  }
  rows_ = indices.clone();
  return capture_and_run(rows_);
}

std::vector<double> StepGraph::capture_and_run(const Tensor& rows) {
  const std::int64_t iterations = optimizer_.iterations();
  backend::Backend::Capture capture =
      backend::backend_for(device_).capture([&] { counts_ = step_(rows); });
  if (capture.graph == nullptr) {
    if (optimizer_.iterations() != iterations) optimizer_.forget_captured_step();
    obstacle_ = capture.failure;
    std::fprintf(stderr,
                 "kiln: warning: could not capture the training step as a CUDA graph; training "
                 "goes on step by step: %s\n",
                 capture.failure.c_str());
    return step_(rows);
  }
  graph_ = std::move(capture.graph);
  graph_->replay();
  return counts_;
}

std::string capture_obstacle(Device device, bool cuda_graphs, const Optimizer& optimizer,
                             const std::vector<std::string>& layers_drawing_per_call) {
  if (!cuda_graphs) return "turned off (FitOptions::cuda_graphs)";
  const char* env = std::getenv("KILN_CUDA_GRAPHS");
  if (env != nullptr && std::string_view(env) == "0") return "turned off (KILN_CUDA_GRAPHS=0)";
  if (!device.is_cuda()) return "steps on " + device.str() + " run as they come";
  if (!optimizer.capturable()) return optimizer.name() + " reads host values at every step";
  if (check_numerics_enabled()) return "check_numerics reads every result on the host";
  if (!layers_drawing_per_call.empty()) {
    return "layer '" + layers_drawing_per_call.front() + "' draws new random numbers every step";
  }
  return "";
}

}  // namespace kiln
