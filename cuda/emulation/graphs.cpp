// CUDA graphs made by stream capture (Note [Stream capture] in stream_capture.cpp):
// cudaGraphInstantiate, cudaGraphLaunch, cudaGraphExecDestroy and cudaGraphDestroy.
//
// Note [Graph replay]
// ~~~~~~~~~~~~~~~~~~~
// A graph is the list of work its capture recorded; an executable graph shares it (CUDA lets
// the graph be destroyed once instantiated). cudaGraphLaunch replays the list in order, at the
// call — or records the replay into the launch stream's capture, as CUDA captures a graph launch
// as a child graph. Each piece of work reads the device memory as it is at that replay (a kernel
// that reads a step counter and increments it advances it every time) and checks what it
// checks when run directly: kernels run through the scheduler with all its checks and the
// redzone check after each launch; every device pointer must still lie in the allocation it had
// at capture, or the replay faults naming the call and the argument. As on a GPU, work after a
// fault does not run: the replay stops at the first piece of work that records a fault, and the
// fault is delivered by the next cudaGetLastError or synchronising call.
#include <cuda_runtime_api.h>
#include <fmt/format.h>

#include <cstdint>
#include <cstdio>
#include <memory>
#include <string>
#include <utility>

#include "emulator.h"
#include "library_support.h"
#include "stream_capture.h"

struct CUgraph_st {
  std::shared_ptr<const kiln::emu::RecordedWorks> works;
};

struct CUgraphExec_st {
  std::shared_ptr<const kiln::emu::RecordedWorks> works;
};

namespace kiln::emu {

namespace {

ObjectRegistry<CUgraph_st>& graphs() {
  static auto* registry = new ObjectRegistry<CUgraph_st>;  // never destroyed
  return *registry;
}

ObjectRegistry<CUgraphExec_st>& executables() {
  static auto* registry = new ObjectRegistry<CUgraphExec_st>;
  return *registry;
}

cudaError_t fail(cudaError_t code, const std::string& message) {
  report_refusal(code, message);
  return code;
}

// Note [Graph replay].
void replay(const RecordedWorks& works) {
  for (std::size_t i = 0; i < works.size(); ++i) {
    const std::uint64_t faults_before = faults_recorded();
    works[i].work();
    if (faults_recorded() != faults_before) {
      std::fprintf(stderr,
                   "kiln CUDA emulation: graph launch stopped at node %zu of %zu (%s); the nodes "
                   "after it did not run\n",
                   i + 1, works.size(), works[i].what.c_str());
      return;
    }
  }
}

constexpr unsigned long long kAcceptedFlags =
    cudaGraphInstantiateFlagAutoFreeOnLaunch | cudaGraphInstantiateFlagUseNodePriority;

// "" or why `flags` cannot instantiate a graph here; *code receives the error.
std::string flags_problem(unsigned long long flags, cudaError_t* code) {
  *code = cudaErrorInvalidValue;
  if ((flags & cudaGraphInstantiateFlagUpload) != 0) {
    return "cudaGraphInstantiateFlagUpload is only valid with cudaGraphInstantiateWithParams";
  }
  if ((flags & cudaGraphInstantiateFlagDeviceLaunch) != 0) {
    *code = cudaErrorNotSupported;
    return "cudaGraphInstantiateFlagDeviceLaunch is not emulated";
  }
  if ((flags & ~kAcceptedFlags) != 0) return fmt::format("flags {:#x} are not valid", flags);
  return "";
}

}  // namespace

cudaGraph_t make_graph(RecordedWorks works) {
  CUgraph_st* graph = graphs().create();
  graph->works = std::make_shared<const RecordedWorks>(std::move(works));
  return graph;
}

}  // namespace kiln::emu

using namespace kiln::emu;

// AutoFreeOnLaunch and UseNodePriority change nothing here: captured graphs hold no allocation
// nodes, and work runs in order.
cudaError_t cudaGraphInstantiate(cudaGraphExec_t* pGraphExec, cudaGraph_t graph,
                                 unsigned long long flags) {
  if (pGraphExec == nullptr) {
    return fail(cudaErrorInvalidValue, "cudaGraphInstantiate: pGraphExec is NULL");
  }
  if (graph == nullptr || !graphs().is_live(graph)) {
    return fail(cudaErrorInvalidValue,
                "cudaGraphInstantiate: graph is not a live graph (NULL — an invalidated capture "
                "gives none —, destroyed, or never created)");
  }
  cudaError_t code = cudaSuccess;
  const std::string problem = flags_problem(flags, &code);
  if (!problem.empty()) return fail(code, "cudaGraphInstantiate: " + problem);
  CUgraphExec_st* exec = executables().create();
  exec->works = graph->works;
  *pGraphExec = exec;
  return cudaSuccess;
}

cudaError_t cudaGraphLaunch(cudaGraphExec_t graphExec, cudaStream_t stream) {
  if (graphExec == nullptr || !executables().is_live(graphExec)) {
    return fail(cudaErrorInvalidValue,
                "cudaGraphLaunch: graphExec is not a live executable graph (destroyed, or never "
                "instantiated)");
  }
  if (!stream_is_valid(stream)) {
    return fail(cudaErrorInvalidResourceHandle,
                "cudaGraphLaunch on a stream that does not exist (destroyed?)");
  }
  std::shared_ptr<const RecordedWorks> works = graphExec->works;
  return run_or_record(stream, fmt::format("cudaGraphLaunch of {} nodes", works->size()),
                       [works] { replay(*works); });
}

cudaError_t cudaGraphExecDestroy(cudaGraphExec_t graphExec) {
  if (graphExec == nullptr || !executables().is_live(graphExec)) {
    return fail(cudaErrorInvalidValue,
                "cudaGraphExecDestroy: graphExec is not a live executable graph (destroyed "
                "twice?)");
  }
  graphExec->works.reset();
  executables().destroy(graphExec);
  return cudaSuccess;
}

cudaError_t cudaGraphDestroy(cudaGraph_t graph) {
  if (graph == nullptr || !graphs().is_live(graph)) {
    return fail(cudaErrorInvalidValue,
                "cudaGraphDestroy: graph is not a live graph (destroyed twice?)");
  }
  graph->works.reset();
  graphs().destroy(graph);
  return cudaSuccess;
}
