// What the stream capture (stream_capture.cpp) hands to the graphs (graphs.cpp): the work a
// capture recorded, in order (Note [Stream capture] in stream_capture.cpp).
#pragma once

#include <cuda_runtime_api.h>

#include <functional>
#include <string>
#include <vector>

namespace kiln::emu {

struct RecordedWork {
  std::string what;  // for messages: "kernel fill_kernel (launched at x.cu:12)", "cublasGemmEx"
  std::function<void()> work;
};

using RecordedWorks = std::vector<RecordedWork>;

// A new graph holding `works` (cudaStreamEndCapture hands it out).
cudaGraph_t make_graph(RecordedWorks works);

}  // namespace kiln::emu
