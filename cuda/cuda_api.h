// The CUDA backend's tuning switches and counters, plain C++ (no CUDA headers), internal to the
// cuda layer and to the tests and benchmarks that link kiln's internals. Not a door into cuda/:
// src/ reaches cuda/ only through backend/cuda_bridge.h, and nothing here is exported from
// libkiln.so. TF32 is not here: it is the public kiln::set_allow_tf32 / tf32_allowed
// (kiln/device.h, env KILN_TF32), which the cuDNN and cuBLAS paths read when they pick a math
// mode (algorithm choices are cached per setting, so switching back and forth is cheap).
// KILN_CUDNN_GRAPH=0 turns off the cuDNN graph API path of Conv2D at start (below).
#pragma once

#include <cstdint>
#include <memory>

#include "backend/backend.h"

namespace kiln::cuda {

// The most elements one cuDNN call may touch in one tensor (Note [Large batches] in
// cudnn_conv.cpp): 2^31 - 1, cuDNN's int sizes. Tests lower it to exercise the chunking on small
// tensors; 0 restores the default.
void set_cudnn_element_limit(std::int64_t elements);
std::int64_t cudnn_element_limit();
// A caching allocator of GPU `index` with a pool of its own (for tests that need an empty pool);
// its blocks are for the GPU's backend stream.
std::unique_ptr<Allocator> make_device_allocator(int index = 0);
// What kiln asked of cuBLASLt since the process started (all GPUs and threads), so tests can see
// that a fused Dense path ran (cublaslt_dense.cpp): cublasLtMatmul calls, those of them whose
// algorithm used a workspace, and cublasLtMatmulAlgoGetHeuristic queries (one per new plan).
struct CublasLtStats {
  std::uint64_t matmuls = 0;
  std::uint64_t matmuls_with_workspace = 0;
  std::uint64_t heuristic_queries = 0;
};
CublasLtStats cublaslt_stats();
// Conv2D forward with its bias and ReLU fused through cuDNN's graph API (cudnn_graph_conv.cpp):
// on by default; KILN_CUDNN_GRAPH=0 turns it off at start, set_cudnn_graph_enabled() at any time
// (the legacy cudnnConvolutionForward with separate bias / ReLU kernels then runs, as it does
// for a geometry cuDNN offers no fused plan for).
bool cudnn_graph_enabled();
void set_cudnn_graph_enabled(bool enabled);
// What kiln asked of the graph API since the process started: cudnnBackendExecute calls, plans
// built, and problems cuDNN offered no plan for (each tried once, then left to the legacy path).
struct CudnnGraphStats {
  std::uint64_t executions = 0;
  std::uint64_t plans_built = 0;
  std::uint64_t plans_refused = 0;
};
CudnnGraphStats cudnn_graph_stats();

}  // namespace kiln::cuda
