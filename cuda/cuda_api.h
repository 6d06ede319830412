// The CUDA backend's exported extras, plain C++ (no CUDA headers), for tests, benchmarks and
// whoever exposes them in the public API:
//   TF32: cuDNN convolutions and cuBLAS GEMMs may use TF32 tensor cores (10-bit mantissa
//   products, f32 accumulation) — on by default, as PyTorch does for convolutions; the
//   environment variable KILN_TF32=0 turns it off at start, set_tf32_enabled() at any time
//   (algorithm choices are cached per setting, so switching back and forth is cheap).
//   KILN_CUDNN_GRAPH=0 likewise turns off the cuDNN graph API path of Conv2D (below).
//   gpu_backend(i): the Backend of GPU i, as backend_for(Device::cuda(i)) returns it; throws
//   kiln::Error when GPU i is not usable.
#pragma once

#include <cstdint>
#include <memory>

#include "backend/backend.h"
#include "kiln/export.h"

namespace kiln::cuda {

KILN_API bool tf32_enabled();
KILN_API void set_tf32_enabled(bool enabled);
KILN_API backend::Backend& gpu_backend(int index = 0);
// The most elements one cuDNN call may touch in one tensor (Note [Large batches] in
// cudnn_conv.cpp): 2^31 - 1, cuDNN's int sizes. Tests lower it to exercise the chunking on small
// tensors; 0 restores the default.
KILN_API void set_cudnn_element_limit(std::int64_t elements);
KILN_API std::int64_t cudnn_element_limit();
// A caching allocator of GPU `index` with a pool of its own (for tests that need an empty pool);
// its blocks are for the GPU's backend stream.
KILN_API std::unique_ptr<Allocator> make_device_allocator(int index = 0);
// What kiln asked of cuBLASLt since the process started (all GPUs and threads), so tests can see
// that a fused Dense path ran (cublaslt_dense.cpp): cublasLtMatmul calls, those of them whose
// algorithm used a workspace, and cublasLtMatmulAlgoGetHeuristic queries (one per new plan).
struct CublasLtStats {
  std::uint64_t matmuls = 0;
  std::uint64_t matmuls_with_workspace = 0;
  std::uint64_t heuristic_queries = 0;
};
KILN_API CublasLtStats cublaslt_stats();
// Conv2D forward with its bias and ReLU fused through cuDNN's graph API (cudnn_graph_conv.cpp):
// on by default; KILN_CUDNN_GRAPH=0 turns it off at start, set_cudnn_graph_enabled() at any time
// (the legacy cudnnConvolutionForward with separate bias / ReLU kernels then runs, as it does
// for a geometry cuDNN offers no fused plan for).
KILN_API bool cudnn_graph_enabled();
KILN_API void set_cudnn_graph_enabled(bool enabled);
// What kiln asked of the graph API since the process started: cudnnBackendExecute calls, plans
// built, and problems cuDNN offered no plan for (each tried once, then left to the legacy path).
struct CudnnGraphStats {
  std::uint64_t executions = 0;
  std::uint64_t plans_built = 0;
  std::uint64_t plans_refused = 0;
};
KILN_API CudnnGraphStats cudnn_graph_stats();

}  // namespace kiln::cuda
