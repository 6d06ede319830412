// Helpers for the tests of stream capture and graphs (test_graph_*.cpp): streams, captured graphs
// and their executables as RAII objects, and the end of a capture a refused call invalidated
// (device buffers: emulation_test_support.h).
#pragma once

#include <cuda_runtime_api.h>
#include <gtest/gtest.h>

#include <memory>

#include "emulation_test_support.h"

namespace kiln::emu_test {

class Stream {
 public:
  explicit Stream(unsigned flags = cudaStreamNonBlocking) {
    EXPECT_EQ(cudaStreamCreateWithFlags(&stream_, flags), cudaSuccess);
  }
  ~Stream() { cudaStreamDestroy(stream_); }
  Stream(const Stream&) = delete;
  Stream& operator=(const Stream&) = delete;
  cudaStream_t get() const { return stream_; }

 private:
  cudaStream_t stream_ = nullptr;
};

class Graph {
 public:
  Graph() = default;
  explicit Graph(cudaGraph_t graph) : graph_(graph) {}
  ~Graph() {
    if (graph_ != nullptr) cudaGraphDestroy(graph_);
  }
  Graph(const Graph&) = delete;
  Graph& operator=(const Graph&) = delete;
  cudaGraph_t get() const { return graph_; }
  cudaGraph_t* out() { return &graph_; }
  cudaGraph_t release() {
    cudaGraph_t graph = graph_;
    graph_ = nullptr;
    return graph;
  }

 private:
  cudaGraph_t graph_ = nullptr;
};

class GraphExec {
 public:
  GraphExec() = default;
  explicit GraphExec(cudaGraph_t graph) {
    EXPECT_EQ(cudaGraphInstantiate(&exec_, graph, 0), cudaSuccess);
  }
  ~GraphExec() {
    if (exec_ != nullptr) cudaGraphExecDestroy(exec_);
  }
  GraphExec(const GraphExec&) = delete;
  GraphExec& operator=(const GraphExec&) = delete;
  cudaGraphExec_t get() const { return exec_; }

 private:
  cudaGraphExec_t exec_ = nullptr;
};

inline cudaStreamCaptureStatus capture_status(cudaStream_t stream) {
  cudaStreamCaptureStatus status = cudaStreamCaptureStatusNone;
  EXPECT_EQ(cudaStreamIsCapturing(stream, &status), cudaSuccess);
  return status;
}

// Ends the capture on `stream`, frees `doomed` (memory the captured work uses) and launches the
// graph once: the fault that launch leaves for cudaStreamSynchronize.
template <class Doomed>
cudaError_t replay_after_freeing(cudaStream_t stream, std::unique_ptr<Doomed>& doomed) {
  Graph graph;
  EXPECT_EQ(cudaStreamEndCapture(stream, graph.out()), cudaSuccess);
  GraphExec exec(graph.get());
  doomed.reset();
  EXPECT_EQ(cudaGraphLaunch(exec.get(), stream), cudaSuccess) << "faults arrive later";
  return cudaStreamSynchronize(stream);
}

// Ends a capture that a refused call invalidated: cudaStreamEndCapture must fail with
// cudaErrorStreamCaptureInvalidated and give no graph; the stream is usable again afterwards.
inline void expect_invalidated_end(cudaStream_t stream) {
  EXPECT_EQ(capture_status(stream), cudaStreamCaptureStatusInvalidated);
  cudaGraph_t graph = reinterpret_cast<cudaGraph_t>(0x1);
  EXPECT_EQ(cudaStreamEndCapture(stream, &graph), cudaErrorStreamCaptureInvalidated);
  EXPECT_EQ(graph, nullptr);
  EXPECT_EQ(capture_status(stream), cudaStreamCaptureStatusNone);
  cudaGetLastError();
}

}  // namespace kiln::emu_test
