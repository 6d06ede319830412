// Convolutions through cuDNN for one GPU, in kiln's layouts: x (n, h, w, c) NHWC, w (kh, kw, c, o)
// HWIO, y (n, oh, ow, o); cross-correlation, geometry of backend::Conv2dGeometry, f32. All three
// assign their output (=):
//   forward          y  = conv(x, w)
//   backward_data    dx = gradient of sum(y * dy) with respect to x
//   backward_filter  dw = gradient of sum(y * dy) with respect to w
// Algorithms are chosen once per shape and TF32 setting (cudnn_conv_algorithms.h) and cached;
// scratch memory (workspaces, transposed weights, padded images) comes from the device's pool.
// Batches whose tensors exceed cuDNN's 32-bit sizes run in chunks of images. Work is queued on
// `stream`; nothing here synchronises except the first (benchmarking) call for a shape. See the
// notes in cudnn_conv.cpp.
#pragma once

#include <cuda_runtime_api.h>

#include <array>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>

#include "backend/backend.h"
#include "cudnn_conv_algorithms.h"

namespace kiln::cuda {

class Convolutions {
 public:
  Convolutions(int device, cudaStream_t stream, Allocator& allocator);
  ~Convolutions();
  Convolutions(const Convolutions&) = delete;
  Convolutions& operator=(const Convolutions&) = delete;

  void forward(const backend::Conv2dGeometry& g, const float* x, const float* w, float* y);
  void backward_data(const backend::Conv2dGeometry& g, const float* dy, const float* w, float* dx);
  void backward_filter(const backend::Conv2dGeometry& g, const float* x, const float* dy,
                       float* dw);

  struct Plan;

 private:
  Plan& plan_for(const backend::Conv2dGeometry& g, bool tf32);
  // The plan's cached choice for `direction`, found with `find` on first use.
  const AlgoChoice& algorithm(Plan& plan, ConvDirection direction, cudnnHandle_t handle,
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
  std::mutex mutex_;  // guards plans_ and each plan's algorithm choices
  std::map<std::array<std::int64_t, 14>, std::unique_ptr<Plan>> plans_;
};

}  // namespace kiln::cuda
