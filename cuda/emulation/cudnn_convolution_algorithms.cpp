// The cuDNN stand-in's convolution algorithms (cudnn_convolution.h): which exist per direction,
// their workspace sizes, tensor-op flags and modelled times. Their arithmetic is in
// cudnn_convolution_arithmetic.cpp.
//
// Note [Emulated algorithms]
// ~~~~~~~~~~~~~~~~~~~~~~~~~~
// Each direction has a few algorithms that really compute in different ways and really use their
// workspace, so that kiln's Find / workspace / math-type plumbing runs as on a GPU
// (pixels = n * oh * ow, taps = r * s * c):
//   forward          IMPLICIT_GEMM           no workspace             direct loops
//                    IMPLICIT_PRECOMP_GEMM   taps * 24 bytes          a table of filter taps (row,
//                                                                     column, x and w offsets)
//                                                                     written to and read from the
//                                                                     workspace       [tensor-op]
//                    GEMM                    pixels * taps * 4 bytes  im2col buffer, then a GEMM
//   backward data    ALGO_0                  no workspace             gathers dy per dx element
//                    ALGO_1                  pixels * taps * 8 bytes  column gradient dy * w (in
//                                                                     double), then col2im
//                                                                     [tensor-op]
//   backward filter  ALGO_0                  no workspace             direct loops
//                    ALGO_1                  pixels * taps * 4 bytes  im2col buffer, then dy^T * it
//                                                                     [tensor-op]
// Every other algorithm is NOT_SUPPORTED. A tensor-op algorithm rounds both of its inputs to TF32
// when the descriptor's math type allows tensor ops (CUDNN_DEFAULT_MATH, CUDNN_TENSOR_OP_MATH*),
// as cuDNN's tensor-core kernels do; under CUDNN_FMA_MATH it computes exactly.
//
// Note [Modelled times]
// ~~~~~~~~~~~~~~~~~~~~~
// Find reports a modelled time, never a measured one, so results are deterministic: a fixed launch
// cost, plus the multiply-adds times a per-algorithm cost (a quarter of it for a tensor-op
// algorithm when tensor ops are allowed), plus the workspace bytes moved. With tensor ops allowed
// the tensor-op algorithm is thus the fastest of its direction for every shape (its saving on the
// multiply-adds exceeds the cost of its workspace); otherwise the order depends on the shape.
#include <span>

#include "cudnn_convolution.h"

namespace kiln::emu::cudnn {

namespace {

struct AlgorithmSpec {
  int algo;
  bool tensor_op;
  double cost;  // relative time per multiply-add (Note [Modelled times])
};

constexpr AlgorithmSpec kForward[] = {
    {CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_GEMM, false, 1.6},
    {CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_PRECOMP_GEMM, true, 1.0},
    {CUDNN_CONVOLUTION_FWD_ALGO_GEMM, false, 1.2},
};
constexpr AlgorithmSpec kBackwardData[] = {
    {CUDNN_CONVOLUTION_BWD_DATA_ALGO_0, false, 1.5},
    {CUDNN_CONVOLUTION_BWD_DATA_ALGO_1, true, 1.0},
};
constexpr AlgorithmSpec kBackwardFilter[] = {
    {CUDNN_CONVOLUTION_BWD_FILTER_ALGO_0, false, 1.5},
    {CUDNN_CONVOLUTION_BWD_FILTER_ALGO_1, true, 1.0},
};

std::span<const AlgorithmSpec> specs(Direction direction) {
  switch (direction) {
    case Direction::forward: return kForward;
    case Direction::backward_data: return kBackwardData;
    case Direction::backward_filter: return kBackwardFilter;
  }
  return {};
}

const AlgorithmSpec* find_spec(Direction direction, int algo) {
  for (const AlgorithmSpec& spec : specs(direction)) {
    if (spec.algo == algo) return &spec;
  }
  return nullptr;
}

}  // namespace

bool algorithm_exists(Direction direction, int algo) {
  return algo >= 0 && algo < algorithm_count(direction);
}

bool algorithm_emulated(Direction direction, int algo) {
  return find_spec(direction, algo) != nullptr;
}

bool algorithm_is_tensor_op(Direction direction, int algo) {
  const AlgorithmSpec* spec = find_spec(direction, algo);
  return spec != nullptr && spec->tensor_op;
}

// cuDNN documents the ALGO_0 of both backward directions as non-deterministic.
bool algorithm_is_deterministic(Direction direction, int algo) {
  return direction == Direction::forward || algo != 0;
}

int algorithm_count(Direction direction) {
  switch (direction) {
    case Direction::forward: return CUDNN_CONVOLUTION_FWD_ALGO_COUNT;
    case Direction::backward_data: return CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT;
    case Direction::backward_filter: return CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT;
  }
  return 0;
}

std::size_t workspace_bytes(Direction direction, int algo, const ConvolutionProblem& p) {
  const auto columns = static_cast<std::size_t>(p.output_pixels() * p.taps());
  switch (direction) {
    case Direction::forward:
      if (algo == CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_PRECOMP_GEMM) {
        return static_cast<std::size_t>(p.taps()) * sizeof(Tap);
      }
      return algo == CUDNN_CONVOLUTION_FWD_ALGO_GEMM ? columns * sizeof(float) : 0;
    case Direction::backward_data:
      return algo == CUDNN_CONVOLUTION_BWD_DATA_ALGO_1 ? columns * sizeof(double) : 0;
    case Direction::backward_filter:
      return algo == CUDNN_CONVOLUTION_BWD_FILTER_ALGO_1 ? columns * sizeof(float) : 0;
  }
  return 0;
}

float modelled_milliseconds(Direction direction, int algo, const ConvolutionProblem& p,
                            bool tensor_ops) {
  const AlgorithmSpec* spec = find_spec(direction, algo);
  const double multiply_adds = static_cast<double>(p.output_pixels()) * p.k * p.taps();
  const double speedup = spec->tensor_op && tensor_ops ? 4.0 : 1.0;
  const double bytes = static_cast<double>(workspace_bytes(direction, algo, p));
  return static_cast<float>(0.005 + spec->cost * multiply_adds * 1e-8 / speedup + bytes * 1e-10);
}

bool allows_tensor_ops(cudnnMathType_t math) { return math != CUDNN_FMA_MATH; }

}  // namespace kiln::emu::cudnn
