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
// last rows are never read; the copy handles either case.) The forward pass of a Conv2D layer
// (forward_fused) needs no copy: cuDNN's graph API takes pre- and post-paddings (Note [Fused
// convolution plans] in cudnn_graph_conv.cpp).
//
// Note [Large batches]
// ~~~~~~~~~~~~~~~~~~~~
// cuDNN describes tensors with int sizes, so no tensor of one call may hold more than 2^31 - 1
// elements. A batch whose input, padded input or output would exceed that runs as several calls,
// each on as many whole images as fit (PyTorch splits the batch the same way); backward-filter
// accumulates the chunks' gradients (beta = 1 after the first). A single image too large for one
// call is an error that says so. The plans of a chunked batch are those of its chunk sizes.
#include "cudnn_conv.h"

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <limits>
#include <string>
#include <optional>

#include "core/check.h"
#include "cuda_api.h"
#include "kiln/device.h"
#include "cudnn_conv_algorithms.h"
#include "cudnn_resources.h"
#include "device_buffer.h"
#include "device_guard.h"
#include "kernels/layout.cuh"

namespace kiln::cuda {

namespace {

constexpr float kOne = 1.0f;
constexpr float kZero = 0.0f;
constexpr std::int64_t kDefaultElementLimit = std::numeric_limits<int>::max();

std::atomic<std::int64_t> element_limit{kDefaultElementLimit};

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

struct Extent {
  std::int64_t h = 0, w = 0;
};

// The input extent cuDNN sees: x itself, or its padded copy (Note [Asymmetric padding]).
Extent input_extent(const backend::Conv2dGeometry& g) {
  if (symmetric_padding_matches(g)) return {g.h, g.w};
  return {(g.oh - 1) * g.stride_h + g.kh, (g.ow - 1) * g.stride_w + g.kw};
}

std::int64_t filter_rows(const backend::Conv2dGeometry& g) { return g.kh * g.kw * g.c; }

// Note [Large batches]: images per cuDNN call.
std::int64_t images_per_call(const backend::Conv2dGeometry& g) {
  const std::int64_t limit = element_limit.load();
  const Extent in = input_extent(g);
  const std::int64_t per_image = std::max({g.h * g.w * g.c, in.h * in.w * g.c, g.oh * g.ow * g.o});
  KILN_CHECK(per_image <= limit && filter_rows(g) * g.o <= limit,
             "conv2d on CUDA: one image of {} needs {} elements in a tensor, more than cuDNN's "
             "32-bit sizes allow ({})",
             describe(g), per_image, limit);
  return std::clamp<std::int64_t>(limit / per_image, 1, g.n);
}

// Calls fn(chunk geometry, index of its first image) for each run of whole images.
template <class Fn>
void for_each_chunk(const backend::Conv2dGeometry& g, Fn&& fn) {
  const std::int64_t step = images_per_call(g);
  for (std::int64_t first = 0; first < g.n; first += step) {
    backend::Conv2dGeometry part = g;
    part.n = std::min(step, g.n - first);
    fn(part, first);
  }
}

std::size_t floats(std::int64_t count) { return static_cast<std::size_t>(count) * sizeof(float); }

}  // namespace

struct Convolutions::Plan {
  ConvDescriptors d;
  bool padded = false;                               // Note [Asymmetric padding]
  Extent in;                                         // the input cuDNN sees
  std::array<std::optional<AlgoChoice>, 3> choices;  // by ConvDirection
};

// One chunk's call: its plan, the handle, and the padded buffer its plan needs (unfilled).
struct Convolutions::Call {
  Plan& plan;
  cudnnHandle_t handle;
  DeviceBuffer padded;

  float* padded_or(float* unpadded) const { return plan.padded ? padded.as<float>() : unpadded; }
};

void set_cudnn_element_limit(std::int64_t elements) {
  element_limit.store(elements > 0 ? elements : kDefaultElementLimit);
}

std::int64_t cudnn_element_limit() { return element_limit.load(); }

Convolutions::Convolutions(int device, cudaStream_t stream, Allocator& allocator,
                           std::function<void()> on_wait)
    : device_(device), stream_(stream), allocator_(allocator), on_wait_(std::move(on_wait)) {}

Convolutions::~Convolutions() = default;

namespace {

// A geometry and TF32 setting, with or without n (Note [Choosing algorithms]).
std::array<std::int64_t, 14> key_of(const backend::Conv2dGeometry& g, bool tf32, bool with_n) {
  return {with_n ? g.n : 0, g.h,        g.w,       g.c,        g.kh,        g.kw, g.o, g.oh, g.ow,
          g.stride_h,       g.stride_w, g.pad_top, g.pad_left, tf32 ? 1 : 0};
}

}  // namespace

Convolutions::Plan& Convolutions::plan_for(const backend::Conv2dGeometry& g, bool tf32) {
  std::lock_guard lock(mutex_);
  auto& slot = plans_[key_of(g, tf32, true)];
  if (slot == nullptr) {
    auto plan = std::make_unique<Plan>();
    plan->d.g = g;
    plan->d.tf32 = tf32;
    plan->padded = !symmetric_padding_matches(g);
    plan->in = input_extent(g);
    if (!plan->padded) {
      plan->d.pad_h = g.pad_top;
      plan->d.pad_w = g.pad_left;
    }
    set_nhwc(plan->d.x, g.n, plan->in.h, plan->in.w, g.c);
    set_nhwc(plan->d.y, g.n, g.oh, g.ow, g.o);
    set_ohwi(plan->d.w, g.o, g.kh, g.kw, g.c);
    slot = std::move(plan);
  }
  return *slot;
}

Convolutions::Call Convolutions::prepare(const backend::Conv2dGeometry& g) {
  Plan& plan = plan_for(g, tf32_allowed());
  DeviceBuffer padded;
  if (plan.padded) padded = DeviceBuffer(allocator_, floats(g.n * plan.in.h * plan.in.w * g.c));
  return Call{plan, cudnn_handle(device_, stream_), std::move(padded)};
}

const float* Convolutions::padded_input(const Call& call, const float* x) {
  if (!call.plan.padded) return x;
  const backend::Conv2dGeometry& g = call.plan.d.g;
  kernels::shift_window(x, g.n, g.h, g.w, g.c, call.padded.as<float>(), call.plan.in.h,
                        call.plan.in.w, -g.pad_top, -g.pad_left, stream_);
  return call.padded.as<float>();
}

DeviceBuffer Convolutions::ohwi_filter(const backend::Conv2dGeometry& g, const float* w) {
  DeviceBuffer filter(allocator_, floats(filter_rows(g) * g.o));  // Note [HWIO filters]
  kernels::transpose(w, filter.as<float>(), filter_rows(g), g.o, stream_);
  return filter;
}

const AlgoChoice& Convolutions::algorithm(const Call& call, ConvDirection direction,
                                          const FindAlgorithms& find) {
  std::lock_guard lock(mutex_);
  const auto index = static_cast<std::size_t>(direction);
  std::optional<AlgoChoice>& slot = call.plan.choices[index];
  if (slot) return *slot;
  const ConvDescriptors& d = call.plan.d;
  Found& found = found_[index][key_of(d.g, d.tf32, false)];
  if (found.plan != nullptr && d.g.n <= found.n) {  // Note [Choosing algorithms]
    slot = adopt_algorithm(direction, call.handle, d, *found.plan->choices[index]);
  } else {
    on_wait_();  // Find benchmarks, which waits for the device
    slot = choose_algorithm(direction, call.handle, d, allocator_, find);
    found = Found{d.g.n, &call.plan};
  }
  return *slot;
}

// ---- forward

void Convolutions::forward(const backend::Conv2dGeometry& g, const float* x, const float* w,
                           float* y) {
  DeviceGuard guard(device_);
  if (degenerate(g)) {
    CHECK_CUDA(cudaMemsetAsync(y, 0, floats(g.n * g.oh * g.ow * g.o), stream_));
    return;
  }
  const DeviceBuffer filter = ohwi_filter(g, w);
  for_each_chunk(g, [&](const backend::Conv2dGeometry& part, std::int64_t first) {
    forward_chunk(part, x + first * g.h * g.w * g.c, filter.as<float>(),
                  y + first * g.oh * g.ow * g.o);
  });
}

void Convolutions::forward_chunk(const backend::Conv2dGeometry& g, const float* x,
                                 const float* filter, float* y) {
  const Call call = prepare(g);
  const ConvDescriptors& d = call.plan.d;
  const float* input = padded_input(call, x);
  const AlgoChoice& choice =
      algorithm(call, ConvDirection::forward,
                [&](cudnnConvolutionDescriptor_t conv, void* ws, std::size_t ws_bytes, void* perf,
                    int* returned) {
                  CHECK_CUDNN(cudnnFindConvolutionForwardAlgorithmEx(
                      call.handle, d.x.get(), input, d.w.get(), filter, conv, d.y.get(), y,
                      CUDNN_CONVOLUTION_FWD_ALGO_COUNT, returned,
                      static_cast<cudnnConvolutionFwdAlgoPerf_t*>(perf), ws, ws_bytes));
                });
  const DeviceBuffer workspace(allocator_, choice.workspace);
  CHECK_CUDNN(cudnnConvolutionForward(call.handle, &kOne, d.x.get(), input, d.w.get(), filter,
                                      choice.conv.get(),
                                      static_cast<cudnnConvolutionFwdAlgo_t>(choice.algo),
                                      workspace.get(), workspace.bytes(), &kZero, d.y.get(), y));
}

// ---- forward through the graph API, bias and ReLU fused (Note [Fused convolution plans] in
// cudnn_graph_conv.cpp)

namespace {

std::array<std::int64_t, 20> fused_key(const FusedConvSpec& s) {
  const std::array<std::int64_t, 14> base = key_of(s.g, s.tf32, true);
  std::array<std::int64_t, 20> key{};
  std::copy(base.begin(), base.end(), key.begin());
  key[14] = s.bias ? 1 : 0;
  key[15] = s.relu ? 1 : 0;
  key[16] = s.x_alignment;
  key[17] = s.w_alignment;
  key[18] = s.y_alignment;
  key[19] = s.bias_alignment;
  return key;
}

}  // namespace

const FusedConvPlan* Convolutions::fused_plan_for(const FusedConvSpec& spec, cudnnHandle_t handle) {
  std::lock_guard lock(mutex_);
  const auto key = fused_key(spec);
  const auto found = fused_plans_.find(key);
  if (found != fused_plans_.end()) return found->second.get();
  std::string why;
  std::unique_ptr<FusedConvPlan> plan = FusedConvPlan::build(handle, spec, why);
  if (plan == nullptr) {  // said once per problem; the legacy path runs from now on
    std::fprintf(stderr,
                 "kiln: cuDNN's graph API offers no fused conv2d plan for %s (%s); using "
                 "cudnnConvolutionForward and separate bias / ReLU kernels\n",
                 describe(spec.g).c_str(), why.c_str());
  }
  return fused_plans_.emplace(key, std::move(plan)).first->second.get();
}

bool Convolutions::forward_fused(const backend::Conv2dGeometry& g, const float* x, const float* w,
                                 const float* bias, bool relu, float* y) {
  // A batch too large for one call keeps the legacy path's chunking (Note [Large batches]).
  if (!cudnn_graph_enabled() || degenerate(g) || images_per_call(g) < g.n) return false;
  DeviceGuard guard(device_);
  FusedConvSpec spec;
  spec.g = g;
  spec.bias = bias != nullptr;
  spec.relu = relu;
  spec.tf32 = tf32_allowed();
  spec.x_alignment = pointer_alignment(x);
  spec.w_alignment = 16;  // the OHWI copy is a block of the pool
  spec.y_alignment = pointer_alignment(y);
  spec.bias_alignment = pointer_alignment(bias);
  const cudnnHandle_t handle = cudnn_handle(device_, stream_);
  const FusedConvPlan* plan = fused_plan_for(spec, handle);
  if (plan == nullptr) return false;
  const DeviceBuffer filter = ohwi_filter(g, w);
  KILN_CHECK(pointer_alignment(filter.get()) == spec.w_alignment,
             "conv2d on CUDA: the pool gave the filter copy a {}-byte-aligned block",
             pointer_alignment(filter.get()));
  const DeviceBuffer workspace(allocator_, plan->workspace_bytes());
  plan->execute(handle, x, filter.as<float>(), bias, y, workspace.get());
  return true;
}

// ---- backward data

void Convolutions::backward_data(const backend::Conv2dGeometry& g, const float* dy, const float* w,
                                 float* dx) {
  DeviceGuard guard(device_);
  if (degenerate(g)) {
    CHECK_CUDA(cudaMemsetAsync(dx, 0, floats(g.n * g.h * g.w * g.c), stream_));
    return;
  }
  const DeviceBuffer filter = ohwi_filter(g, w);
  for_each_chunk(g, [&](const backend::Conv2dGeometry& part, std::int64_t first) {
    backward_data_chunk(part, dy + first * g.oh * g.ow * g.o, filter.as<float>(),
                        dx + first * g.h * g.w * g.c);
  });
}

void Convolutions::backward_data_chunk(const backend::Conv2dGeometry& g, const float* dy,
                                       const float* filter, float* dx) {
  const Call call = prepare(g);
  const ConvDescriptors& d = call.plan.d;
  float* output = call.padded_or(dx);
  const AlgoChoice& choice =
      algorithm(call, ConvDirection::backward_data,
                [&](cudnnConvolutionDescriptor_t conv, void* ws, std::size_t ws_bytes, void* perf,
                    int* returned) {
                  CHECK_CUDNN(cudnnFindConvolutionBackwardDataAlgorithmEx(
                      call.handle, d.w.get(), filter, d.y.get(), dy, conv, d.x.get(), output,
                      CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT, returned,
                      static_cast<cudnnConvolutionBwdDataAlgoPerf_t*>(perf), ws, ws_bytes));
                });
  const DeviceBuffer workspace(allocator_, choice.workspace);
  CHECK_CUDNN(cudnnConvolutionBackwardData(
      call.handle, &kOne, d.w.get(), filter, d.y.get(), dy, choice.conv.get(),
      static_cast<cudnnConvolutionBwdDataAlgo_t>(choice.algo), workspace.get(), workspace.bytes(),
      &kZero, d.x.get(), output));
  if (call.plan.padded) {  // crop the padded gradient back to x's extent
    kernels::shift_window(output, g.n, call.plan.in.h, call.plan.in.w, g.c, dx, g.h, g.w, g.pad_top,
                          g.pad_left, stream_);
  }
}

// ---- backward filter

void Convolutions::backward_filter(const backend::Conv2dGeometry& g, const float* x,
                                   const float* dy, float* dw) {
  DeviceGuard guard(device_);
  const std::size_t dw_bytes = floats(filter_rows(g) * g.o);
  if (degenerate(g)) {
    CHECK_CUDA(cudaMemsetAsync(dw, 0, dw_bytes, stream_));
    return;
  }
  const DeviceBuffer filter(allocator_, dw_bytes);  // dw in OHWI (Note [HWIO filters])
  for_each_chunk(g, [&](const backend::Conv2dGeometry& part, std::int64_t first) {
    backward_filter_chunk(part, x + first * g.h * g.w * g.c, dy + first * g.oh * g.ow * g.o,
                          filter.as<float>(), first > 0);
  });
  kernels::transpose(filter.as<float>(), dw, g.o, filter_rows(g), stream_);
}

void Convolutions::backward_filter_chunk(const backend::Conv2dGeometry& g, const float* x,
                                         const float* dy, float* filter, bool accumulate) {
  const Call call = prepare(g);
  const ConvDescriptors& d = call.plan.d;
  const float* input = padded_input(call, x);
  // Find overwrites its output: when accumulating, benchmark into a scratch buffer instead.
  DeviceBuffer scratch;
  float* find_output = filter;
  if (accumulate && !call.plan.choices[static_cast<std::size_t>(ConvDirection::backward_filter)]) {
    scratch = DeviceBuffer(allocator_, floats(filter_rows(g) * g.o));
    find_output = scratch.as<float>();
  }
  const AlgoChoice& choice =
      algorithm(call, ConvDirection::backward_filter,
                [&](cudnnConvolutionDescriptor_t conv, void* ws, std::size_t ws_bytes, void* perf,
                    int* returned) {
                  CHECK_CUDNN(cudnnFindConvolutionBackwardFilterAlgorithmEx(
                      call.handle, d.x.get(), input, d.y.get(), dy, conv, d.w.get(), find_output,
                      CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT, returned,
                      static_cast<cudnnConvolutionBwdFilterAlgoPerf_t*>(perf), ws, ws_bytes));
                });
  const DeviceBuffer workspace(allocator_, choice.workspace);
  CHECK_CUDNN(cudnnConvolutionBackwardFilter(
      call.handle, &kOne, d.x.get(), input, d.y.get(), dy, choice.conv.get(),
      static_cast<cudnnConvolutionBwdFilterAlgo_t>(choice.algo), workspace.get(), workspace.bytes(),
      accumulate ? &kOne : &kZero, d.w.get(), filter));
}

}  // namespace kiln::cuda
