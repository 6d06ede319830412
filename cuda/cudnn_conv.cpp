// cuDNN convolutions in kiln's layouts (see cudnn_conv.h).
//
// Note [HWIO filters]
// ~~~~~~~~~~~~~~~~~~~
// kiln keeps conv kernels HWIO (kh, kw, c, o), as Keras and its HDF5 files do. cuDNN's filter
// formats are NCHW (o, c, kh, kw) and "NHWC" (o, kh, kw, c); it has no HWIO. Viewed as a matrix,
// HWIO is (kh*kw*c, o) and OHWI is (o, kh*kw*c), so one 2-D transpose converts each way: the
// weights are transposed into a pool buffer before forward / backward-data, and backward-filter
// writes OHWI into a pool buffer that is transposed back into dw. Kernels are small (a few hundred
// KB at most for the models kiln trains), so this costs microseconds.
//
// Note [Asymmetric padding]
// ~~~~~~~~~~~~~~~~~~~~~~~~~
// The legacy cuDNN API pads both sides of an axis equally, while kiln's geometry (Keras 'same')
// may pad the bottom / right more than the top / left (even kernels, strides > 1). When cuDNN's
// symmetric padding by (pad_top, pad_left) yields exactly kiln's output size, the two agree on
// every tap that is read, and cuDNN runs on x directly. Otherwise x is copied into a zero-padded
// buffer of ((oh-1)*stride_h + kh, (ow-1)*stride_w + kw) pixels, offset by (pad_top, pad_left),
// and cuDNN runs unpadded on it; backward-data computes the padded gradient and crops it back,
// backward-filter reads the padded copy. (The padded extent may be smaller than h + pads when the
// last rows are never read; the copy handles either case.)
//
// Note [Choosing algorithms]
// ~~~~~~~~~~~~~~~~~~~~~~~~~~
// The first call for a (geometry, TF32) pair benchmarks every algorithm with
// cudnnFind*AlgorithmEx on the call's own buffers, with a workspace as large as the hungriest
// algorithm asks for (capped at 1 GiB, halved while the pool cannot supply it), and keeps the
// fastest acceptable one; if none is acceptable it falls back to cuDNN's heuristics
// (cudnnGet*_v7). Later calls only look the choice up. The benchmark synchronises, so a training
// loop should run one eager step before capturing a CUDA graph.
//
// Note [TF32]
// ~~~~~~~~~~~
// With TF32 allowed the descriptor asks for CUDNN_DEFAULT_MATH, under which cuDNN may use TF32
// tensor cores for f32 data, and each chosen algorithm runs with the math type that Find reported
// for it (cuDNN needs both to pick the same kernel). With TF32 off the descriptor asks for
// CUDNN_FMA_MATH and only results whose math type is CUDNN_FMA_MATH are accepted, so no
// tensor-core rounding can slip in. This is PyTorch's scheme (allow_tf32 for cuDNN).
#include "cudnn_conv.h"

#include <algorithm>
#include <array>
#include <limits>
#include <optional>

#include "core/check.h"
#include "cuda_api.h"
#include "cudnn_resources.h"
#include "device_buffer.h"
#include "device_guard.h"
#include "kernels/layout.cuh"

namespace kiln::cuda {

namespace {

constexpr std::size_t kMaxFindWorkspace = std::size_t{1} << 30;
constexpr float kOne = 1.0f;
constexpr float kZero = 0.0f;

struct AlgoChoice {
  int algo = 0;
  std::size_t workspace = 0;
  ConvolutionDescriptor conv;  // carries the math type the algorithm was chosen with
};

std::string describe(const backend::Conv2dGeometry& g) {
  return fmt::format(
      "x (n={}, h={}, w={}, c={}), kernel {}x{}x{}x{}, output {}x{}, stride {}x{}, "
      "pad top/left {}/{}",
      g.n, g.h, g.w, g.c, g.kh, g.kw, g.c, g.o, g.oh, g.ow, g.stride_h, g.stride_w, g.pad_top,
      g.pad_left);
}

// Note [Asymmetric padding]: can cuDNN's symmetric padding reproduce this geometry?
bool symmetric_padding_matches(const backend::Conv2dGeometry& g) {
  const auto fits = [](std::int64_t in, std::int64_t pad, std::int64_t k, std::int64_t stride,
                       std::int64_t out) {
    return pad >= 0 && in + 2 * pad >= k && (in + 2 * pad - k) / stride + 1 == out;
  };
  return fits(g.h, g.pad_top, g.kh, g.stride_h, g.oh) &&
         fits(g.w, g.pad_left, g.kw, g.stride_w, g.ow);
}

bool degenerate(const backend::Conv2dGeometry& g) {
  return g.n == 0 || g.h == 0 || g.w == 0 || g.c == 0 || g.kh == 0 || g.kw == 0 || g.o == 0 ||
         g.oh == 0 || g.ow == 0;
}

// The largest buffer up to `bytes` that the pool can supply now (halving on out-of-memory).
DeviceBuffer borrow_up_to(Allocator& allocator, std::size_t bytes) {
  while (bytes > 0) {
    try {
      return DeviceBuffer(allocator, bytes);
    } catch (const Error&) {
      bytes /= 2;
    }
  }
  return DeviceBuffer();
}

}  // namespace

struct Convolutions::Plan {
  backend::Conv2dGeometry g;
  bool tf32 = true;
  bool padded = false;                // Note [Asymmetric padding]
  std::int64_t in_h = 0, in_w = 0;    // the input cuDNN sees
  std::int64_t pad_h = 0, pad_w = 0;  // cuDNN's symmetric padding
  TensorDescriptor x, y;
  FilterDescriptor w;
  std::optional<AlgoChoice> forward, backward_data, backward_filter;

  ConvolutionDescriptor convolution(cudnnMathType_t math) const {
    ConvolutionDescriptor conv;
    CHECK_CUDNN(cudnnSetConvolution2dDescriptor(
        conv.get(), to_int(pad_h, "padding"), to_int(pad_w, "padding"),
        to_int(g.stride_h, "stride"), to_int(g.stride_w, "stride"), 1, 1, CUDNN_CROSS_CORRELATION,
        CUDNN_DATA_FLOAT));
    CHECK_CUDNN(cudnnSetConvolutionMathType(conv.get(), math));
    return conv;
  }
};

namespace {

using Plan = Convolutions::Plan;

// The three directions, told apart by traits so one search routine serves them all.
struct ForwardTraits {
  using Perf = cudnnConvolutionFwdAlgoPerf_t;
  using Algo = cudnnConvolutionFwdAlgo_t;
  static constexpr int kCount = CUDNN_CONVOLUTION_FWD_ALGO_COUNT;
  static constexpr const char* kName = "forward";
  static cudnnStatus_t workspace(cudnnHandle_t h, const Plan& p, cudnnConvolutionDescriptor_t c,
                                 Algo algo, std::size_t* bytes) {
    return cudnnGetConvolutionForwardWorkspaceSize(h, p.x.get(), p.w.get(), c, p.y.get(), algo,
                                                   bytes);
  }
  static cudnnStatus_t heuristics(cudnnHandle_t h, const Plan& p, cudnnConvolutionDescriptor_t c,
                                  int* returned, Perf* perf) {
    return cudnnGetConvolutionForwardAlgorithm_v7(h, p.x.get(), p.w.get(), c, p.y.get(), kCount,
                                                  returned, perf);
  }
};

struct BackwardDataTraits {
  using Perf = cudnnConvolutionBwdDataAlgoPerf_t;
  using Algo = cudnnConvolutionBwdDataAlgo_t;
  static constexpr int kCount = CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT;
  static constexpr const char* kName = "backward-data";
  static cudnnStatus_t workspace(cudnnHandle_t h, const Plan& p, cudnnConvolutionDescriptor_t c,
                                 Algo algo, std::size_t* bytes) {
    return cudnnGetConvolutionBackwardDataWorkspaceSize(h, p.w.get(), p.y.get(), c, p.x.get(), algo,
                                                        bytes);
  }
  static cudnnStatus_t heuristics(cudnnHandle_t h, const Plan& p, cudnnConvolutionDescriptor_t c,
                                  int* returned, Perf* perf) {
    return cudnnGetConvolutionBackwardDataAlgorithm_v7(h, p.w.get(), p.y.get(), c, p.x.get(),
                                                       kCount, returned, perf);
  }
};

struct BackwardFilterTraits {
  using Perf = cudnnConvolutionBwdFilterAlgoPerf_t;
  using Algo = cudnnConvolutionBwdFilterAlgo_t;
  static constexpr int kCount = CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT;
  static constexpr const char* kName = "backward-filter";
  static cudnnStatus_t workspace(cudnnHandle_t h, const Plan& p, cudnnConvolutionDescriptor_t c,
                                 Algo algo, std::size_t* bytes) {
    return cudnnGetConvolutionBackwardFilterWorkspaceSize(h, p.x.get(), p.y.get(), c, p.w.get(),
                                                          algo, bytes);
  }
  static cudnnStatus_t heuristics(cudnnHandle_t h, const Plan& p, cudnnConvolutionDescriptor_t c,
                                  int* returned, Perf* perf) {
    return cudnnGetConvolutionBackwardFilterAlgorithm_v7(h, p.x.get(), p.y.get(), c, p.w.get(),
                                                         kCount, returned, perf);
  }
};

// Note [TF32]: the first result (fastest first) that ran, fits and respects the TF32 setting.
template <class Perf>
const Perf* first_acceptable(const Perf* perf, int count, bool tf32, std::size_t workspace) {
  for (int i = 0; i < count; ++i) {
    const Perf& r = perf[i];
    if (r.status == CUDNN_STATUS_SUCCESS && r.memory <= workspace &&
        (tf32 || r.mathType == CUDNN_FMA_MATH)) {
      return &r;
    }
  }
  return nullptr;
}

// Note [Choosing algorithms]. `find(conv, workspace, perf, returned)` runs cudnnFind*Ex.
template <class Traits, class Find>
AlgoChoice choose(cudnnHandle_t handle, const Plan& plan, Allocator& allocator, Find&& find) {
  const ConvolutionDescriptor probe =
      plan.convolution(plan.tf32 ? CUDNN_DEFAULT_MATH : CUDNN_FMA_MATH);
  std::size_t hungriest = 0;
  for (int a = 0; a < Traits::kCount; ++a) {
    std::size_t bytes = 0;
    if (Traits::workspace(handle, plan, probe.get(), static_cast<typename Traits::Algo>(a),
                          &bytes) == CUDNN_STATUS_SUCCESS) {
      hungriest = std::max(hungriest, bytes);
    }
  }
  const DeviceBuffer workspace = borrow_up_to(allocator, std::min(hungriest, kMaxFindWorkspace));
  std::array<typename Traits::Perf, Traits::kCount> perf{};
  int returned = 0;
  find(probe.get(), workspace, perf.data(), &returned);
  const typename Traits::Perf* pick =
      first_acceptable(perf.data(), returned, plan.tf32, workspace.bytes());
  if (pick == nullptr) {
    CHECK_CUDNN(Traits::heuristics(handle, plan, probe.get(), &returned, perf.data()));
    pick =
        first_acceptable(perf.data(), returned, plan.tf32, std::numeric_limits<std::size_t>::max());
  }
  KILN_CHECK(pick != nullptr, "cuDNN offers no {} convolution algorithm for {} (TF32 {})",
             Traits::kName, describe(plan.g), plan.tf32 ? "on" : "off");
  AlgoChoice choice;
  choice.algo = static_cast<int>(pick->algo);
  choice.conv = plan.convolution(plan.tf32 ? pick->mathType : CUDNN_FMA_MATH);
  std::size_t bytes = 0;
  CHECK_CUDNN(Traits::workspace(handle, plan, choice.conv.get(), pick->algo, &bytes));
  choice.workspace = std::max(bytes, pick->memory);
  return choice;
}

std::int64_t filter_rows(const backend::Conv2dGeometry& g) { return g.kh * g.kw * g.c; }

}  // namespace

Convolutions::Convolutions(int device, cudaStream_t stream, Allocator& allocator)
    : device_(device), stream_(stream), allocator_(allocator) {}

Convolutions::~Convolutions() = default;

Convolutions::Plan& Convolutions::plan_for(const backend::Conv2dGeometry& g, bool tf32) {
  const std::array<std::int64_t, 14> key = {
      g.n,  g.h,  g.w,        g.c,        g.kh,      g.kw,       g.o,
      g.oh, g.ow, g.stride_h, g.stride_w, g.pad_top, g.pad_left, tf32 ? 1 : 0};
  std::lock_guard lock(mutex_);
  auto& slot = plans_[key];
  if (slot == nullptr) {
    auto plan = std::make_unique<Plan>();
    plan->g = g;
    plan->tf32 = tf32;
    plan->padded = !symmetric_padding_matches(g);
    if (plan->padded) {
      plan->in_h = (g.oh - 1) * g.stride_h + g.kh;
      plan->in_w = (g.ow - 1) * g.stride_w + g.kw;
    } else {
      plan->in_h = g.h;
      plan->in_w = g.w;
      plan->pad_h = g.pad_top;
      plan->pad_w = g.pad_left;
    }
    set_nhwc(plan->x, g.n, plan->in_h, plan->in_w, g.c);
    set_nhwc(plan->y, g.n, g.oh, g.ow, g.o);
    set_ohwi(plan->w, g.o, g.kh, g.kw, g.c);
    slot = std::move(plan);
  }
  return *slot;
}

void Convolutions::forward(const backend::Conv2dGeometry& g, const float* x, const float* w,
                           float* y) {
  DeviceGuard guard(device_);
  const std::size_t y_bytes = static_cast<std::size_t>(g.n * g.oh * g.ow * g.o) * sizeof(float);
  if (degenerate(g)) {
    CHECK_CUDA(cudaMemsetAsync(y, 0, y_bytes, stream_));
    return;
  }
  Plan& plan = plan_for(g, tf32_enabled());
  cudnnHandle_t handle = cudnn_handle(device_, stream_);
  // Note [HWIO filters]
  DeviceBuffer filter(allocator_, static_cast<std::size_t>(filter_rows(g) * g.o) * sizeof(float));
  kernels::transpose(w, filter.as<float>(), filter_rows(g), g.o, stream_);
  DeviceBuffer padded;
  const float* input = x;
  if (plan.padded) {  // Note [Asymmetric padding]
    padded = DeviceBuffer(
        allocator_, static_cast<std::size_t>(g.n * plan.in_h * plan.in_w * g.c) * sizeof(float));
    kernels::shift_window(x, g.n, g.h, g.w, g.c, padded.as<float>(), plan.in_h, plan.in_w,
                          -g.pad_top, -g.pad_left, stream_);
    input = padded.as<float>();
  }
  const AlgoChoice* choice = nullptr;
  {
    std::lock_guard lock(mutex_);
    if (!plan.forward) {
      plan.forward = choose<ForwardTraits>(
          handle, plan, allocator_,
          [&](cudnnConvolutionDescriptor_t conv, const DeviceBuffer& ws,
              cudnnConvolutionFwdAlgoPerf_t* perf, int* returned) {
            CHECK_CUDNN(cudnnFindConvolutionForwardAlgorithmEx(
                handle, plan.x.get(), input, plan.w.get(), filter.get(), conv, plan.y.get(), y,
                ForwardTraits::kCount, returned, perf, ws.get(), ws.bytes()));
          });
    }
    choice = &*plan.forward;
  }
  DeviceBuffer workspace(allocator_, choice->workspace);
  CHECK_CUDNN(cudnnConvolutionForward(handle, &kOne, plan.x.get(), input, plan.w.get(),
                                      filter.get(), choice->conv.get(),
                                      static_cast<cudnnConvolutionFwdAlgo_t>(choice->algo),
                                      workspace.get(), workspace.bytes(), &kZero, plan.y.get(), y));
}

void Convolutions::backward_data(const backend::Conv2dGeometry& g, const float* dy, const float* w,
                                 float* dx) {
  DeviceGuard guard(device_);
  const std::size_t dx_bytes = static_cast<std::size_t>(g.n * g.h * g.w * g.c) * sizeof(float);
  if (degenerate(g)) {
    CHECK_CUDA(cudaMemsetAsync(dx, 0, dx_bytes, stream_));
    return;
  }
  Plan& plan = plan_for(g, tf32_enabled());
  cudnnHandle_t handle = cudnn_handle(device_, stream_);
  DeviceBuffer filter(allocator_, static_cast<std::size_t>(filter_rows(g) * g.o) * sizeof(float));
  kernels::transpose(w, filter.as<float>(), filter_rows(g), g.o, stream_);
  DeviceBuffer padded;
  float* output = dx;
  if (plan.padded) {
    padded = DeviceBuffer(
        allocator_, static_cast<std::size_t>(g.n * plan.in_h * plan.in_w * g.c) * sizeof(float));
    output = padded.as<float>();
  }
  const AlgoChoice* choice = nullptr;
  {
    std::lock_guard lock(mutex_);
    if (!plan.backward_data) {
      plan.backward_data = choose<BackwardDataTraits>(
          handle, plan, allocator_,
          [&](cudnnConvolutionDescriptor_t conv, const DeviceBuffer& ws,
              cudnnConvolutionBwdDataAlgoPerf_t* perf, int* returned) {
            CHECK_CUDNN(cudnnFindConvolutionBackwardDataAlgorithmEx(
                handle, plan.w.get(), filter.get(), plan.y.get(), dy, conv, plan.x.get(), output,
                BackwardDataTraits::kCount, returned, perf, ws.get(), ws.bytes()));
          });
    }
    choice = &*plan.backward_data;
  }
  DeviceBuffer workspace(allocator_, choice->workspace);
  CHECK_CUDNN(cudnnConvolutionBackwardData(
      handle, &kOne, plan.w.get(), filter.get(), plan.y.get(), dy, choice->conv.get(),
      static_cast<cudnnConvolutionBwdDataAlgo_t>(choice->algo), workspace.get(), workspace.bytes(),
      &kZero, plan.x.get(), output));
  if (plan.padded) {  // crop the padded gradient back to x's extent
    kernels::shift_window(output, g.n, plan.in_h, plan.in_w, g.c, dx, g.h, g.w, g.pad_top,
                          g.pad_left, stream_);
  }
}

void Convolutions::backward_filter(const backend::Conv2dGeometry& g, const float* x,
                                   const float* dy, float* dw) {
  DeviceGuard guard(device_);
  const std::size_t dw_bytes = static_cast<std::size_t>(filter_rows(g) * g.o) * sizeof(float);
  if (degenerate(g)) {
    CHECK_CUDA(cudaMemsetAsync(dw, 0, dw_bytes, stream_));
    return;
  }
  Plan& plan = plan_for(g, tf32_enabled());
  cudnnHandle_t handle = cudnn_handle(device_, stream_);
  DeviceBuffer padded;
  const float* input = x;
  if (plan.padded) {
    padded = DeviceBuffer(
        allocator_, static_cast<std::size_t>(g.n * plan.in_h * plan.in_w * g.c) * sizeof(float));
    kernels::shift_window(x, g.n, g.h, g.w, g.c, padded.as<float>(), plan.in_h, plan.in_w,
                          -g.pad_top, -g.pad_left, stream_);
    input = padded.as<float>();
  }
  DeviceBuffer filter(allocator_, dw_bytes);  // dw in OHWI (Note [HWIO filters])
  const AlgoChoice* choice = nullptr;
  {
    std::lock_guard lock(mutex_);
    if (!plan.backward_filter) {
      plan.backward_filter = choose<BackwardFilterTraits>(
          handle, plan, allocator_,
          [&](cudnnConvolutionDescriptor_t conv, const DeviceBuffer& ws,
              cudnnConvolutionBwdFilterAlgoPerf_t* perf, int* returned) {
            CHECK_CUDNN(cudnnFindConvolutionBackwardFilterAlgorithmEx(
                handle, plan.x.get(), input, plan.y.get(), dy, conv, plan.w.get(), filter.get(),
                BackwardFilterTraits::kCount, returned, perf, ws.get(), ws.bytes()));
          });
    }
    choice = &*plan.backward_filter;
  }
  DeviceBuffer workspace(allocator_, choice->workspace);
  CHECK_CUDNN(cudnnConvolutionBackwardFilter(
      handle, &kOne, plan.x.get(), input, plan.y.get(), dy, choice->conv.get(),
      static_cast<cudnnConvolutionBwdFilterAlgo_t>(choice->algo), workspace.get(),
      workspace.bytes(), &kZero, plan.w.get(), filter.get()));
  kernels::transpose(filter.as<float>(), dw, g.o, filter_rows(g), stream_);
}

}  // namespace kiln::cuda
