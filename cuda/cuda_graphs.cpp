// CudaBackend::capture: a step recorded on the backend's stream as a CUDA graph (Note [Captured
// steps] in src/model/step_graph.cpp), its blocks in a private pool (Note [Graph pools] in
// caching_allocator.cpp).
//
// The capture uses cudaStreamCaptureModeThreadLocal: a call on this thread that could break the
// capture (a synchronisation, cudaMalloc outside the pool's relaxed window, a copy from pageable
// host memory) is refused by the runtime and invalidates it — the refusal surfaces as a
// kiln::Error from the CHECK_CUDA of that call, which ends the capture with its message — while
// other threads' eager work on other devices goes on.
#include <cuda_runtime_api.h>

#include <cstdio>
#include <exception>
#include <memory>
#include <string>
#include <utility>

#include "cuda_backend.h"
#include "cuda_check.h"
#include "device_guard.h"
#include "kiln/error.h"

namespace kiln::cuda {

namespace {

class CudaGraph final : public backend::CapturedWork {
 public:
  CudaGraph(CudaBackend& backend, cudaGraphExec_t exec, std::shared_ptr<void> pool)
      : backend_(backend), exec_(exec), pool_(std::move(pool)) {}
  ~CudaGraph() override {
    DeviceGuard guard(backend_.device().index);
    const cudaError_t status = cudaGraphExecDestroy(exec_);
    if (status != cudaSuccess) {
      std::fprintf(stderr, "kiln: could not destroy a CUDA graph: %s\n",
                   cudaGetErrorString(status));
    }
    // pool_ goes after the graph: its blocks are free for others only once no replay can come.
  }
  CudaGraph(const CudaGraph&) = delete;
  CudaGraph& operator=(const CudaGraph&) = delete;

  void replay() override {
    DeviceGuard guard(backend_.device().index);
    CHECK_CUDA(cudaGraphLaunch(exec_, backend_.stream()));
    backend_.count_graph_replay();
  }

 private:
  CudaBackend& backend_;
  cudaGraphExec_t exec_;
  std::shared_ptr<void> pool_;
};

// Ends the capture on `stream`; the graph, or nullptr with `failure` set.
cudaGraph_t end_capture(cudaStream_t stream, std::string& failure) {
  cudaGraph_t graph = nullptr;
  const cudaError_t status = cudaStreamEndCapture(stream, &graph);
  if (status != cudaSuccess) {
    cudaGetLastError();  // handled here
    if (failure.empty())
      failure = std::string("cudaStreamEndCapture: ") + cudaGetErrorString(status);
    if (graph != nullptr) cudaGraphDestroy(graph);
    return nullptr;
  }
  if (!failure.empty() && graph != nullptr) {
    cudaGraphDestroy(graph);
    return nullptr;
  }
  return graph;
}

}  // namespace

backend::Backend::Capture CudaBackend::capture(const std::function<void()>& work) {
  DeviceGuard guard(device_index_);
  allocator_.begin_capture();
  const cudaError_t began = cudaStreamBeginCapture(stream(), cudaStreamCaptureModeThreadLocal);
  if (began != cudaSuccess) {
    cudaGetLastError();
    allocator_.end_capture();
    return {nullptr, std::string("cudaStreamBeginCapture: ") + cudaGetErrorString(began)};
  }
  std::string failure;
  try {
    const SyncChecksPaused paused;  // KILN_CUDA_SYNC=1 would break the capture
    work();
  } catch (const std::exception& e) {  // a kiln::Error, mostly: a call the capture refused
    failure = e.what();
  }
  cudaGraph_t graph = end_capture(stream(), failure);
  std::shared_ptr<void> pool = allocator_.end_capture();
  if (graph == nullptr) return {nullptr, failure};
  cudaGraphExec_t exec = nullptr;
  const cudaError_t instantiated = cudaGraphInstantiate(&exec, graph, 0);
  cudaGraphDestroy(graph);
  if (instantiated != cudaSuccess) {
    cudaGetLastError();
    return {nullptr, std::string("cudaGraphInstantiate: ") + cudaGetErrorString(instantiated)};
  }
  return {std::make_unique<CudaGraph>(*this, exec, std::move(pool)), ""};
}

}  // namespace kiln::cuda
