// Stands in for cudnnConvolutionForward, cudnnConvolutionBackwardData and
// cudnnConvolutionBackwardFilter: f32 NHWC (or NCHW) tensors, NHWC filters, 2-D cross-correlation,
// the algorithms of Note [Emulated algorithms] (cudnn_convolution_algorithms.cpp). Work is done at
// the call. Checks, in order: handle, descriptors (cudnn_convolution_problem.cpp), alpha and beta,
// the algorithm (BAD_PARAM for a value that is no enumerant, NOT_SUPPORTED for one not emulated),
// the workspace size (BAD_PARAM when smaller than the algorithm needs: the documentation names no
// status, and BAD_PARAM is what cuDNN answers in practice), the data pointers, and last the
// handle's stream (EXECUTION_FAILED, as a launch on a destroyed stream would fail). On a stream
// that captures, the run is recorded with its scalars, algorithm and a copy of the checked problem
// — the descriptors may be destroyed after the call (Note [Stream capture] in
// stream_capture.cpp).
#include "cudnn_convolution.h"

#include <cudnn.h>

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "cudnn_objects.h"

namespace kiln::emu::cudnn {

namespace {

struct OperandSpec {
  const char* name = "";
  std::size_t bytes = 0;
};

struct OperandSpecs {
  OperandSpec a, b, out;
};

// Names and sizes of (a, b, out) per direction (ConvolutionRun).
OperandSpecs operand_specs(Direction direction, const ConvolutionProblem& p) {
  switch (direction) {
    case Direction::forward: return {{"x", p.x_bytes}, {"w", p.filter_bytes}, {"y", p.y_bytes}};
    case Direction::backward_data:
      return {{"dy", p.y_bytes}, {"w", p.filter_bytes}, {"dx", p.x_bytes}};
    case Direction::backward_filter:
      return {{"x", p.x_bytes}, {"dy", p.y_bytes}, {"dw", p.filter_bytes}};
  }
  return {};
}

bool overlap(const void* first, std::size_t first_bytes, const void* second,
             std::size_t second_bytes) {
  const auto a = reinterpret_cast<std::uintptr_t>(first);
  const auto b = reinterpret_cast<std::uintptr_t>(second);
  return a < b + second_bytes && b < a + first_bytes;
}

void require_apart(const OperandSpec& first, const void* first_ptr, const OperandSpec& second,
                   const void* second_ptr) {
  require_param(!overlap(first_ptr, first.bytes, second_ptr, second.bytes),
                std::string(first.name) + " overlaps " + second.name +
                    " (cuDNN convolutions do not work in place)");
}

// The memory of one run, for a replay from a graph to check (Note [Stream capture]).
std::vector<CheckedRange> operand_ranges(Direction direction, const ConvolutionProblem& p,
                                         const Operands& operands, const void* workspace,
                                         std::size_t workspace_size) {
  const auto [a, b, out] = operand_specs(direction, p);
  std::vector<CheckedRange> ranges{checked_range(a.name, operands.a, a.bytes),
                                   checked_range(b.name, operands.b, b.bytes),
                                   checked_range(out.name, operands.out, out.bytes)};
  if (workspace_size > 0) ranges.push_back(checked_range("workSpace", workspace, workspace_size));
  return ranges;
}

const char* algorithm_type_name(Direction direction) {
  switch (direction) {
    case Direction::forward: return "cudnnConvolutionFwdAlgo_t";
    case Direction::backward_data: return "cudnnConvolutionBwdDataAlgo_t";
    case Direction::backward_filter: return "cudnnConvolutionBwdFilterAlgo_t";
  }
  return "";
}

// The checks and work of the three compute calls (see the file comment).
cudnnStatus_t convolve(const char* call, Direction direction, cudnnHandle_t handle,
                       const ConvolutionArguments& arguments, const void* alpha, const void* beta,
                       int algo, const Operands& operands, void* workspace,
                       std::size_t workspace_size) {
  return run_cudnn(call, [&] {
    const cudnnContext& context = live("handle", handle);
    const ConvolutionProblem p = describe_convolution(arguments);
    const double alpha_value = host_scalar("alpha", alpha);
    const double beta_value = host_scalar("beta", beta);
    require_emulated_algorithm(direction, algo);
    const std::size_t needed = workspace_bytes(direction, algo, p);
    require_param(workspace_size >= needed,
                  "workSpaceSizeInBytes = " + std::to_string(workspace_size) + " but algo " +
                      std::to_string(algo) + " needs " + std::to_string(needed));
    require_operands(direction, p, operands, workspace, workspace_size);
    require_stream(context);
    const std::vector<CheckedRange> ranges =
        operand_ranges(direction, p, operands, workspace, workspace_size);
    queue_or_fail(CUDNN_STATUS_EXECUTION_FAILED, context.stream, call, [=] {
      if (!ranges_still_live(call, ranges)) return;
      run_algorithm(direction, p, algo, operands, workspace, alpha_value, beta_value);
      check_redzones_after(call);
    });
  });
}

}  // namespace

void require_emulated_algorithm(Direction direction, int algo) {
  const std::string algo_text = "algo " + std::to_string(algo);
  require_param(algorithm_exists(direction, algo),
                algo_text + " is not a " + algorithm_type_name(direction));
  require_supported(algorithm_emulated(direction, algo),
                    algo_text + " is not emulated (Note [Emulated algorithms])");
}

void require_operands(Direction direction, const ConvolutionProblem& p, const Operands& operands,
                      const void* workspace, std::size_t workspace_size) {
  const auto [a, b, out] = operand_specs(direction, p);
  require_device_floats(a.name, operands.a, a.bytes);
  require_device_floats(b.name, operands.b, b.bytes);
  require_device_floats(out.name, operands.out, out.bytes);
  require_workspace(workspace, workspace_size);
  require_apart(out, operands.out, a, operands.a);
  require_apart(out, operands.out, b, operands.b);
  if (workspace_size == 0) return;
  const OperandSpec scratch{"workSpace", workspace_size};
  for (const auto& [spec, ptr] : {std::pair{a, operands.a}, std::pair{b, operands.b},
                                  std::pair{out, static_cast<const void*>(operands.out)}}) {
    require_apart(scratch, workspace, spec, ptr);
  }
}

std::size_t output_bytes(Direction direction, const ConvolutionProblem& p) {
  return operand_specs(direction, p).out.bytes;
}

void run_algorithm(Direction direction, const ConvolutionProblem& p, int algo,
                   const Operands& operands, void* workspace, double alpha, double beta) {
  ConvolutionRun run;
  run.problem = &p;
  run.algo = algo;
  run.a = static_cast<const float*>(operands.a);
  run.b = static_cast<const float*>(operands.b);
  run.out = static_cast<float*>(operands.out);
  run.workspace = workspace;
  run.alpha = alpha;
  run.beta = beta;
  run.tf32 = algorithm_is_tensor_op(direction, algo) && allows_tensor_ops(p.math);
  switch (direction) {
    case Direction::forward: return run_forward(run);
    case Direction::backward_data: return run_backward_data(run);
    case Direction::backward_filter: return run_backward_filter(run);
  }
}

}  // namespace kiln::emu::cudnn

using namespace kiln::emu::cudnn;

cudnnStatus_t cudnnConvolutionForward(cudnnHandle_t handle, const void* alpha,
                                      const cudnnTensorDescriptor_t xDesc, const void* x,
                                      const cudnnFilterDescriptor_t wDesc, const void* w,
                                      const cudnnConvolutionDescriptor_t convDesc,
                                      cudnnConvolutionFwdAlgo_t algo, void* workSpace,
                                      size_t workSpaceSizeInBytes, const void* beta,
                                      const cudnnTensorDescriptor_t yDesc, void* y) {
  const ConvolutionArguments arguments{xDesc, wDesc, convDesc, yDesc, "xDesc", "wDesc", "yDesc"};
  return convolve("cudnnConvolutionForward", Direction::forward, handle, arguments, alpha, beta,
                  algo, Operands{x, w, y}, workSpace, workSpaceSizeInBytes);
}

cudnnStatus_t cudnnConvolutionBackwardData(cudnnHandle_t handle, const void* alpha,
                                           const cudnnFilterDescriptor_t wDesc, const void* w,
                                           const cudnnTensorDescriptor_t dyDesc, const void* dy,
                                           const cudnnConvolutionDescriptor_t convDesc,
                                           cudnnConvolutionBwdDataAlgo_t algo, void* workSpace,
                                           size_t workSpaceSizeInBytes, const void* beta,
                                           const cudnnTensorDescriptor_t dxDesc, void* dx) {
  const ConvolutionArguments arguments{dxDesc,   wDesc,   convDesc, dyDesc,
                                       "dxDesc", "wDesc", "dyDesc"};
  return convolve("cudnnConvolutionBackwardData", Direction::backward_data, handle, arguments,
                  alpha, beta, algo, Operands{dy, w, dx}, workSpace, workSpaceSizeInBytes);
}

cudnnStatus_t cudnnConvolutionBackwardFilter(cudnnHandle_t handle, const void* alpha,
                                             const cudnnTensorDescriptor_t xDesc, const void* x,
                                             const cudnnTensorDescriptor_t dyDesc, const void* dy,
                                             const cudnnConvolutionDescriptor_t convDesc,
                                             cudnnConvolutionBwdFilterAlgo_t algo, void* workSpace,
                                             size_t workSpaceSizeInBytes, const void* beta,
                                             const cudnnFilterDescriptor_t dwDesc, void* dw) {
  const ConvolutionArguments arguments{xDesc,   dwDesc,   convDesc, dyDesc,
                                       "xDesc", "dwDesc", "dyDesc"};
  return convolve("cudnnConvolutionBackwardFilter", Direction::backward_filter, handle, arguments,
                  alpha, beta, algo, Operands{x, dy, dw}, workSpace, workSpaceSizeInBytes);
}
