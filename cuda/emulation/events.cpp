// The emulated CUDA runtime's events, the subset kiln calls (cuda/nccl_comm.cpp orders its
// communication stream against the device's stream with them): cudaEventCreateWithFlags,
// cudaEventRecord, cudaStreamWaitEvent, cudaEventDestroy.
//
// Work runs at the call (emulator.h), so an event is complete when it is recorded and a stream's
// wait for one has nothing to wait for; what is emulated is the API's checks: a destroyed or
// never-created event, an invalid stream, flags CUDA refuses. Recording or waiting on a stream
// that captures is refused (cudaErrorStreamCaptureUnsupported, the capture invalidated): on a GPU
// it would join another stream into the capture, which the emulation's one-stream captures do not
// model (docs/CUDA_EMULATION.md, "What stays GPU-only").
#include <cuda_runtime_api.h>
#include <fmt/format.h>

#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "emulator.h"

struct CUevent_st {
  unsigned flags = 0;
  bool recorded = false;
};

namespace kiln::emu {

namespace {

struct EventRegistry {
  std::mutex mutex;
  std::set<cudaEvent_t> live;
  std::vector<cudaEvent_t> retired;  // destroyed; kept so no new event reuses the address
};

EventRegistry& events() {
  static auto* registry = new EventRegistry;  // never destroyed
  return *registry;
}

cudaError_t fail(cudaError_t code, const std::string& message) {
  record_launch_error(code, message);
  return code;
}

bool event_is_live(cudaEvent_t event) {
  EventRegistry& r = events();
  std::lock_guard lock(r.mutex);
  return r.live.count(event) == 1;
}

}  // namespace

}  // namespace kiln::emu

using namespace kiln::emu;

cudaError_t cudaEventCreateWithFlags(cudaEvent_t* event, unsigned int flags) {
  if (event == nullptr) return fail(cudaErrorInvalidValue, "cudaEventCreateWithFlags(nullptr)");
  constexpr unsigned kKnown =
      cudaEventBlockingSync | cudaEventDisableTiming | cudaEventInterprocess;
  if ((flags & ~kKnown) != 0 ||
      ((flags & cudaEventInterprocess) != 0 && (flags & cudaEventDisableTiming) == 0)) {
    return fail(cudaErrorInvalidValue,
                fmt::format("cudaEventCreateWithFlags: flags {} are not valid", flags));
  }
  if ((flags & cudaEventInterprocess) != 0) {
    return fail(cudaErrorNotSupported,
                "cudaEventCreateWithFlags: interprocess events are not emulated");
  }
  auto* handle = new CUevent_st{flags, false};  // a unique address, never reused
  EventRegistry& r = events();
  std::lock_guard lock(r.mutex);
  r.live.insert(handle);
  *event = handle;
  return cudaSuccess;
}

cudaError_t cudaEventRecord(cudaEvent_t event, cudaStream_t stream) {
  if (!event_is_live(event)) {
    return fail(cudaErrorInvalidResourceHandle,
                "cudaEventRecord of an event that does not exist (destroyed?)");
  }
  if (!stream_is_valid(stream)) {
    return fail(cudaErrorInvalidResourceHandle,
                "cudaEventRecord on a stream that does not exist (destroyed?)");
  }
  const cudaError_t capturing =
      refuse_if_capturing(stream, cudaErrorStreamCaptureUnsupported,
                          "cudaEventRecord (a capture across streams is not emulated)");
  if (capturing != cudaSuccess) return capturing;
  event->recorded = true;  // the stream's work so far has run: the event is complete
  return cudaSuccess;
}

cudaError_t cudaStreamWaitEvent(cudaStream_t stream, cudaEvent_t event, unsigned int flags) {
  if (!stream_is_valid(stream)) {
    return fail(cudaErrorInvalidResourceHandle,
                "cudaStreamWaitEvent on a stream that does not exist (destroyed?)");
  }
  if (!event_is_live(event)) {
    return fail(cudaErrorInvalidResourceHandle,
                "cudaStreamWaitEvent for an event that does not exist (destroyed?)");
  }
  if (flags != cudaEventWaitDefault) {
    return fail(flags == cudaEventWaitExternal ? cudaErrorNotSupported : cudaErrorInvalidValue,
                fmt::format("cudaStreamWaitEvent: flags {} are not emulated", flags));
  }
  const cudaError_t capturing =
      refuse_if_capturing(stream, cudaErrorStreamCaptureUnsupported,
                          "cudaStreamWaitEvent (a capture across streams is not emulated)");
  if (capturing != cudaSuccess) return capturing;
  // Complete, or never recorded (which CUDA treats as complete): nothing to wait for.
  return cudaSuccess;
}

cudaError_t cudaEventDestroy(cudaEvent_t event) {
  EventRegistry& r = events();
  std::lock_guard lock(r.mutex);
  if (r.live.erase(event) == 0) {
    return fail(cudaErrorInvalidResourceHandle,
                "cudaEventDestroy of an event that does not exist (destroyed twice?)");
  }
  r.retired.push_back(event);
  return cudaSuccess;
}
