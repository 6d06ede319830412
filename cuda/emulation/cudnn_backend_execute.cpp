// Stands in for cudnnBackendExecute: runs a finalized execution plan of the one graph pattern the
// stand-in emulates, y = relu?(alpha conv(x, w) + bias?), with the data pointers of a finalized
// variant pack. Checks, in order: the handle, the plan and the pack (live, of their types,
// finalized), that the pack gives a pointer for every tensor at the graph's boundary and nothing
// else, each pointer (device memory covering its tensor's extent: BAD_PARAM with a fault; aligned
// to the tensor's BYTE_ALIGNMENT: BAD_PARAM_MISALIGNED_POINTER), the workspace against the
// plan's size, that y overlaps no input, and the handle's stream. On a capturing stream the run
// is recorded with a copy of the graph (Note [Stream capture] in stream_capture.cpp).
//
// Note [Emulated engines]
// ~~~~~~~~~~~~~~~~~~~~~~~
// The heuristics return two engines for every graph, in this order: engine 0 carries
// CUDNN_NUMERICAL_NOTE_TENSOR_CORE and rounds x and w to TF32 before multiplying; engine 1 has no
// numerical note, computes in FMA precision and needs a workspace (one double per output channel,
// where it accumulates a pixel's sums before the epilogue), so a caller's TF32 filter and
// workspace plumbing really run. Both accumulate in double, add the bias in double and apply
// RELU_FWD as max(v, 0) with NaN passed through (cuDNN's documentation does not say; kiln's
// CPU ReLU propagates NaN too), then round once to f32. Real cuDNN offers many engines, some
// needing runtime compilation; which it picks, and their numerics, stay GPU-only. With
// KILN_CUDA_EMULATION_GRAPH_ENGINES=0 the heuristics return none, as for a graph a GPU has no
// engine for, so a caller's fallback runs.
#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "cudnn_backend.h"

namespace kiln::emu::cudnn {

namespace {

std::int64_t at(const Strides& st, std::int64_t n, std::int64_t c, std::int64_t h, std::int64_t w) {
  return n * st.n + c * st.c + h * st.h + w * st.w;
}

double epilogue(const FusedGraph& g, const float* bias, int k, double conv) {
  double v = g.alpha * conv;
  if (g.has_bias) v += bias[at(g.bias.as_strides(), 0, k, 0, 0)];
  if (g.relu && v < 0.0) v = 0.0;
  return v;
}

// The pointer the pack gives for `uid`.
void* pointer_for(const BackendDescriptor& pack, std::int64_t uid) {
  const auto it = std::find(pack.uids.begin(), pack.uids.end(), uid);
  require_param(it != pack.uids.end(),
                "the variant pack has no data pointer for tensor uid " + std::to_string(uid));
  return pack.pointers[static_cast<std::size_t>(it - pack.uids.begin())];
}

void require_tensor_pointer(const GraphTensor& t, const void* ptr) {
  const std::string name = "the data pointer of uid " + std::to_string(t.uid);
  require_device_range(CUDNN_STATUS_BAD_PARAM, name.c_str(), ptr, t.bytes(), alignof(float));
  require(reinterpret_cast<std::uintptr_t>(ptr) % static_cast<std::uintptr_t>(t.alignment) == 0,
          CUDNN_STATUS_BAD_PARAM_MISALIGNED_POINTER,
          name + " is not aligned to the tensor's BYTE_ALIGNMENT " + std::to_string(t.alignment));
}

bool overlap(const void* a, std::size_t a_bytes, const void* b, std::size_t b_bytes) {
  const auto first = reinterpret_cast<std::uintptr_t>(a);
  const auto second = reinterpret_cast<std::uintptr_t>(b);
  return first < second + b_bytes && second < first + a_bytes;
}

const BackendDescriptor& finalized_of(const char* name, cudnnBackendDescriptor_t d,
                                      cudnnBackendDescriptorType_t type) {
  const BackendDescriptor& desc = live_backend(name, d);
  require(desc.type == type, CUDNN_STATUS_BAD_PARAM_DESCRIPTOR_TYPE,
          std::string(name) + " is a descriptor of type " +
              std::to_string(static_cast<int>(desc.type)));
  require(desc.finalized, CUDNN_STATUS_BAD_PARAM_NOT_FINALIZED,
          std::string(name) + " is not finalized");
  return desc;
}

// Each boundary tensor's checked pointer, in FusedGraph::boundary() order.
std::vector<void*> boundary_pointers(const FusedGraph& g, const BackendDescriptor& pack) {
  const std::vector<const GraphTensor*> tensors = g.boundary();
  require_param(pack.uids.size() == tensors.size(),
                "the variant pack has " + std::to_string(pack.uids.size()) +
                    " data pointers but the graph has " + std::to_string(tensors.size()) +
                    " non-virtual tensors");
  std::vector<void*> pointers;
  for (const GraphTensor* t : tensors) {
    pointers.push_back(pointer_for(pack, t->uid));
    require_tensor_pointer(*t, pointers.back());
  }
  for (std::size_t i = 0; i < tensors.size(); ++i) {
    if (tensors[i] == &g.y) continue;
    require_param(!overlap(pointers[2], g.y.bytes(), pointers[i], tensors[i]->bytes()),
                  "y overlaps an input (the graph does not work in place)");
  }
  return pointers;
}

}  // namespace

Strides GraphTensor::as_strides() const { return {strides[0], strides[1], strides[2], strides[3]}; }

int engines_offered() {
  const char* value = std::getenv("KILN_CUDA_EMULATION_GRAPH_ENGINES");
  return value != nullptr && std::string(value) == "0" ? 0 : 2;
}

bool engine_is_tensor_core(int engine) { return engine == 0; }

std::size_t engine_workspace(int engine, const FusedGraph& graph) {
  return engine == 1 ? static_cast<std::size_t>(graph.conv.k) * sizeof(double) : 0;
}

void run_fused_graph(const FusedGraph& g, int engine, const float* x, const float* w,
                     const float* bias, float* y, void* workspace) {
  const ConvolutionProblem& p = g.conv;
  const bool tf32 = engine_is_tensor_core(engine);
  for (int n = 0; n < p.n; ++n) {
    for (int oy = 0; oy < p.oh; ++oy) {
      for (int ox = 0; ox < p.ow; ++ox) {
        for (int k = 0; k < p.k; ++k) {
          double sum = forward_output_sum(p, x, w, n, oy, ox, k, tf32);
          if (workspace != nullptr) {  // engine 1 keeps the pixel's sums in its workspace
            auto* slot = static_cast<unsigned char*>(workspace) + k * sizeof(double);
            std::memcpy(slot, &sum, sizeof(sum));
            std::memcpy(&sum, slot, sizeof(sum));
          }
          y[at(p.y, n, k, oy, ox)] = static_cast<float>(epilogue(g, bias, k, sum));
        }
      }
    }
  }
}

}  // namespace kiln::emu::cudnn

using namespace kiln::emu;
using namespace kiln::emu::cudnn;

cudnnStatus_t cudnnBackendExecute(cudnnHandle_t handle, cudnnBackendDescriptor_t executionPlan,
                                  cudnnBackendDescriptor_t variantPack) {
  const char* call = "cudnnBackendExecute";
  return run_cudnn(call, [&] {
    const cudnnContext& context = live("handle", handle);
    const BackendDescriptor& plan =
        finalized_of("executionPlan", executionPlan, CUDNN_BACKEND_EXECUTION_PLAN_DESCRIPTOR);
    const BackendDescriptor& pack =
        finalized_of("variantPack", variantPack, CUDNN_BACKEND_VARIANT_PACK_DESCRIPTOR);
    const std::shared_ptr<const FusedGraph> graph = plan.graph;
    const std::vector<void*> pointers = boundary_pointers(*graph, pack);
    void* workspace = plan.workspace > 0 ? pack.workspace_pointer : nullptr;
    if (plan.workspace > 0) {
      require_device_range(CUDNN_STATUS_BAD_PARAM, "the variant pack's workspace", workspace,
                           plan.workspace, 1);
    }
    require_stream(context);
    std::vector<CheckedRange> ranges;
    for (std::size_t i = 0; i < pointers.size(); ++i) {
      ranges.push_back(
          checked_range("a variant pack pointer", pointers[i], graph->boundary()[i]->bytes()));
    }
    if (workspace != nullptr)
      ranges.push_back(checked_range("workspace", workspace, plan.workspace));
    const int engine = plan.engine;
    const auto* bias = graph->has_bias ? static_cast<const float*>(pointers[3]) : nullptr;
    queue_or_fail(CUDNN_STATUS_EXECUTION_FAILED, context.stream, call, [=] {
      if (!ranges_still_live(call, ranges)) return;
      run_fused_graph(*graph, engine, static_cast<const float*>(pointers[0]),
                      static_cast<const float*>(pointers[1]), bias,
                      static_cast<float*>(pointers[2]), workspace);
      check_redzones_after(call);
    });
  });
}
