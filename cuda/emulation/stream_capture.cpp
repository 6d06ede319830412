// Stream capture on the emulated GPU (emulator.h): cudaStreamBeginCapture, cudaStreamEndCapture,
// cudaStreamIsCapturing, cudaStreamGetCaptureInfo, cudaThreadExchangeStreamCaptureMode, and the
// checks every other call makes against the captures in progress.
//
// Note [Stream capture]
// ~~~~~~~~~~~~~~~~~~~~~
// The rules are those of the CUDA programming guide ("CUDA Graphs": "Stream Capture",
// "Prohibited and Unhandled Operations", "Invalidation") and the runtime API reference
// (cudaStreamBeginCapture, cudaStreamEndCapture, cudaStreamIsCapturing,
// cudaThreadExchangeStreamCaptureMode):
// - Between cudaStreamBeginCapture and cudaStreamEndCapture, work queued on the stream is
//   recorded, not run (run_or_record); cudaStreamEndCapture returns it as a graph, and every
//   cudaGraphLaunch of it replays the work in order, synchronously (graphs.cpp). Arguments are
//   checked when the work is queued, as the real calls check them.
// - Synchronising a capturing stream, or the device while any stream captures, is invalid
//   (cudaErrorStreamCaptureUnsupported); so is a copy from or to pageable host memory on a
//   capturing stream — every host buffer of the emulation is pageable — and cuDNN's Find, which
//   synchronises.
// - While a blocking stream (one created without cudaStreamNonBlocking) captures, any use of the
//   legacy stream is invalid, as it would depend on the capture: cudaErrorStreamCaptureImplicit.
//   The synchronous cudaMemcpy and cudaMemset use the legacy stream.
// - "Potentially unsafe" calls are refused (cudaErrorStreamCaptureUnsupported) as the calling
//   thread's interaction mode says (cudaThreadExchangeStreamCaptureMode; global by default):
//   global — while this thread has a capture not begun in relaxed mode, or another thread has a
//   capture begun in global mode; thread-local — while this thread has a capture not begun in
//   relaxed mode; relaxed — never. cudaMalloc is CUDA's documented example; the emulation treats
//   cudaFree (it synchronises the device) and the synchronous cudaMemcpy the same way.
// - An invalid operation invalidates the captures it concerns, so does a failing call that queues
//   work on a capturing stream (a launch with a bad configuration): the stream stays in capture
//   mode, every further use of it fails with cudaErrorStreamCaptureInvalidated, and
//   cudaStreamEndCapture ends the capture with a NULL graph and that same error.
// - cudaStreamBeginCapture refuses the legacy stream (cudaErrorStreamCaptureUnsupported) and a
//   stream already capturing (cudaErrorIllegalState); cudaStreamEndCapture refuses a stream that
//   is not capturing (cudaErrorIllegalState) and, unless the capture is relaxed, a thread other
//   than the one that began it (cudaErrorStreamCaptureWrongThread).
// Every refusal is printed on stderr and recorded as the last error. Not emulated: captures that
// span several streams (events), cudaStreamBeginCaptureToGraph, the graph node APIs.
#include "stream_capture.h"

#include <cuda_runtime_api.h>
#include <fmt/format.h>

#include <cstdio>
#include <cstring>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "emulator.h"

namespace kiln::emu {

namespace {

struct Capture {
  cudaStream_t stream = nullptr;
  unsigned long long id = 0;
  cudaStreamCaptureMode mode = cudaStreamCaptureModeGlobal;
  std::thread::id thread;
  bool blocking = false;  // the stream synchronises with the legacy stream
  bool invalidated = false;
  std::string invalidated_by;
  RecordedWorks works;
};

struct Captures {
  std::mutex mutex;
  std::map<const void*, Capture> by_stream;  // by key()
  unsigned long long next_id = 0;
};

Captures& captures() {
  static auto* all = new Captures;  // never destroyed
  return *all;
}

thread_local char per_thread_stream;  // cudaStreamPerThread is one stream per host thread
thread_local cudaStreamCaptureMode interaction_mode = cudaStreamCaptureModeGlobal;

const void* key(cudaStream_t stream) {
  return stream == cudaStreamPerThread ? static_cast<const void*>(&per_thread_stream) : stream;
}

// Caller holds the mutex.
Capture* find(Captures& all, cudaStream_t stream) {
  const auto it = all.by_stream.find(key(stream));
  return it != all.by_stream.end() ? &it->second : nullptr;
}

const char* mode_name(cudaStreamCaptureMode mode) {
  switch (mode) {
    case cudaStreamCaptureModeGlobal: return "global";
    case cudaStreamCaptureModeThreadLocal: return "thread-local";
    case cudaStreamCaptureModeRelaxed: return "relaxed";
  }
  return "unknown";
}

bool is_mode(cudaStreamCaptureMode mode) {
  return mode == cudaStreamCaptureModeGlobal || mode == cudaStreamCaptureModeThreadLocal ||
         mode == cudaStreamCaptureModeRelaxed;
}

std::string capture_name(const Capture& c) {
  return fmt::format("the capture on {} (begun in {} mode)", stream_name(c.stream),
                     mode_name(c.mode));
}

void invalidate(Capture& c, const std::string& why) {
  if (c.invalidated) return;
  c.invalidated = true;
  c.invalidated_by = why;
  c.works.clear();
}

// A refusal decided under the mutex, reported after it is released.
struct Refusal {
  cudaError_t code = cudaSuccess;
  std::string message;
};

cudaError_t deliver(const Refusal& refusal) {
  if (refusal.code != cudaSuccess) report_refusal(refusal.code, refusal.message);
  return refusal.code;
}

Refusal invalidated_refusal(const Capture& c, const std::string& what) {
  return {cudaErrorStreamCaptureInvalidated,
          fmt::format("{} on {}: {} was invalidated by {}; end it with cudaStreamEndCapture", what,
                      stream_name(c.stream), capture_name(c), c.invalidated_by)};
}

// `what` uses the legacy stream: refused while blocking streams capture, invalidating them.
Refusal implicit_refusal(Captures& all, const std::string& what) {
  std::string capturing;
  for (auto& [stream_key, c] : all.by_stream) {
    if (!c.blocking) continue;
    invalidate(c, what + " on the legacy default stream");
    capturing += (capturing.empty() ? "" : ", ") + capture_name(c);
  }
  if (capturing.empty()) return {};
  return {cudaErrorStreamCaptureImplicit,
          fmt::format("{} uses the legacy default stream while a blocking stream captures ({}); "
                      "that capture is now invalidated",
                      what, capturing)};
}

// Whether the calling thread may not make a potentially unsafe call because of `c`.
bool forbids_unsafe_calls(const Capture& c) {
  const bool own = c.thread == std::this_thread::get_id();
  if (own) return c.mode != cudaStreamCaptureModeRelaxed;
  return interaction_mode == cudaStreamCaptureModeGlobal && c.mode == cudaStreamCaptureModeGlobal;
}

cudaError_t fail(cudaError_t code, const std::string& message) {
  report_refusal(code, message);
  return code;
}

// The status of `stream`'s capture; cudaErrorStreamCaptureImplicit for the legacy stream while
// a blocking stream captures (which does not invalidate it).
cudaError_t capture_status(cudaStream_t stream, const char* call, cudaStreamCaptureStatus* status,
                           unsigned long long* id) {
  if (!stream_is_valid(stream)) {
    return fail(cudaErrorInvalidResourceHandle,
                fmt::format("{} on a stream that does not exist (destroyed?)", call));
  }
  Captures& all = captures();
  std::lock_guard lock(all.mutex);
  if (const Capture* c = find(all, stream)) {
    *status = c->invalidated ? cudaStreamCaptureStatusInvalidated : cudaStreamCaptureStatusActive;
    if (id != nullptr) *id = c->id;
    return cudaSuccess;
  }
  if (stream_is_legacy(stream)) {
    for (const auto& [stream_key, c] : all.by_stream) {
      if (!c.blocking) continue;
      record_launch_error(cudaErrorStreamCaptureImplicit,
                          fmt::format("{} on the legacy default stream while {} (a blocking "
                                      "stream) captures",
                                      call, stream_name(c.stream)));
      return cudaErrorStreamCaptureImplicit;
    }
  }
  *status = cudaStreamCaptureStatusNone;
  return cudaSuccess;
}

}  // namespace

cudaError_t run_or_record(cudaStream_t stream, const std::string& what,
                          std::function<void()> work) {
  Refusal refusal;
  {
    Captures& all = captures();
    std::lock_guard lock(all.mutex);
    if (Capture* c = find(all, stream)) {
      if (!c->invalidated) {
        c->works.push_back({what, std::move(work)});
        return cudaSuccess;
      }
      refusal = invalidated_refusal(*c, what);
    } else if (stream_is_legacy(stream)) {
      refusal = implicit_refusal(all, what);
    }
  }
  if (refusal.code != cudaSuccess) return deliver(refusal);
  work();
  return cudaSuccess;
}

bool stream_is_capturing(cudaStream_t stream) {
  Captures& all = captures();
  std::lock_guard lock(all.mutex);
  return find(all, stream) != nullptr;
}

cudaError_t refuse_if_capturing(cudaStream_t stream, cudaError_t code, const std::string& call) {
  Refusal refusal;
  {
    Captures& all = captures();
    std::lock_guard lock(all.mutex);
    if (Capture* c = find(all, stream)) {
      if (c->invalidated) {
        refusal = invalidated_refusal(*c, call);
      } else {
        invalidate(*c, call);
        refusal = {code, fmt::format("{} on {} while it captures is not permitted; {} is now "
                                     "invalidated",
                                     call, stream_name(stream), capture_name(*c))};
      }
    } else if (stream_is_legacy(stream)) {
      refusal = implicit_refusal(all, call);
    }
  }
  return deliver(refusal);
}

cudaError_t refuse_unsafe_call(const std::string& call) {
  if (interaction_mode == cudaStreamCaptureModeRelaxed) return cudaSuccess;
  Refusal refusal;
  {
    Captures& all = captures();
    std::lock_guard lock(all.mutex);
    std::string forbidding;
    for (auto& [stream_key, c] : all.by_stream) {
      if (!forbids_unsafe_calls(c)) continue;
      invalidate(c, call);
      forbidding += (forbidding.empty() ? "" : ", ") + capture_name(c);
    }
    if (!forbidding.empty()) {
      refusal = {cudaErrorStreamCaptureUnsupported,
                 fmt::format("{} is potentially unsafe during stream capture and this thread's "
                             "capture mode ({}) forbids it while {} is under way; that capture "
                             "is now invalidated (cudaThreadExchangeStreamCaptureMode)",
                             call, mode_name(interaction_mode), forbidding)};
    }
  }
  return deliver(refusal);
}

cudaError_t refuse_device_synchronize(const std::string& call) {
  Refusal refusal;
  {
    Captures& all = captures();
    std::lock_guard lock(all.mutex);
    std::string capturing;
    for (auto& [stream_key, c] : all.by_stream) {
      invalidate(c, call);
      capturing += (capturing.empty() ? "" : ", ") + capture_name(c);
    }
    if (!capturing.empty()) {
      refusal = {cudaErrorStreamCaptureUnsupported,
                 fmt::format("{} synchronises the device while {} is under way; that capture is "
                             "now invalidated",
                             call, capturing)};
    }
  }
  return deliver(refusal);
}

void invalidate_capture(cudaStream_t stream, const std::string& why) {
  std::string message;
  {
    Captures& all = captures();
    std::lock_guard lock(all.mutex);
    Capture* c = find(all, stream);
    if (c == nullptr || c->invalidated) return;
    invalidate(*c, why);
    message = fmt::format("{} is invalidated by a failed call: {}", capture_name(*c), why);
  }
  std::fprintf(stderr, "kiln CUDA emulation: %s\n", message.c_str());
}

}  // namespace kiln::emu

using namespace kiln::emu;

cudaError_t cudaStreamBeginCapture(cudaStream_t stream, enum cudaStreamCaptureMode mode) {
  if (!is_mode(mode)) {
    return fail(cudaErrorInvalidValue,
                fmt::format("cudaStreamBeginCapture: mode {} is not a cudaStreamCaptureMode",
                            static_cast<int>(mode)));
  }
  if (!stream_is_valid(stream)) {
    return fail(cudaErrorInvalidResourceHandle,
                "cudaStreamBeginCapture on a stream that does not exist (destroyed?)");
  }
  if (stream_is_legacy(stream)) {
    return fail(cudaErrorStreamCaptureUnsupported,
                "cudaStreamBeginCapture on the legacy default stream: capture may not be "
                "initiated there (use a created stream)");
  }
  const bool blocking = stream_is_blocking(stream);
  Captures& all = captures();
  std::unique_lock lock(all.mutex);
  if (const Capture* c = find(all, stream)) {
    const std::string message =
        fmt::format("cudaStreamBeginCapture on {}, which is already capturing ({})",
                    stream_name(stream), capture_name(*c));
    lock.unlock();
    return fail(cudaErrorIllegalState, message);
  }
  Capture& c = all.by_stream[key(stream)];
  c.stream = stream;
  c.id = ++all.next_id;
  c.mode = mode;
  c.thread = std::this_thread::get_id();
  c.blocking = blocking;
  return cudaSuccess;
}

cudaError_t cudaStreamEndCapture(cudaStream_t stream, cudaGraph_t* pGraph) {
  if (pGraph == nullptr) return fail(cudaErrorInvalidValue, "cudaStreamEndCapture: pGraph is NULL");
  if (!stream_is_valid(stream)) {
    return fail(cudaErrorInvalidResourceHandle,
                "cudaStreamEndCapture on a stream that does not exist (destroyed?)");
  }
  Captures& all = captures();
  std::unique_lock lock(all.mutex);
  const auto it = all.by_stream.find(key(stream));
  if (it == all.by_stream.end()) {
    lock.unlock();
    return fail(
        cudaErrorIllegalState,
        fmt::format("cudaStreamEndCapture on {}, which is not capturing", stream_name(stream)));
  }
  if (it->second.mode != cudaStreamCaptureModeRelaxed &&
      it->second.thread != std::this_thread::get_id()) {
    const std::string message =
        fmt::format("cudaStreamEndCapture from a thread other than the one that began {}",
                    capture_name(it->second));
    lock.unlock();
    return fail(cudaErrorStreamCaptureWrongThread, message);
  }
  Capture ended = std::move(it->second);
  all.by_stream.erase(it);
  lock.unlock();
  if (ended.invalidated) {
    *pGraph = nullptr;
    return fail(cudaErrorStreamCaptureInvalidated,
                fmt::format("cudaStreamEndCapture: {} was invalidated by {}; no graph",
                            capture_name(ended), ended.invalidated_by));
  }
  *pGraph = make_graph(std::move(ended.works));
  return cudaSuccess;
}

cudaError_t cudaStreamIsCapturing(cudaStream_t stream,
                                  enum cudaStreamCaptureStatus* pCaptureStatus) {
  if (pCaptureStatus == nullptr) {
    return fail(cudaErrorInvalidValue, "cudaStreamIsCapturing: pCaptureStatus is NULL");
  }
  return capture_status(stream, "cudaStreamIsCapturing", pCaptureStatus, nullptr);
}

// The status and the capture's id; the graph and dependency outputs need graph node handles,
// which the emulation does not have (cudaErrorNotSupported).
cudaError_t cudaStreamGetCaptureInfo(cudaStream_t stream,
                                     enum cudaStreamCaptureStatus* captureStatus_out,
                                     unsigned long long* id_out, cudaGraph_t* graph_out,
                                     const cudaGraphNode_t** dependencies_out,
                                     const cudaGraphEdgeData** edgeData_out,
                                     size_t* numDependencies_out) {
  if (captureStatus_out == nullptr) {
    return fail(cudaErrorInvalidValue, "cudaStreamGetCaptureInfo: captureStatus_out is NULL");
  }
  if (edgeData_out != nullptr && dependencies_out == nullptr) {
    return fail(cudaErrorInvalidValue,
                "cudaStreamGetCaptureInfo: edgeData_out without dependencies_out");
  }
  if (graph_out != nullptr || dependencies_out != nullptr || numDependencies_out != nullptr) {
    return fail(cudaErrorNotSupported,
                "cudaStreamGetCaptureInfo: graph_out, dependencies_out and numDependencies_out "
                "are not emulated (the emulation has no graph node handles)");
  }
  return capture_status(stream, "cudaStreamGetCaptureInfo", captureStatus_out, id_out);
}

cudaError_t cudaThreadExchangeStreamCaptureMode(enum cudaStreamCaptureMode* mode) {
  if (mode == nullptr) {
    return fail(cudaErrorInvalidValue, "cudaThreadExchangeStreamCaptureMode: mode is NULL");
  }
  // Read as an int: a value that is no enumerant must not be loaded as the enum.
  static_assert(sizeof(cudaStreamCaptureMode) == sizeof(int));
  int requested = 0;
  std::memcpy(&requested, mode, sizeof(requested));
  if (requested != cudaStreamCaptureModeGlobal && requested != cudaStreamCaptureModeThreadLocal &&
      requested != cudaStreamCaptureModeRelaxed) {
    return fail(cudaErrorInvalidValue,
                fmt::format("cudaThreadExchangeStreamCaptureMode: {} is not a "
                            "cudaStreamCaptureMode",
                            requested));
  }
  *mode = std::exchange(interaction_mode, static_cast<cudaStreamCaptureMode>(requested));
  return cudaSuccess;
}
