// The cuDNN stand-in's convolutions: one validated problem (x, filter, y and the convolution
// descriptor), the emulated algorithms of each direction, and their arithmetic.
// cudnn_convolution_problem.cpp checks the descriptors, cudnn_convolution_algorithms.cpp lists the
// algorithms, cudnn_convolution_arithmetic.cpp computes, cudnn_convolution_search.cpp answers the
// workspace, Find and _v7 queries, and cudnn_convolution.cpp holds the three compute calls.
#pragma once

#include <cudnn.h>

#include <cstddef>
#include <cstdint>

#include "cudnn_objects.h"

namespace kiln::emu::cudnn {

// A 2-D cross-correlation y = x (*) w that has passed every descriptor check.
struct ConvolutionProblem {
  int n = 0, c = 0, h = 0, w = 0;  // x
  int k = 0, r = 0, s = 0;         // filter (k, r, s, c)
  int oh = 0, ow = 0;              // y is (n, k, oh, ow)
  int pad_h = 0, pad_w = 0, stride_h = 1, stride_w = 1;
  Strides x, y, filter;
  std::size_t x_bytes = 0, y_bytes = 0, filter_bytes = 0;
  cudnnMathType_t math = CUDNN_DEFAULT_MATH;

  std::int64_t output_pixels() const { return std::int64_t{n} * oh * ow; }
  std::int64_t taps() const { return std::int64_t{r} * s * c; }  // filter elements per output
};

// The descriptor arguments of one call and their names for messages (they differ per direction:
// xDesc / dxDesc, yDesc / dyDesc, wDesc / dwDesc).
struct ConvolutionArguments {
  cudnnTensorDescriptor_t x;
  cudnnFilterDescriptor_t w;
  cudnnConvolutionDescriptor_t conv;
  cudnnTensorDescriptor_t y;
  const char* x_name;
  const char* w_name;
  const char* y_name;
};

// The checked problem, or BAD_PARAM / NOT_SUPPORTED naming what is wrong.
ConvolutionProblem describe_convolution(const ConvolutionArguments& arguments);

// (oh, ow) of x (*) w under conv; BAD_PARAM when the channels differ or the filter is larger
// than the padded input.
void convolution_output(const cudnnTensorStruct& x, const cudnnFilterStruct& w,
                        const cudnnConvolutionStruct& conv, int* oh, int* ow);

enum class Direction { forward, backward_data, backward_filter };

// One filter tap of forward IMPLICIT_PRECOMP_GEMM's table in the workspace (24 bytes).
struct Tap {
  std::int32_t r, s;
  std::int64_t x_offset, w_offset;
};

// The emulated algorithms (Note [Emulated algorithms] in cudnn_convolution_algorithms.cpp).
bool algorithm_exists(Direction direction, int algo);  // a valid enumerant of the direction
bool algorithm_emulated(Direction direction, int algo);
bool algorithm_is_tensor_op(Direction direction, int algo);
bool algorithm_is_deterministic(Direction direction, int algo);
int algorithm_count(Direction direction);
std::size_t workspace_bytes(Direction direction, int algo, const ConvolutionProblem& p);
// A deterministic model of the time in ms (Note [Modelled times]).
float modelled_milliseconds(Direction direction, int algo, const ConvolutionProblem& p,
                            bool tensor_ops);
// Whether the descriptor's math type lets tensor-op algorithms round to TF32.
bool allows_tensor_ops(cudnnMathType_t math);

// One run: out = alpha * result + beta * out; out is not read when beta == 0.
struct ConvolutionRun {
  const ConvolutionProblem* problem = nullptr;
  int algo = 0;
  const float* a = nullptr;  // forward: x, backward data: dy, backward filter: x
  const float* b = nullptr;  // forward: w, backward data: w, backward filter: dy
  float* out = nullptr;      // forward: y, backward data: dx, backward filter: dw
  void* workspace = nullptr;
  double alpha = 1.0, beta = 0.0;
  bool tf32 = false;  // round both inputs to TF32 before multiplying
};

// cudnn_convolution_arithmetic.cpp; `run.algo` must be an emulated algorithm of the direction.
void run_forward(const ConvolutionRun& run);
void run_backward_data(const ConvolutionRun& run);
void run_backward_filter(const ConvolutionRun& run);
// The forward sum of output (n, k, oy, ox) in double: x's window times filter k, TF32-rounded
// inputs when `tf32` (the graph API's engines, cudnn_backend_execute.cpp, share it).
double forward_output_sum(const ConvolutionProblem& p, const float* x, const float* w, int n,
                          int oy, int ox, int k, bool tf32);

// BAD_PARAM when `algo` is no enumerant of the direction, NOT_SUPPORTED when it is not emulated.
void require_emulated_algorithm(Direction direction, int algo);

// The data arguments of one call, in ConvolutionRun's order (cudnn_convolution.cpp).
struct Operands {
  const void* a = nullptr;
  const void* b = nullptr;
  void* out = nullptr;
};

// BAD_PARAM (and a fault) unless each operand is device memory covering its tensor and the
// workspace (when not empty) covers its size; BAD_PARAM when the output overlaps an input or the
// workspace overlaps an operand (cuDNN convolutions do not work in place).
void require_operands(Direction direction, const ConvolutionProblem& p, const Operands& operands,
                      const void* workspace, std::size_t workspace_size);
std::size_t output_bytes(Direction direction, const ConvolutionProblem& p);
// Runs `algo` (an emulated one) with TF32 as the problem's math type allows for it.
void run_algorithm(Direction direction, const ConvolutionProblem& p, int algo,
                   const Operands& operands, void* workspace, double alpha, double beta);

}  // namespace kiln::emu::cudnn
