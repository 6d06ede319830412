// Choosing a cuDNN convolution algorithm for one plan (a geometry and a TF32 setting) and one
// direction: benchmark with cudnnFind*AlgorithmEx, keep the fastest acceptable result, fall back
// to the cudnnGet*_v7 heuristics. Notes [Choosing algorithms] and [TF32] in the .cpp.
#pragma once

#include <cudnn.h>

#include <cstddef>
#include <functional>
#include <string>

#include "backend/backend.h"
#include "cudnn_resources.h"

namespace kiln::cuda {

// The cuDNN descriptors of one convolution geometry: the input cuDNN sees (x, possibly a padded
// copy), the output y, the OHWI filter w, and the symmetric padding cuDNN applies.
struct ConvDescriptors {
  backend::Conv2dGeometry g;
  bool tf32 = true;
  std::int64_t pad_h = 0, pad_w = 0;
  TensorDescriptor x, y;
  FilterDescriptor w;

  // A convolution descriptor of this geometry with the given math type.
  ConvolutionDescriptor convolution(cudnnMathType_t math) const;
};

// What to run: an algorithm, its workspace, and a descriptor with the math type to run it with.
struct AlgoChoice {
  int algo = 0;
  cudnnMathType_t math = CUDNN_DEFAULT_MATH;
  std::size_t workspace = 0;
  ConvolutionDescriptor conv;
};

enum class ConvDirection : unsigned char { forward, backward_data, backward_filter };

// Runs cudnnFind*AlgorithmEx of `direction` on the call's own buffers with `conv` and the given
// workspace, filling `perf_out` (an array of the direction's Perf type) and `*returned`.
using FindAlgorithms =
    std::function<void(cudnnConvolutionDescriptor_t conv, void* workspace,
                       std::size_t workspace_bytes, void* perf_out, int* returned)>;

// Note [Choosing algorithms]: benchmarks with Find (which synchronises), with a workspace taken
// from cudaMalloc outside `pool` and freed right after (the pool's cache is emptied first if the
// device is short of memory). Throws kiln::Error naming the geometry and every result cuDNN
// returned when none is acceptable.
AlgoChoice choose_algorithm(ConvDirection direction, cudnnHandle_t handle, const ConvDescriptors& d,
                            Allocator& pool, const FindAlgorithms& find);

// Note [Choosing algorithms]: the algorithm and math type of `found` (chosen for the same geometry
// at a batch at least as large) with the workspace this plan needs, or, when cuDNN cannot run it
// for this plan, the first acceptable answer of its heuristics. Never synchronises.
AlgoChoice adopt_algorithm(ConvDirection direction, cudnnHandle_t handle, const ConvDescriptors& d,
                           const AlgoChoice& found);

std::string describe(const backend::Conv2dGeometry& g);

}  // namespace kiln::cuda
