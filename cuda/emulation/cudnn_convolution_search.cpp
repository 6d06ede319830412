// Stands in for cuDNN's algorithm queries of the three convolution directions:
// cudnnGetConvolution*WorkspaceSize, cudnnFindConvolution*AlgorithmEx and
// cudnnGetConvolution*Algorithm_v7, over the algorithms of Note [Emulated algorithms].
//
// Note [Reported math types]
// ~~~~~~~~~~~~~~~~~~~~~~~~~~
// Find and the _v7 heuristics give each algorithm's math type as follows. The tensor-op algorithm
// reports CUDNN_TENSOR_OP_MATH when the descriptor allows tensor ops (and is then the fastest),
// CUDNN_FMA_MATH under a CUDNN_FMA_MATH descriptor. Every other algorithm reports
// CUDNN_DEFAULT_MATH, even under a CUDNN_FMA_MATH descriptor. That last rule is on purpose: it is
// what we suspect cuDNN 9.14 does, so kiln must accept any result whose math type is not a
// tensor-op one when TF32 is off, not only CUDNN_FMA_MATH, and these stand-ins make sure it does.
//
// Note [Find]
// ~~~~~~~~~~~
// cudnnFind*AlgorithmEx runs every emulated algorithm whose workspace fits the caller's, for
// real, on the caller's buffers and workspace (alpha 1, beta 0), then fills the output with 0xFF
// bytes (NaN), as cuDNN documents that Find leaves arbitrary values there. Its results: the
// algorithms that ran (CUDNN_STATUS_SUCCESS, by modelled time: Note [Modelled times]), then those
// whose workspace exceeds the caller's (CUDNN_STATUS_ALLOC_FAILED, which cuDNN documents for "the
// provided workspace is insufficient"), then the algorithms not emulated
// (CUDNN_STATUS_NOT_SUPPORTED); time is -1 for all but the first group. The _v7 heuristics give
// the same order without running anything or limiting the workspace, every time -1. Find is
// refused on a stream that captures (require_not_capturing).
#include <cudnn.h>

#include <algorithm>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "cudnn_convolution.h"
#include "cudnn_objects.h"
#include "emulator.h"

namespace kiln::emu::cudnn {

namespace {

struct Candidate {
  int algo = 0;
  cudnnStatus_t status = CUDNN_STATUS_SUCCESS;
  float time = 0.0f;  // modelled, also for the ones that did not run (for the order)
  std::size_t memory = 0;
};

int rank(cudnnStatus_t status) {
  if (status == CUDNN_STATUS_SUCCESS) return 0;
  return status == CUDNN_STATUS_ALLOC_FAILED ? 1 : 2;
}

// Every algorithm of the direction, in the order of Note [Find].
std::vector<Candidate> candidates(Direction direction, const ConvolutionProblem& p,
                                  std::size_t workspace_limit) {
  std::vector<Candidate> list;
  for (int algo = 0; algo < algorithm_count(direction); ++algo) {
    Candidate c;
    c.algo = algo;
    if (!algorithm_emulated(direction, algo)) {
      c.status = CUDNN_STATUS_NOT_SUPPORTED;
    } else {
      c.memory = workspace_bytes(direction, algo, p);
      c.time = modelled_milliseconds(direction, algo, p, allows_tensor_ops(p.math));
      c.status = c.memory <= workspace_limit ? CUDNN_STATUS_SUCCESS : CUDNN_STATUS_ALLOC_FAILED;
    }
    list.push_back(c);
  }
  std::stable_sort(list.begin(), list.end(), [](const Candidate& a, const Candidate& b) {
    if (rank(a.status) != rank(b.status)) return rank(a.status) < rank(b.status);
    return rank(a.status) < 2 && a.time < b.time;
  });
  return list;
}

// Note [Reported math types].
cudnnMathType_t reported_math(Direction direction, int algo, cudnnMathType_t descriptor) {
  if (!algorithm_is_tensor_op(direction, algo)) return CUDNN_DEFAULT_MATH;
  return allows_tensor_ops(descriptor) ? CUDNN_TENSOR_OP_MATH : CUDNN_FMA_MATH;
}

template <class Perf>
void write_results(Direction direction, const ConvolutionProblem& p,
                   const std::vector<Candidate>& list, bool measured, int requested, int* returned,
                   Perf* results) {
  const int count = std::min(requested, static_cast<int>(list.size()));
  for (int i = 0; i < count; ++i) {
    const Candidate& c = list[i];
    Perf r{};
    r.algo = static_cast<decltype(r.algo)>(c.algo);
    r.status = c.status;
    r.time = measured && c.status == CUDNN_STATUS_SUCCESS ? c.time : -1.0f;
    r.memory = c.memory;
    r.determinism = algorithm_is_deterministic(direction, c.algo) ? CUDNN_DETERMINISTIC
                                                                  : CUDNN_NON_DETERMINISTIC;
    r.mathType = reported_math(direction, c.algo, p.math);
    results[i] = r;
  }
  *returned = count;
}

void require_result_arguments(int requested, const int* returned, const void* results) {
  require_param(requested > 0,
                "requestedAlgoCount = " + std::to_string(requested) + " is less than 1");
  require_param(returned != nullptr, "returnedAlgoCount is NULL");
  require_param(results != nullptr, "perfResults is NULL");
}

cudnnStatus_t query_workspace(const char* call, Direction direction, cudnnHandle_t handle,
                              const ConvolutionArguments& arguments, int algo, std::size_t* size) {
  return run_cudnn(call, [&] {
    live("handle", handle);
    const ConvolutionProblem p = describe_convolution(arguments);
    require_param(size != nullptr, "sizeInBytes is NULL");
    require_emulated_algorithm(direction, algo);
    *size = workspace_bytes(direction, algo, p);
  });
}

template <class Perf>
cudnnStatus_t heuristics(const char* call, Direction direction, cudnnHandle_t handle,
                         const ConvolutionArguments& arguments, int requested, int* returned,
                         Perf* results) {
  return run_cudnn(call, [&] {
    live("handle", handle);
    const ConvolutionProblem p = describe_convolution(arguments);
    require_result_arguments(requested, returned, results);
    const auto list = candidates(direction, p, std::numeric_limits<std::size_t>::max());
    write_results(direction, p, list, false, requested, returned, results);
  });
}

// Find times its runs, which synchronises the handle's stream: not permitted while it captures
// (Note [Stream capture] in stream_capture.cpp). The refusal is a CUDA runtime failure under
// cuDNN, hence EXECUTION_FAILED_CUDART; cudaGetLastError gives the CUDA error.
void require_not_capturing(cudaStream_t stream, const char* call) {
  const cudaError_t refused =
      refuse_if_capturing(stream, cudaErrorStreamCaptureUnsupported,
                          std::string(call) + " (Find synchronises the handle's stream)");
  require(refused == cudaSuccess, CUDNN_STATUS_EXECUTION_FAILED_CUDART,
          std::string("the handle's stream captures (or is the legacy stream during a blocking "
                      "capture): ") +
              cudaGetErrorName(refused));
}

// Note [Find].
template <class Perf>
cudnnStatus_t find(const char* call, Direction direction, cudnnHandle_t handle,
                   const ConvolutionArguments& arguments, const Operands& operands, int requested,
                   int* returned, Perf* results, void* workspace, std::size_t workspace_size) {
  return run_cudnn(call, [&] {
    const cudnnContext& context = live("handle", handle);
    const ConvolutionProblem p = describe_convolution(arguments);
    require_result_arguments(requested, returned, results);
    require_operands(direction, p, operands, workspace, workspace_size);
    require_stream(context);
    require_not_capturing(context.stream, call);
    const auto list = candidates(direction, p, workspace_size);
    for (const Candidate& c : list) {
      if (c.status != CUDNN_STATUS_SUCCESS) continue;
      run_algorithm(direction, p, c.algo, operands, workspace, 1.0, 0.0);
    }
    std::memset(operands.out, 0xFF, output_bytes(direction, p));
    write_results(direction, p, list, true, requested, returned, results);
    check_redzones_after(call);
  });
}

ConvolutionArguments forward_arguments(cudnnTensorDescriptor_t x, cudnnFilterDescriptor_t w,
                                       cudnnConvolutionDescriptor_t conv,
                                       cudnnTensorDescriptor_t y) {
  return {x, w, conv, y, "xDesc", "wDesc", "yDesc"};
}

ConvolutionArguments backward_data_arguments(cudnnFilterDescriptor_t w, cudnnTensorDescriptor_t dy,
                                             cudnnConvolutionDescriptor_t conv,
                                             cudnnTensorDescriptor_t dx) {
  return {dx, w, conv, dy, "dxDesc", "wDesc", "dyDesc"};
}

ConvolutionArguments backward_filter_arguments(cudnnTensorDescriptor_t x,
                                               cudnnTensorDescriptor_t dy,
                                               cudnnConvolutionDescriptor_t conv,
                                               cudnnFilterDescriptor_t dw) {
  return {x, dw, conv, dy, "xDesc", "dwDesc", "dyDesc"};
}

}  // namespace

}  // namespace kiln::emu::cudnn

using namespace kiln::emu::cudnn;

cudnnStatus_t cudnnGetConvolutionForwardWorkspaceSize(
    cudnnHandle_t handle, const cudnnTensorDescriptor_t xDesc, const cudnnFilterDescriptor_t wDesc,
    const cudnnConvolutionDescriptor_t convDesc, const cudnnTensorDescriptor_t yDesc,
    cudnnConvolutionFwdAlgo_t algo, size_t* sizeInBytes) {
  return query_workspace("cudnnGetConvolutionForwardWorkspaceSize", Direction::forward, handle,
                         forward_arguments(xDesc, wDesc, convDesc, yDesc), algo, sizeInBytes);
}

cudnnStatus_t cudnnGetConvolutionBackwardDataWorkspaceSize(
    cudnnHandle_t handle, const cudnnFilterDescriptor_t wDesc, const cudnnTensorDescriptor_t dyDesc,
    const cudnnConvolutionDescriptor_t convDesc, const cudnnTensorDescriptor_t dxDesc,
    cudnnConvolutionBwdDataAlgo_t algo, size_t* sizeInBytes) {
  return query_workspace("cudnnGetConvolutionBackwardDataWorkspaceSize", Direction::backward_data,
                         handle, backward_data_arguments(wDesc, dyDesc, convDesc, dxDesc), algo,
                         sizeInBytes);
}

cudnnStatus_t cudnnGetConvolutionBackwardFilterWorkspaceSize(
    cudnnHandle_t handle, const cudnnTensorDescriptor_t xDesc, const cudnnTensorDescriptor_t dyDesc,
    const cudnnConvolutionDescriptor_t convDesc, const cudnnFilterDescriptor_t gradDesc,
    cudnnConvolutionBwdFilterAlgo_t algo, size_t* sizeInBytes) {
  return query_workspace(
      "cudnnGetConvolutionBackwardFilterWorkspaceSize", Direction::backward_filter, handle,
      backward_filter_arguments(xDesc, dyDesc, convDesc, gradDesc), algo, sizeInBytes);
}

cudnnStatus_t cudnnFindConvolutionForwardAlgorithmEx(
    cudnnHandle_t handle, const cudnnTensorDescriptor_t xDesc, const void* x,
    const cudnnFilterDescriptor_t wDesc, const void* w, const cudnnConvolutionDescriptor_t convDesc,
    const cudnnTensorDescriptor_t yDesc, void* y, const int requestedAlgoCount,
    int* returnedAlgoCount, cudnnConvolutionFwdAlgoPerf_t* perfResults, void* workSpace,
    size_t workSpaceSizeInBytes) {
  return find("cudnnFindConvolutionForwardAlgorithmEx", Direction::forward, handle,
              forward_arguments(xDesc, wDesc, convDesc, yDesc), Operands{x, w, y},
              requestedAlgoCount, returnedAlgoCount, perfResults, workSpace, workSpaceSizeInBytes);
}

cudnnStatus_t cudnnFindConvolutionBackwardDataAlgorithmEx(
    cudnnHandle_t handle, const cudnnFilterDescriptor_t wDesc, const void* w,
    const cudnnTensorDescriptor_t dyDesc, const void* dy,
    const cudnnConvolutionDescriptor_t convDesc, const cudnnTensorDescriptor_t dxDesc, void* dx,
    const int requestedAlgoCount, int* returnedAlgoCount,
    cudnnConvolutionBwdDataAlgoPerf_t* perfResults, void* workSpace, size_t workSpaceSizeInBytes) {
  return find("cudnnFindConvolutionBackwardDataAlgorithmEx", Direction::backward_data, handle,
              backward_data_arguments(wDesc, dyDesc, convDesc, dxDesc), Operands{dy, w, dx},
              requestedAlgoCount, returnedAlgoCount, perfResults, workSpace, workSpaceSizeInBytes);
}

cudnnStatus_t cudnnFindConvolutionBackwardFilterAlgorithmEx(
    cudnnHandle_t handle, const cudnnTensorDescriptor_t xDesc, const void* x,
    const cudnnTensorDescriptor_t dyDesc, const void* y,
    const cudnnConvolutionDescriptor_t convDesc, const cudnnFilterDescriptor_t dwDesc, void* dw,
    const int requestedAlgoCount, int* returnedAlgoCount,
    cudnnConvolutionBwdFilterAlgoPerf_t* perfResults, void* workSpace,
    size_t workSpaceSizeInBytes) {
  return find("cudnnFindConvolutionBackwardFilterAlgorithmEx", Direction::backward_filter, handle,
              backward_filter_arguments(xDesc, dyDesc, convDesc, dwDesc), Operands{x, y, dw},
              requestedAlgoCount, returnedAlgoCount, perfResults, workSpace, workSpaceSizeInBytes);
}

cudnnStatus_t cudnnGetConvolutionForwardAlgorithm_v7(
    cudnnHandle_t handle, const cudnnTensorDescriptor_t srcDesc,
    const cudnnFilterDescriptor_t filterDesc, const cudnnConvolutionDescriptor_t convDesc,
    const cudnnTensorDescriptor_t destDesc, const int requestedAlgoCount, int* returnedAlgoCount,
    cudnnConvolutionFwdAlgoPerf_t* perfResults) {
  return heuristics("cudnnGetConvolutionForwardAlgorithm_v7", Direction::forward, handle,
                    forward_arguments(srcDesc, filterDesc, convDesc, destDesc), requestedAlgoCount,
                    returnedAlgoCount, perfResults);
}

cudnnStatus_t cudnnGetConvolutionBackwardDataAlgorithm_v7(
    cudnnHandle_t handle, const cudnnFilterDescriptor_t filterDesc,
    const cudnnTensorDescriptor_t diffDesc, const cudnnConvolutionDescriptor_t convDesc,
    const cudnnTensorDescriptor_t gradDesc, const int requestedAlgoCount, int* returnedAlgoCount,
    cudnnConvolutionBwdDataAlgoPerf_t* perfResults) {
  return heuristics("cudnnGetConvolutionBackwardDataAlgorithm_v7", Direction::backward_data, handle,
                    backward_data_arguments(filterDesc, diffDesc, convDesc, gradDesc),
                    requestedAlgoCount, returnedAlgoCount, perfResults);
}

cudnnStatus_t cudnnGetConvolutionBackwardFilterAlgorithm_v7(
    cudnnHandle_t handle, const cudnnTensorDescriptor_t srcDesc,
    const cudnnTensorDescriptor_t diffDesc, const cudnnConvolutionDescriptor_t convDesc,
    const cudnnFilterDescriptor_t gradDesc, const int requestedAlgoCount, int* returnedAlgoCount,
    cudnnConvolutionBwdFilterAlgoPerf_t* perfResults) {
  return heuristics("cudnnGetConvolutionBackwardFilterAlgorithm_v7", Direction::backward_filter,
                    handle, backward_filter_arguments(srcDesc, diffDesc, convDesc, gradDesc),
                    requestedAlgoCount, returnedAlgoCount, perfResults);
}
