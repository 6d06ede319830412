// Algorithm choice for cuDNN convolutions (see cudnn_conv_algorithms.h).
//
// Note [Choosing algorithms]
// ~~~~~~~~~~~~~~~~~~~~~~~~~~
// Choices are kept per geometry without its batch size n (and per TF32 setting and direction).
// The first call of a geometry benchmarks every algorithm with cudnnFind*AlgorithmEx on the
// call's own buffers, with a workspace as large as the hungriest algorithm asks for (capped at
// 1 GiB, halved while the device cannot supply it), and keeps the fastest acceptable one; if none
// is acceptable it falls back to cuDNN's heuristics (cudnnGet*_v7). The Find workspace comes from
// cudaMalloc and goes back with cudaFree right after, outside the caching pool: a one-off block
// of up to 1 GiB left in the cache would split into odd pieces and fragment it for the rest of
// the run (Find synchronises anyway, so cudaFree's synchronisation costs nothing more).
//
// A later call at a batch no larger than the one benchmarked adopts that choice — the same
// algorithm and math type, with the workspace cudnnGet*WorkspaceSize gives for its own n, or, if
// cuDNN cannot run that algorithm at this n, the heuristics' first acceptable answer — without
// synchronising. So in fit the last partial batch, the validation batches and evaluate's
// batches never benchmark mid-epoch; only a batch larger than any seen before benchmarks again
// (and becomes the reference). PyTorch keys its cache by the full shape, n included, and so
// benchmarks again at every new batch size; an algorithm's speed ranking barely changes with n
// for the same geometry, and a benchmark waits for the device, which a captured or steady step
// must not. The benchmark synchronises, so a training loop runs one eager step before capturing
// a CUDA graph. When nothing is acceptable the error lists every result cuDNN gave, so a first
// run on a new GPU or cuDNN says why.
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
    text +=
        fmt::format("{} algo {} status {} ({}) time {:.3f} ms workspace {} B math type {}",
                    i == 0 ? ":" : ",", static_cast<int>(r.algo), static_cast<int>(r.status),
                    cudnnGetErrorString(r.status), r.time, r.memory, static_cast<int>(r.mathType));
  }
  return text;
}

// Device memory for one Find, outside the caching pool (Note [Choosing algorithms]).
class FindWorkspace {
 public:
  // The largest buffer up to `bytes` the device can supply now: on out-of-memory the pool's
  // cache is given back and the request retried, then halved. Any other failure is an error.
  FindWorkspace(Allocator& pool, std::size_t bytes) {
    bool emptied = false;
    while (bytes > 0) {
      const cudaError_t status = cudaMalloc(&data_, bytes);
      if (status == cudaSuccess) {
        bytes_ = bytes;
        return;
      }
      data_ = nullptr;
      KILN_CHECK(status == cudaErrorMemoryAllocation,
                 "cudaMalloc of a {}-byte cuDNN Find workspace failed: {}", bytes,
                 cudaGetErrorString(status));
      (void)cudaGetLastError();  // the out-of-memory answer is handled here
      if (!emptied) {
        pool.empty_cache();
        emptied = true;
      } else {
        bytes /= 2;
      }
    }
  }
  ~FindWorkspace() {
    if (data_ != nullptr) (void)cudaFree(data_);
  }
  FindWorkspace(const FindWorkspace&) = delete;
  FindWorkspace& operator=(const FindWorkspace&) = delete;

  void* get() const { return data_; }
  std::size_t bytes() const { return bytes_; }

 private:
  void* data_ = nullptr;
  std::size_t bytes_ = 0;
};

template <class Traits>
const typename Traits::Perf* guess(cudnnHandle_t handle, const ConvDescriptors& d,
                                   cudnnConvolutionDescriptor_t probe,
                                   std::array<typename Traits::Perf, Traits::kCount>& guessed,
                                   int& count) {
  CHECK_CUDNN(Traits::heuristics(handle, d, probe, &count, guessed.data()));
  return first_acceptable(guessed.data(), count, d.tf32, std::numeric_limits<std::size_t>::max());
}

// The choice of running `algo` with `math` on plan `d`; false when cuDNN cannot.
template <class Traits>
bool runnable(cudnnHandle_t handle, const ConvDescriptors& d, int algo, cudnnMathType_t math,
              std::size_t at_least, AlgoChoice& choice) {
  choice.algo = algo;
  choice.math = d.tf32 ? math : CUDNN_FMA_MATH;
  choice.conv = d.convolution(choice.math);
  std::size_t bytes = 0;
  if (Traits::workspace(handle, d, choice.conv.get(), static_cast<typename Traits::Algo>(algo),
                        &bytes) != CUDNN_STATUS_SUCCESS) {
    return false;
  }
  choice.workspace = std::max(bytes, at_least);
  return true;
}

template <class Traits>
AlgoChoice choose(cudnnHandle_t handle, const ConvDescriptors& d, Allocator& pool,
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
    const FindWorkspace workspace(pool, std::min(hungriest, kMaxFindWorkspace));
    workspace_bytes = workspace.bytes();
    find(probe.get(), workspace.get(), workspace.bytes(), found.data(), &found_count);
  }
  const typename Traits::Perf* pick =
      first_acceptable(found.data(), found_count, d.tf32, workspace_bytes);
  std::array<typename Traits::Perf, Traits::kCount> guessed{};
  int guessed_count = 0;
  if (pick == nullptr) pick = guess<Traits>(handle, d, probe.get(), guessed, guessed_count);
  KILN_CHECK(pick != nullptr, "cuDNN offers no {} convolution algorithm for {} (TF32 {}){}{}",
             Traits::kName, describe(d.g), d.tf32 ? "on" : "off",
             perf_table("Find", found.data(), found_count),
             perf_table("the heuristics", guessed.data(), guessed_count));
  AlgoChoice choice;
  KILN_CHECK(runnable<Traits>(handle, d, static_cast<int>(pick->algo), pick->mathType, pick->memory,
                              choice),
             "cuDNN gives no workspace size for the {} convolution algorithm {} it offered for {}",
             Traits::kName, static_cast<int>(pick->algo), describe(d.g));
  return choice;
}

template <class Traits>
AlgoChoice adopt(cudnnHandle_t handle, const ConvDescriptors& d, const AlgoChoice& found) {
  AlgoChoice choice;
  if (runnable<Traits>(handle, d, found.algo, found.math, 0, choice)) return choice;
  const ConvolutionDescriptor probe = d.convolution(d.tf32 ? CUDNN_DEFAULT_MATH : CUDNN_FMA_MATH);
  std::array<typename Traits::Perf, Traits::kCount> guessed{};
  int guessed_count = 0;
  const typename Traits::Perf* pick = guess<Traits>(handle, d, probe.get(), guessed, guessed_count);
  KILN_CHECK(pick != nullptr && runnable<Traits>(handle, d, static_cast<int>(pick->algo),
                                                 pick->mathType, pick->memory, choice),
             "cuDNN cannot run {} convolution algorithm {} for {} (TF32 {}), and its heuristics "
             "offer no other{}",
             Traits::kName, found.algo, describe(d.g), d.tf32 ? "on" : "off",
             perf_table("the heuristics", guessed.data(), guessed_count));
  return choice;
}

template <template <class> class Fn, class... Args>
AlgoChoice by_direction(ConvDirection direction, Args&&... args) {
  switch (direction) {
    case ConvDirection::forward: return Fn<ForwardTraits>::run(std::forward<Args>(args)...);
    case ConvDirection::backward_data:
      return Fn<BackwardDataTraits>::run(std::forward<Args>(args)...);
    case ConvDirection::backward_filter:
      return Fn<BackwardFilterTraits>::run(std::forward<Args>(args)...);
  }
  fail("unknown convolution direction {}", static_cast<int>(direction));
}

template <class Traits>
struct Choose {
  static AlgoChoice run(cudnnHandle_t h, const ConvDescriptors& d, Allocator& pool,
                        const FindAlgorithms& find) {
    return choose<Traits>(h, d, pool, find);
  }
};

template <class Traits>
struct Adopt {
  static AlgoChoice run(cudnnHandle_t h, const ConvDescriptors& d, const AlgoChoice& found) {
    return adopt<Traits>(h, d, found);
  }
};

}  // namespace

ConvolutionDescriptor ConvDescriptors::convolution(cudnnMathType_t math) const {
  ConvolutionDescriptor conv;
  CHECK_CUDNN(cudnnSetConvolution2dDescriptor(
      conv.get(), to_int(pad_h, "padding"), to_int(pad_w, "padding"), to_int(g.stride_h, "stride"),
      to_int(g.stride_w, "stride"), 1, 1, CUDNN_CROSS_CORRELATION, CUDNN_DATA_FLOAT));
  CHECK_CUDNN(cudnnSetConvolutionMathType(conv.get(), math));
  return conv;
}

AlgoChoice choose_algorithm(ConvDirection direction, cudnnHandle_t handle, const ConvDescriptors& d,
                            Allocator& pool, const FindAlgorithms& find) {
  return by_direction<Choose>(direction, handle, d, pool, find);
}

AlgoChoice adopt_algorithm(ConvDirection direction, cudnnHandle_t handle, const ConvDescriptors& d,
                           const AlgoChoice& found) {
  return by_direction<Adopt>(direction, handle, d, found);
}

std::string describe(const backend::Conv2dGeometry& g) {
  return fmt::format(
      "x (n={}, h={}, w={}, c={}), kernel {}x{}x{}x{}, output {}x{}, stride {}x{}, "
      "pad top/left {}/{}",
      g.n, g.h, g.w, g.c, g.kh, g.kw, g.c, g.o, g.oh, g.ow, g.stride_h, g.stride_w, g.pad_top,
      g.pad_left);
}

}  // namespace kiln::cuda
