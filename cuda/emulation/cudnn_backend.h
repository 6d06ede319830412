// The cuDNN stand-in's graph (backend) API: exactly the descriptors and attributes kiln's fused
// convolution uses (cuda/cudnn_graph_conv.cpp) — f32 tensors, a 2-D cross-correlation with pre /
// post paddings, pointwise ADD and RELU_FWD after it, one operation graph, engine heuristics,
// engine configurations, execution plans and variant packs. cudnn_backend_attributes.cpp stores
// attributes strictly (Note [Backend attributes]), cudnn_backend_finalize.cpp validates each
// descriptor at cudnnBackendFinalize, cudnn_backend_execute.cpp runs a plan.
#pragma once

#include <cudnn.h>

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <vector>

#include "cudnn_convolution.h"
#include "cudnn_objects.h"

namespace kiln::emu::cudnn {

struct BackendDescriptor;

// One attribute as the user set it: its type, element count and the elements' bytes; for
// CUDNN_TYPE_BACKEND_DESCRIPTOR the referenced descriptors as they were when set (cuDNN copies
// a finalized descriptor's content, so it may be destroyed afterwards).
struct StoredAttribute {
  cudnnBackendAttributeType_t type = CUDNN_TYPE_INT64;
  std::int64_t count = 0;
  std::vector<unsigned char> bytes;
  std::vector<std::shared_ptr<const BackendDescriptor>> descriptors;
};

// A finalized tensor.
struct GraphTensor {
  std::int64_t uid = 0;
  std::vector<std::int64_t> dims, strides;  // (n, c, h, w) order, as cuDNN's graph API
  std::int64_t alignment = 0;
  bool is_virtual = false;

  std::size_t bytes() const;  // the extent its strides span, in f32 elements * 4
  Strides as_strides() const;
};

// The one pattern the stand-in runs: y = relu?(conv(x, w) + bias?) (Note [Emulated engines]).
struct FusedGraph {
  ConvolutionProblem conv;  // pad_h / pad_w are the pre-paddings; oh / ow include the post ones
  GraphTensor x, w, y, bias;
  bool has_bias = false, relu = false;
  double alpha = 1.0, beta = 0.0;
  cudnnHandle_t handle = nullptr;

  // The tensors the variant pack must supply: x, w, y and the bias when there is one.
  std::vector<const GraphTensor*> boundary() const;
};

// Engines the heuristics return (Note [Emulated engines]): 2, or 0 while the environment sets
// KILN_CUDA_EMULATION_GRAPH_ENGINES=0 (a GPU or cuDNN with no engine for the graph; read at
// each query, so a test can switch it).
int engines_offered();
bool engine_is_tensor_core(int engine);
std::size_t engine_workspace(int engine, const FusedGraph& graph);

struct BackendDescriptor {
  cudnnBackendDescriptorType_t type{};
  bool finalized = false;
  std::map<cudnnBackendAttributeName_t, StoredAttribute> attributes;
  // What finalisation derived, by type.
  std::optional<GraphTensor> tensor;
  std::vector<std::int64_t> pre_paddings, post_paddings, strides;  // CONVOLUTION
  cudnnPointwiseMode_t pointwise_mode{};                           // POINTWISE
  std::shared_ptr<const FusedGraph> graph;  // OPERATIONGRAPH and what is made from it
  int engine = -1;                          // ENGINECFG, ENGINE, EXECUTION_PLAN
  std::size_t workspace = 0;                // EXECUTION_PLAN
  std::vector<std::int64_t> uids;           // VARIANT_PACK
  std::vector<void*> pointers;
  void* workspace_pointer = nullptr;
};

// The live descriptor `d`, else BAD_PARAM.
BackendDescriptor& live_backend(const char* name, cudnnBackendDescriptor_t d);

// The attribute `name` of `d` when set (nullptr otherwise).
const StoredAttribute* find_attribute(const BackendDescriptor& d, cudnnBackendAttributeName_t name);

// cudnn_backend_finalize.cpp: validates `d` and fills what finalisation derives; BAD_PARAM for a
// missing or inconsistent attribute, NOT_SUPPORTED for what the stand-in does not emulate.
void finalize_descriptor(BackendDescriptor& d);

// cudnn_backend_execute.cpp: y = relu?(alpha conv(x, w) + bias?) of `graph` with `engine`.
void run_fused_graph(const FusedGraph& graph, int engine, const float* x, const float* w,
                     const float* bias, float* y, void* workspace);

}  // namespace kiln::emu::cudnn
