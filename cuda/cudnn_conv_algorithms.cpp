// Algorithm choice for cuDNN convolutions (see cudnn_conv_algorithms.h).
//
// Note [Choosing algorithms]
// ~~~~~~~~~~~~~~~~~~~~~~~~~~
// The first call for a (geometry, TF32) pair benchmarks every algorithm with
// cudnnFind*AlgorithmEx on the call's own buffers, with a workspace as large as the hungriest
// algorithm asks for (capped at 1 GiB, halved while the pool cannot supply it), and keeps the
// fastest acceptable one; if none is acceptable it falls back to cuDNN's heuristics
// (cudnnGet*_v7). Later calls only look the choice up. The benchmark synchronises, so a training
// loop should run one eager step before capturing a CUDA graph. When nothing is acceptable the
// error lists every result cuDNN gave, so a first run on a new GPU or cuDNN says why.
//
// Note [TF32]
// ~~~~~~~~~~~
// With TF32 allowed the descriptor asks for CUDNN_DEFAULT_MATH, under which cuDNN may use TF32
// tensor cores for f32 data, and each chosen algorithm runs with the math type that Find reported
// for it (cuDNN needs both to pick the same kernel). With TF32 off the descriptor asks for
// CUDNN_FMA_MATH and any result that is not a tensor-op one is accepted — cuDNN may report
// CUDNN_DEFAULT_MATH rather than CUDNN_FMA_MATH for an FMA kernel — and it runs with an FMA math
// descriptor, so no tensor-core rounding can slip in. This is PyTorch's scheme (allow_tf32 for
// cuDNN).
#include "cudnn_conv_algorithms.h"

#include <algorithm>
#include <array>
#include <limits>

#include "core/check.h"
#include "device_buffer.h"
#include "kiln/error.h"

namespace kiln::cuda {

namespace {

constexpr std::size_t kMaxFindWorkspace = std::size_t{1} << 30;

// The three directions, told apart by traits so one search routine serves them all.
struct ForwardTraits {
  using Perf = cudnnConvolutionFwdAlgoPerf_t;
  using Algo = cudnnConvolutionFwdAlgo_t;
  static constexpr int kCount = CUDNN_CONVOLUTION_FWD_ALGO_COUNT;
  static constexpr const char* kName = "forward";
  static cudnnStatus_t workspace(cudnnHandle_t h, const ConvDescriptors& d,
                                 cudnnConvolutionDescriptor_t c, Algo algo, std::size_t* bytes) {
    return cudnnGetConvolutionForwardWorkspaceSize(h, d.x.get(), d.w.get(), c, d.y.get(), algo,
                                                   bytes);
  }
  static cudnnStatus_t heuristics(cudnnHandle_t h, const ConvDescriptors& d,
                                  cudnnConvolutionDescriptor_t c, int* returned, Perf* perf) {
    return cudnnGetConvolutionForwardAlgorithm_v7(h, d.x.get(), d.w.get(), c, d.y.get(), kCount,
                                                  returned, perf);
  }
};

struct BackwardDataTraits {
  using Perf = cudnnConvolutionBwdDataAlgoPerf_t;
  using Algo = cudnnConvolutionBwdDataAlgo_t;
  static constexpr int kCount = CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT;
  static constexpr const char* kName = "backward-data";
  static cudnnStatus_t workspace(cudnnHandle_t h, const ConvDescriptors& d,
                                 cudnnConvolutionDescriptor_t c, Algo algo, std::size_t* bytes) {
    return cudnnGetConvolutionBackwardDataWorkspaceSize(h, d.w.get(), d.y.get(), c, d.x.get(), algo,
                                                        bytes);
  }
  static cudnnStatus_t heuristics(cudnnHandle_t h, const ConvDescriptors& d,
                                  cudnnConvolutionDescriptor_t c, int* returned, Perf* perf) {
    return cudnnGetConvolutionBackwardDataAlgorithm_v7(h, d.w.get(), d.y.get(), c, d.x.get(),
                                                       kCount, returned, perf);
  }
};

struct BackwardFilterTraits {
  using Perf = cudnnConvolutionBwdFilterAlgoPerf_t;
  using Algo = cudnnConvolutionBwdFilterAlgo_t;
  static constexpr int kCount = CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT;
  static constexpr const char* kName = "backward-filter";
  static cudnnStatus_t workspace(cudnnHandle_t h, const ConvDescriptors& d,
                                 cudnnConvolutionDescriptor_t c, Algo algo, std::size_t* bytes) {
    return cudnnGetConvolutionBackwardFilterWorkspaceSize(h, d.x.get(), d.y.get(), c, d.w.get(),
                                                          algo, bytes);
  }
  static cudnnStatus_t heuristics(cudnnHandle_t h, const ConvDescriptors& d,
                                  cudnnConvolutionDescriptor_t c, int* returned, Perf* perf) {
    return cudnnGetConvolutionBackwardFilterAlgorithm_v7(h, d.x.get(), d.y.get(), c, d.w.get(),
                                                         kCount, returned, perf);
  }
};

bool tensor_op(cudnnMathType_t math) {
  return math == CUDNN_TENSOR_OP_MATH || math == CUDNN_TENSOR_OP_MATH_ALLOW_CONVERSION;
}

// Note [TF32]: the first result (fastest first) that ran, fits and respects the TF32 setting.
template <class Perf>
const Perf* first_acceptable(const Perf* perf, int count, bool tf32, std::size_t workspace) {
  for (int i = 0; i < count; ++i) {
    const Perf& r = perf[i];
    if (r.status == CUDNN_STATUS_SUCCESS && r.memory <= workspace &&
        (tf32 || !tensor_op(r.mathType))) {
      return &r;
    }
  }
  return nullptr;
}

template <class Perf>
std::string perf_table(const char* source, const Perf* perf, int count) {
  std::string text = fmt::format("; {} returned {} result(s)", source, count);
  for (int i = 0; i < count; ++i) {
    const Perf& r = perf[i];
    text += fmt::format("{} algo {} status {} ({}) time {:.3f} ms workspace {} B math type {}",
                        i == 0 ? ":" : ",", static_cast<int>(r.algo), static_cast<int>(r.status),
                        cudnnGetErrorString(r.status), r.time, r.memory,
                        static_cast<int>(r.mathType));
  }
  return text;
}

// The largest buffer up to `bytes` that the pool can supply now (halving while it is out of
// memory; any other failure is an error, not a smaller workspace).
DeviceBuffer borrow_up_to(Allocator& allocator, std::size_t bytes) {
  while (bytes > 0) {
    try {
      return DeviceBuffer(allocator, bytes);
    } catch (const OutOfMemoryError&) {
      bytes /= 2;
    }
  }
  return DeviceBuffer();
}

template <class Traits>
AlgoChoice choose(cudnnHandle_t handle, const ConvDescriptors& d, Allocator& allocator,
                  const FindAlgorithms& find) {
  const ConvolutionDescriptor probe = d.convolution(d.tf32 ? CUDNN_DEFAULT_MATH : CUDNN_FMA_MATH);
  std::size_t hungriest = 0;
  for (int a = 0; a < Traits::kCount; ++a) {
    std::size_t bytes = 0;
    if (Traits::workspace(handle, d, probe.get(), static_cast<typename Traits::Algo>(a), &bytes) ==
        CUDNN_STATUS_SUCCESS) {
      hungriest = std::max(hungriest, bytes);
    }
  }
  std::array<typename Traits::Perf, Traits::kCount> found{};
  int found_count = 0;
  std::size_t workspace_bytes = 0;
  {
    const DeviceBuffer workspace = borrow_up_to(allocator, std::min(hungriest, kMaxFindWorkspace));
    workspace_bytes = workspace.bytes();
    find(probe.get(), workspace, found.data(), &found_count);
  }
  const typename Traits::Perf* pick =
      first_acceptable(found.data(), found_count, d.tf32, workspace_bytes);
  std::array<typename Traits::Perf, Traits::kCount> guessed{};
  int guessed_count = 0;
  if (pick == nullptr) {
    CHECK_CUDNN(Traits::heuristics(handle, d, probe.get(), &guessed_count, guessed.data()));
    pick = first_acceptable(guessed.data(), guessed_count, d.tf32,
                            std::numeric_limits<std::size_t>::max());
  }
  KILN_CHECK(pick != nullptr, "cuDNN offers no {} convolution algorithm for {} (TF32 {}){}{}",
             Traits::kName, describe(d.g), d.tf32 ? "on" : "off",
             perf_table("Find", found.data(), found_count),
             perf_table("the heuristics", guessed.data(), guessed_count));
  AlgoChoice choice;
  choice.algo = static_cast<int>(pick->algo);
  choice.conv = d.convolution(d.tf32 ? pick->mathType : CUDNN_FMA_MATH);
  std::size_t bytes = 0;
  CHECK_CUDNN(Traits::workspace(handle, d, choice.conv.get(), pick->algo, &bytes));
  choice.workspace = std::max(bytes, pick->memory);
  return choice;
}

}  // namespace

ConvolutionDescriptor ConvDescriptors::convolution(cudnnMathType_t math) const {
  ConvolutionDescriptor conv;
  CHECK_CUDNN(cudnnSetConvolution2dDescriptor(
      conv.get(), to_int(pad_h, "padding"), to_int(pad_w, "padding"), to_int(g.stride_h, "stride"),
      to_int(g.stride_w, "stride"), 1, 1, CUDNN_CROSS_CORRELATION, CUDNN_DATA_FLOAT));
  CHECK_CUDNN(cudnnSetConvolutionMathType(conv.get(), math));
  return conv;
}

AlgoChoice choose_algorithm(ConvDirection direction, cudnnHandle_t handle,
                            const ConvDescriptors& d, Allocator& allocator,
                            const FindAlgorithms& find) {
  switch (direction) {
    case ConvDirection::forward: return choose<ForwardTraits>(handle, d, allocator, find);
    case ConvDirection::backward_data:
      return choose<BackwardDataTraits>(handle, d, allocator, find);
    case ConvDirection::backward_filter:
      return choose<BackwardFilterTraits>(handle, d, allocator, find);
  }
  fail("unknown convolution direction {}", static_cast<int>(direction));
}

std::string describe(const backend::Conv2dGeometry& g) {
  return fmt::format(
      "x (n={}, h={}, w={}, c={}), kernel {}x{}x{}x{}, output {}x{}, stride {}x{}, "
      "pad top/left {}/{}",
      g.n, g.h, g.w, g.c, g.kh, g.kw, g.c, g.o, g.oh, g.ow, g.stride_h, g.stride_w, g.pad_top,
      g.pad_left);
}

}  // namespace kiln::cuda
