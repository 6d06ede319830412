// Conv2D + bias + ReLU through cuDNN's graph (backend) API (see cudnn_graph_conv.h).
//
// Note [Fused convolution plans]
// ~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~
// The graph is conv -> [ADD bias] -> [RELU_FWD] (cuDNN's documented conv-bias-activation fusion),
// its inner tensors virtual, described with backend descriptors: tensors in cuDNN's (n, c, h, w)
// dimension order with NHWC strides, the bias (1, o, 1, 1), the filter (o, c, kh, kw) with OHWI
// strides. The convolution takes Keras's padding as it is: pre-paddings (top, left) and post-
// paddings (bottom, right) may differ, so no zero-padded copy of x is made (the legacy API pads
// both sides equally; Note [Asymmetric padding] in cudnn_conv.cpp). A post-padding Keras never
// reads (a 'valid' window that leaves the last rows) is clamped to 0, which gives the same
// output size.
//
// The plan is built once per problem — geometry with its batch size, bias, ReLU, TF32 setting
// and the alignment of each data pointer (each tensor's BYTE_ALIGNMENT promises it) — and
// cached by Convolutions (cudnn_conv.cpp) like the legacy algorithm choices. Building asks the
// heuristics in mode A for engine configurations and finalizes an execution plan for the first
// acceptable one; mode A queries no device work, so a new batch size (the last partial batch,
// evaluate) builds its plan without synchronising, unlike a Find. A plan's workspace comes from
// kiln's pool at each call. When the operation graph, the heuristics or every plan is refused
// (an old GPU, a cuDNN without a runtime-fusion engine for the shape), the problem is remembered
// as refused, said once on stderr, and the legacy cudnnConvolutionForward runs with separate
// bias / ReLU kernels (cudnn_conv.cpp).
//
// Note [Graph API and TF32]
// ~~~~~~~~~~~~~~~~~~~~~~~~~
// The graph API has no math-type switch: the convolution's compute type and the pointwise math
// precision are f32, and whether tensor cores may round the inputs to TF32 is a property of the
// engine, which says so with CUDNN_NUMERICAL_NOTE_TENSOR_CORE. With TF32 off, configurations
// whose engine carries that note are skipped; configurations with DOWN_CONVERT_INPUTS (inputs
// converted to a narrower type) are skipped always. This is PyTorch's filter for its cuDNN v8
// convolutions (allow_tf32).
//
// The handle is given to the operation graph and the plan through their HANDLE attributes, which
// cuDNN 9 marks deprecated in favour of device-property descriptors (9.8 and later) but still
// honours; kiln does not define CUDNN_WARN_DEPRECATED (cudnn_resources.h).
#include "cudnn_graph_conv.h"

#include <algorithm>
#include <array>
#include <atomic>
#include <utility>
#include <vector>

#include "core/check.h"
#include "cuda_api.h"
#include "cuda_check.h"

namespace kiln::cuda {

namespace {

std::atomic<std::uint64_t> execution_count{0};
std::atomic<std::uint64_t> built_count{0};
std::atomic<std::uint64_t> refused_count{0};

// The unique ids of the graph's tensors.
constexpr std::int64_t kX = 1, kW = 2, kY = 3, kBias = 4, kConvOut = 5, kBiasOut = 6;

// A cuDNN backend descriptor that destroys itself.
class GraphDescriptor {
 public:
  explicit GraphDescriptor(cudnnBackendDescriptorType_t type) {
    CHECK_CUDNN(cudnnBackendCreateDescriptor(type, &d_));
  }
  ~GraphDescriptor() {
    if (d_ != nullptr) cudnnBackendDestroyDescriptor(d_);
  }
  GraphDescriptor(GraphDescriptor&& other) noexcept : d_(std::exchange(other.d_, nullptr)) {}
  GraphDescriptor& operator=(GraphDescriptor&& other) noexcept {
    std::swap(d_, other.d_);
    return *this;
  }
  GraphDescriptor(const GraphDescriptor&) = delete;
  GraphDescriptor& operator=(const GraphDescriptor&) = delete;

  cudnnBackendDescriptor_t get() const { return d_; }

  void set(cudnnBackendAttributeName_t name, cudnnBackendAttributeType_t type, std::int64_t count,
           const void* values) {
    CHECK_CUDNN(cudnnBackendSetAttribute(d_, name, type, count, values));
  }
  template <class T>
  void set_one(cudnnBackendAttributeName_t name, cudnnBackendAttributeType_t type, T value) {
    set(name, type, 1, &value);
  }
  void set_descriptor(cudnnBackendAttributeName_t name, cudnnBackendDescriptor_t other) {
    set_one(name, CUDNN_TYPE_BACKEND_DESCRIPTOR, other);
  }
  void finalize() { CHECK_CUDNN(cudnnBackendFinalize(d_)); }
  // Finalizes; false with cuDNN's reason in `why` when it refuses.
  bool try_finalize(const char* what, std::string& why) {
    const cudnnStatus_t status = cudnnBackendFinalize(d_);
    if (status == CUDNN_STATUS_SUCCESS) return true;
    std::array<char, 512> message{};
    cudnnGetLastErrorString(message.data(), message.size());
    why = fmt::format("{} refused: {} ({})", what, cudnnGetErrorString(status), message.data());
    return false;
  }

 private:
  cudnnBackendDescriptor_t d_ = nullptr;
};

using Dims = std::array<std::int64_t, 4>;

GraphDescriptor tensor(std::int64_t uid, const Dims& dims, const Dims& strides,
                       std::int64_t alignment, bool is_virtual) {
  GraphDescriptor t(CUDNN_BACKEND_TENSOR_DESCRIPTOR);
  t.set_one(CUDNN_ATTR_TENSOR_DATA_TYPE, CUDNN_TYPE_DATA_TYPE, CUDNN_DATA_FLOAT);
  t.set(CUDNN_ATTR_TENSOR_DIMENSIONS, CUDNN_TYPE_INT64, 4, dims.data());
  t.set(CUDNN_ATTR_TENSOR_STRIDES, CUDNN_TYPE_INT64, 4, strides.data());
  t.set_one(CUDNN_ATTR_TENSOR_UNIQUE_ID, CUDNN_TYPE_INT64, uid);
  t.set_one(CUDNN_ATTR_TENSOR_BYTE_ALIGNMENT, CUDNN_TYPE_INT64, alignment);
  t.set_one(CUDNN_ATTR_TENSOR_IS_VIRTUAL, CUDNN_TYPE_BOOLEAN, is_virtual);
  t.finalize();
  return t;
}

// An NHWC image (n, h, w, c) in the graph API's (n, c, h, w) dimension order.
GraphDescriptor image(std::int64_t uid, std::int64_t n, std::int64_t h, std::int64_t w,
                      std::int64_t c, std::int64_t alignment, bool is_virtual) {
  return tensor(uid, {n, c, h, w}, {h * w * c, 1, w * c, c}, alignment, is_virtual);
}

// Note [Fused convolution plans]: Keras's bottom / right padding, 0 where it is never read.
std::int64_t post_padding(std::int64_t in, std::int64_t pre, std::int64_t window,
                          std::int64_t stride, std::int64_t out) {
  return std::max<std::int64_t>(0, (out - 1) * stride + window - in - pre);
}

GraphDescriptor convolution(const backend::Conv2dGeometry& g) {
  GraphDescriptor conv(CUDNN_BACKEND_CONVOLUTION_DESCRIPTOR);
  const std::array<std::int64_t, 2> dilations{1, 1};
  const std::array<std::int64_t, 2> strides{g.stride_h, g.stride_w};
  const std::array<std::int64_t, 2> pre{g.pad_top, g.pad_left};
  const std::array<std::int64_t, 2> post{post_padding(g.h, g.pad_top, g.kh, g.stride_h, g.oh),
                                         post_padding(g.w, g.pad_left, g.kw, g.stride_w, g.ow)};
  conv.set_one(CUDNN_ATTR_CONVOLUTION_COMP_TYPE, CUDNN_TYPE_DATA_TYPE, CUDNN_DATA_FLOAT);
  conv.set_one(CUDNN_ATTR_CONVOLUTION_CONV_MODE, CUDNN_TYPE_CONVOLUTION_MODE,
               CUDNN_CROSS_CORRELATION);
  conv.set_one(CUDNN_ATTR_CONVOLUTION_SPATIAL_DIMS, CUDNN_TYPE_INT64, std::int64_t{2});
  conv.set(CUDNN_ATTR_CONVOLUTION_DILATIONS, CUDNN_TYPE_INT64, 2, dilations.data());
  conv.set(CUDNN_ATTR_CONVOLUTION_FILTER_STRIDES, CUDNN_TYPE_INT64, 2, strides.data());
  conv.set(CUDNN_ATTR_CONVOLUTION_PRE_PADDINGS, CUDNN_TYPE_INT64, 2, pre.data());
  conv.set(CUDNN_ATTR_CONVOLUTION_POST_PADDINGS, CUDNN_TYPE_INT64, 2, post.data());
  conv.finalize();
  return conv;
}

GraphDescriptor pointwise_mode(cudnnPointwiseMode_t mode) {
  GraphDescriptor pw(CUDNN_BACKEND_POINTWISE_DESCRIPTOR);
  pw.set_one(CUDNN_ATTR_POINTWISE_MODE, CUDNN_TYPE_POINTWISE_MODE, mode);
  pw.set_one(CUDNN_ATTR_POINTWISE_MATH_PREC, CUDNN_TYPE_DATA_TYPE, CUDNN_DATA_FLOAT);
  pw.finalize();
  return pw;
}

// Every descriptor of one plan: kept alive as long as the plan, as cudnn-frontend keeps them
// (cuDNN copies what it needs when an attribute is set, but says nothing of lifetimes).
class Descriptors {
 public:
  cudnnBackendDescriptor_t keep(GraphDescriptor d) {
    all_.push_back(std::move(d));
    return all_.back().get();
  }

 private:
  std::vector<GraphDescriptor> all_;
};

// A pointwise operation y = mode(x[, b]).
cudnnBackendDescriptor_t pointwise(Descriptors& keep, cudnnPointwiseMode_t mode,
                                   cudnnBackendDescriptor_t x, cudnnBackendDescriptor_t b,
                                   cudnnBackendDescriptor_t y) {
  const cudnnBackendDescriptor_t pw = keep.keep(pointwise_mode(mode));
  GraphDescriptor op(CUDNN_BACKEND_OPERATION_POINTWISE_DESCRIPTOR);
  op.set_descriptor(CUDNN_ATTR_OPERATION_POINTWISE_PW_DESCRIPTOR, pw);
  op.set_descriptor(CUDNN_ATTR_OPERATION_POINTWISE_XDESC, x);
  if (b != nullptr) op.set_descriptor(CUDNN_ATTR_OPERATION_POINTWISE_BDESC, b);
  op.set_descriptor(CUDNN_ATTR_OPERATION_POINTWISE_YDESC, y);
  op.finalize();
  return keep.keep(std::move(op));
}

cudnnBackendDescriptor_t convolution_forward(Descriptors& keep, const FusedConvSpec& s,
                                             cudnnBackendDescriptor_t y) {
  const backend::Conv2dGeometry& g = s.g;
  GraphDescriptor forward(CUDNN_BACKEND_OPERATION_CONVOLUTION_FORWARD_DESCRIPTOR);
  forward.set_descriptor(CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_CONV_DESC,
                         keep.keep(convolution(g)));
  forward.set_descriptor(CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_X,
                         keep.keep(image(kX, g.n, g.h, g.w, g.c, s.x_alignment, false)));
  forward.set_descriptor(
      CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_W,
      keep.keep(tensor(kW, {g.o, g.c, g.kh, g.kw}, {g.kh * g.kw * g.c, 1, g.kw * g.c, g.c},
                       s.w_alignment, false)));
  forward.set_descriptor(CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_Y, y);
  forward.set_one(CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_ALPHA, CUDNN_TYPE_FLOAT, 1.0f);
  forward.set_one(CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_BETA, CUDNN_TYPE_FLOAT, 0.0f);
  forward.finalize();
  return keep.keep(std::move(forward));
}

// The graph's operations in dataflow order (Note [Fused convolution plans]).
std::vector<cudnnBackendDescriptor_t> operations(Descriptors& keep, const FusedConvSpec& s) {
  const backend::Conv2dGeometry& g = s.g;
  const cudnnBackendDescriptor_t y =
      keep.keep(image(kY, g.n, g.oh, g.ow, g.o, s.y_alignment, false));
  if (!s.bias && !s.relu) return {convolution_forward(keep, s, y)};
  const cudnnBackendDescriptor_t conv_out =
      keep.keep(image(kConvOut, g.n, g.oh, g.ow, g.o, 16, true));
  std::vector<cudnnBackendDescriptor_t> ops{convolution_forward(keep, s, conv_out)};
  cudnnBackendDescriptor_t activation_in = conv_out;
  if (s.bias) {
    const cudnnBackendDescriptor_t bias =
        keep.keep(tensor(kBias, {1, g.o, 1, 1}, {g.o, 1, g.o, g.o}, s.bias_alignment, false));
    activation_in = s.relu ? keep.keep(image(kBiasOut, g.n, g.oh, g.ow, g.o, 16, true)) : y;
    ops.push_back(pointwise(keep, CUDNN_POINTWISE_ADD, conv_out, bias, activation_in));
  }
  if (s.relu) ops.push_back(pointwise(keep, CUDNN_POINTWISE_RELU_FWD, activation_in, nullptr, y));
  return ops;
}

// Note [Graph API and TF32]: may this configuration's engine run under the TF32 setting?
bool acceptable(const GraphDescriptor& config, bool tf32) {
  GraphDescriptor engine(CUDNN_BACKEND_ENGINE_DESCRIPTOR);
  cudnnBackendDescriptor_t engine_out = engine.get();
  std::int64_t count = 0;
  CHECK_CUDNN(cudnnBackendGetAttribute(config.get(), CUDNN_ATTR_ENGINECFG_ENGINE,
                                       CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &count, &engine_out));
  std::array<cudnnBackendNumericalNote_t, CUDNN_NUMERICAL_NOTE_TYPE_COUNT> notes{};
  CHECK_CUDNN(cudnnBackendGetAttribute(engine.get(), CUDNN_ATTR_ENGINE_NUMERICAL_NOTE,
                                       CUDNN_TYPE_NUMERICAL_NOTE, notes.size(), &count,
                                       notes.data()));
  const auto end = notes.begin() + std::min<std::int64_t>(count, notes.size());
  const auto noted = [&](cudnnBackendNumericalNote_t note) {
    return std::find(notes.begin(), end, note) != end;
  };
  if (noted(CUDNN_NUMERICAL_NOTE_DOWN_CONVERT_INPUTS)) return false;
  return tf32 || !noted(CUDNN_NUMERICAL_NOTE_TENSOR_CORE);
}

// The heuristics' engine configurations for the finalized graph, best first.
std::vector<GraphDescriptor> configurations(cudnnBackendDescriptor_t graph, std::string& why) {
  GraphDescriptor heuristics(CUDNN_BACKEND_ENGINEHEUR_DESCRIPTOR);
  heuristics.set_descriptor(CUDNN_ATTR_ENGINEHEUR_OPERATION_GRAPH, graph);
  heuristics.set_one(CUDNN_ATTR_ENGINEHEUR_MODE, CUDNN_TYPE_HEUR_MODE, CUDNN_HEUR_MODE_A);
  if (!heuristics.try_finalize("the engine heuristics", why)) return {};
  std::int64_t available = 0;
  CHECK_CUDNN(cudnnBackendGetAttribute(heuristics.get(), CUDNN_ATTR_ENGINEHEUR_RESULTS,
                                       CUDNN_TYPE_BACKEND_DESCRIPTOR, 0, &available, nullptr));
  std::vector<GraphDescriptor> configs;
  std::vector<cudnnBackendDescriptor_t> raw;
  for (std::int64_t i = 0; i < available; ++i) {
    configs.emplace_back(CUDNN_BACKEND_ENGINECFG_DESCRIPTOR);
    raw.push_back(configs.back().get());
  }
  std::int64_t returned = 0;
  CHECK_CUDNN(cudnnBackendGetAttribute(heuristics.get(), CUDNN_ATTR_ENGINEHEUR_RESULTS,
                                       CUDNN_TYPE_BACKEND_DESCRIPTOR, available, &returned,
                                       raw.data()));
  configs.erase(configs.begin() + std::clamp<std::int64_t>(returned, 0, available), configs.end());
  if (configs.empty()) why = "the engine heuristics returned no configuration";
  return configs;
}

}  // namespace

std::int64_t pointer_alignment(const void* p) {
  const auto address = reinterpret_cast<std::uintptr_t>(p);
  std::int64_t alignment = 16;
  while (alignment > 1 && address % static_cast<std::uintptr_t>(alignment) != 0) alignment /= 2;
  return alignment;
}

// The descriptors a plan keeps, the plan itself among them.
struct FusedConvPlan::Parts {
  Descriptors kept;
  cudnnBackendDescriptor_t plan = nullptr;
};

FusedConvPlan::FusedConvPlan() : parts_(std::make_unique<Parts>()) {}

FusedConvPlan::~FusedConvPlan() = default;

std::unique_ptr<FusedConvPlan> FusedConvPlan::build(cudnnHandle_t handle, const FusedConvSpec& spec,
                                                    std::string& why) {
  std::unique_ptr<FusedConvPlan> result(new FusedConvPlan());
  Descriptors& kept = result->parts_->kept;
  const std::vector<cudnnBackendDescriptor_t> ops = operations(kept, spec);
  GraphDescriptor graph(CUDNN_BACKEND_OPERATIONGRAPH_DESCRIPTOR);
  graph.set_one(CUDNN_ATTR_OPERATIONGRAPH_HANDLE, CUDNN_TYPE_HANDLE, handle);
  graph.set(CUDNN_ATTR_OPERATIONGRAPH_OPS, CUDNN_TYPE_BACKEND_DESCRIPTOR,
            static_cast<std::int64_t>(ops.size()), ops.data());
  if (graph.try_finalize("the operation graph", why)) {
    const cudnnBackendDescriptor_t finalized_graph = kept.keep(std::move(graph));
    for (GraphDescriptor& config : configurations(finalized_graph, why)) {
      if (!acceptable(config, spec.tf32)) continue;
      GraphDescriptor plan(CUDNN_BACKEND_EXECUTION_PLAN_DESCRIPTOR);
      plan.set_one(CUDNN_ATTR_EXECUTION_PLAN_HANDLE, CUDNN_TYPE_HANDLE, handle);
      plan.set_descriptor(CUDNN_ATTR_EXECUTION_PLAN_ENGINE_CONFIG, config.get());
      if (!plan.try_finalize("every execution plan", why)) continue;
      std::int64_t workspace = 0;
      std::int64_t count = 0;
      CHECK_CUDNN(cudnnBackendGetAttribute(plan.get(), CUDNN_ATTR_EXECUTION_PLAN_WORKSPACE_SIZE,
                                           CUDNN_TYPE_INT64, 1, &count, &workspace));
      kept.keep(std::move(config));
      result->parts_->plan = kept.keep(std::move(plan));
      result->workspace_ = static_cast<std::size_t>(workspace);
      result->bias_ = spec.bias;
      built_count.fetch_add(1, std::memory_order_relaxed);
      return result;
    }
    if (why.empty()) {
      why = fmt::format("no engine configuration respects TF32 {}", spec.tf32 ? "on" : "off");
    }
  }
  refused_count.fetch_add(1, std::memory_order_relaxed);
  return nullptr;
}

void FusedConvPlan::execute(cudnnHandle_t handle, const float* x, const float* w, const float* bias,
                            float* y, void* workspace) const {
  const std::array<std::int64_t, 4> uids{kX, kW, kY, kBias};
  const std::array<void*, 4> pointers{const_cast<float*>(x), const_cast<float*>(w), y,
                                      const_cast<float*>(bias)};
  const std::int64_t count = bias_ ? 4 : 3;
  GraphDescriptor pack(CUDNN_BACKEND_VARIANT_PACK_DESCRIPTOR);
  pack.set(CUDNN_ATTR_VARIANT_PACK_UNIQUE_IDS, CUDNN_TYPE_INT64, count, uids.data());
  pack.set(CUDNN_ATTR_VARIANT_PACK_DATA_POINTERS, CUDNN_TYPE_VOID_PTR, count, pointers.data());
  pack.set_one(CUDNN_ATTR_VARIANT_PACK_WORKSPACE, CUDNN_TYPE_VOID_PTR, workspace);
  pack.finalize();
  CHECK_CUDNN(cudnnBackendExecute(handle, parts_->plan, pack.get()));
  execution_count.fetch_add(1, std::memory_order_relaxed);
}

CudnnGraphStats cudnn_graph_stats() {
  return {execution_count.load(std::memory_order_relaxed),
          built_count.load(std::memory_order_relaxed),
          refused_count.load(std::memory_order_relaxed)};
}

}  // namespace kiln::cuda
