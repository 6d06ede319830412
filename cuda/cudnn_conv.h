// Convolutions through cuDNN for one GPU, in kiln's layouts: x (n, h, w, c) NHWC, w (kh, kw, c, o)
// HWIO, y (n, oh, ow, o); cross-correlation, geometry of backend::Conv2dGeometry, f32. All three
// assign their output (=):
//   forward          y  = conv(x, w)
//   backward_data    dx = gradient of sum(y * dy) with respect to x
//   backward_filter  dw = gradient of sum(y * dy) with respect to w
// Algorithms are chosen once per geometry (any batch size up to the one benchmarked) and TF32
// setting (Note [Choosing algorithms] in cudnn_conv_algorithms.cpp) and cached;
// scratch memory (workspaces, transposed weights, padded images) comes from the device's pool.
// Batches whose tensors exceed cuDNN's 32-bit sizes run in chunks of images. Work is queued on
// `stream`; nothing here synchronises except the benchmarking call of a geometry. See the
// notes in cudnn_conv.cpp.
#pragma once

#include <cuda_runtime_api.h>

#include <array>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>

#include "backend/backend.h"
#include "cudnn_conv_algorithms.h"
#include "cudnn_graph_conv.h"
#include "device_buffer.h"

namespace kiln::cuda {

class Convolutions {
 public:
  // `on_wait` is called for every synchronising algorithm benchmark (sync_stats).
  Convolutions(int device, cudaStream_t stream, Allocator& allocator,
               std::function<void()> on_wait);
  ~Convolutions();
  Convolutions(const Convolutions&) = delete;
  Convolutions& operator=(const Convolutions&) = delete;

  void forward(const backend::Conv2dGeometry& g, const float* x, const float* w, float* y);
  // y = relu?(conv(x, w) + bias?) in one cuDNN graph API call, bias (o) or nullptr; false, having
  // queued nothing, when the graph path is switched off or cuDNN offers no plan for the problem
  // (Note [Fused convolution plans] in cudnn_graph_conv.cpp): the caller then composes.
  bool forward_fused(const backend::Conv2dGeometry& g, const float* x, const float* w,
                     const float* bias, bool relu, float* y);
  void backward_data(const backend::Conv2dGeometry& g, const float* dy, const float* w, float* dx);
  void backward_filter(const backend::Conv2dGeometry& g, const float* x, const float* dy,
                       float* dw);

  struct Plan;

 private:
  struct Call;
  // The reference choice of a geometry without n: the plan whose batch was benchmarked
  // (Note [Choosing algorithms] in cudnn_conv_algorithms.cpp).
  struct Found {
    std::int64_t n = 0;
    const Plan* plan = nullptr;
  };

  Plan& plan_for(const backend::Conv2dGeometry& g, bool tf32);
  // The cached graph API plan of `spec`, built on first use; nullptr when cuDNN refused it.
  const FusedConvPlan* fused_plan_for(const FusedConvSpec& spec, cudnnHandle_t handle);
  // The conv prologue every direction shares: the chunk's plan, handle and padded buffer.
  Call prepare(const backend::Conv2dGeometry& g);
  // x, or its zero-padded copy when the call's plan pads (Note [Asymmetric padding]).
  const float* padded_input(const Call& call, const float* x);
  // w (HWIO) transposed into a pool buffer as OHWI (Note [HWIO filters]).
  DeviceBuffer ohwi_filter(const backend::Conv2dGeometry& g, const float* w);
  // The plan's choice for `direction`: cached, adopted from a larger benchmarked batch of the
  // same geometry, or found with `find` (which synchronises).
  const AlgoChoice& algorithm(const Call& call, ConvDirection direction,
                              const FindAlgorithms& find);
  void forward_chunk(const backend::Conv2dGeometry& g, const float* x, const float* filter,
                     float* y);
  void backward_data_chunk(const backend::Conv2dGeometry& g, const float* dy, const float* filter,
                           float* dx);
  void backward_filter_chunk(const backend::Conv2dGeometry& g, const float* x, const float* dy,
                             float* filter, bool accumulate);

  int device_;
  cudaStream_t stream_;
  Allocator& allocator_;
  std::function<void()> on_wait_;
  std::mutex mutex_;  // guards plans_, found_ and each plan's algorithm choices
  std::map<std::array<std::int64_t, 14>, std::unique_ptr<Plan>> plans_;
  std::array<std::map<std::array<std::int64_t, 14>, Found>, 3> found_;  // by ConvDirection
  std::map<std::array<std::int64_t, 20>, std::unique_ptr<FusedConvPlan>> fused_plans_;
};

}  // namespace kiln::cuda
