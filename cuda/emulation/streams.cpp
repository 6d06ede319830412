// The emulated CUDA runtime's streams (emulator.h): creation with flags, destruction (a destroyed
// stream is refused from then on), and the synchronising calls, which deliver the pending fault —
// work runs at the call, so there is nothing to wait for — and which a stream capture forbids
// (Note [Stream capture] in stream_capture.cpp).
#include <cuda_runtime_api.h>
#include <fmt/format.h>

#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "emulator.h"

namespace kiln::emu {

namespace {

struct StreamRegistry {
  std::mutex mutex;
  std::map<cudaStream_t, unsigned> live;  // stream -> its creation flags
  std::vector<cudaStream_t> retired;      // destroyed; kept so no new stream reuses the address
};

StreamRegistry& streams() {
  static auto* registry = new StreamRegistry;  // never destroyed
  return *registry;
}

cudaError_t fail(cudaError_t code, const std::string& message) {
  record_launch_error(code, message);
  return code;
}

}  // namespace

bool stream_is_valid(cudaStream_t stream) {
  if (stream_is_legacy(stream) || stream == cudaStreamPerThread) return true;
  StreamRegistry& r = streams();
  std::lock_guard lock(r.mutex);
  return r.live.count(stream) == 1;
}

bool stream_is_legacy(cudaStream_t stream) {
  return stream == nullptr || stream == cudaStreamLegacy;
}

// The per-thread default stream synchronises with the legacy stream as a blocking stream does.
bool stream_is_blocking(cudaStream_t stream) {
  if (stream == cudaStreamPerThread) return true;
  StreamRegistry& r = streams();
  std::lock_guard lock(r.mutex);
  const auto it = r.live.find(stream);
  return it != r.live.end() && (it->second & cudaStreamNonBlocking) == 0;
}

std::string stream_name(cudaStream_t stream) {
  if (stream_is_legacy(stream)) return "the legacy default stream";
  if (stream == cudaStreamPerThread) return "the per-thread default stream";
  return fmt::format("stream {}", static_cast<const void*>(stream));
}

}  // namespace kiln::emu

using namespace kiln::emu;

cudaError_t cudaStreamCreateWithFlags(cudaStream_t* stream, unsigned int flags) {
  if (stream == nullptr) return fail(cudaErrorInvalidValue, "cudaStreamCreateWithFlags(nullptr)");
  if (flags != cudaStreamDefault && flags != cudaStreamNonBlocking) {
    return fail(cudaErrorInvalidValue,
                fmt::format("cudaStreamCreateWithFlags: flags {} are not valid", flags));
  }
  auto* handle = reinterpret_cast<cudaStream_t>(new char);  // a unique address, never reused
  StreamRegistry& r = streams();
  std::lock_guard lock(r.mutex);
  r.live[handle] = flags;
  *stream = handle;
  return cudaSuccess;
}

cudaError_t cudaStreamCreate(cudaStream_t* stream) {
  return cudaStreamCreateWithFlags(stream, cudaStreamDefault);
}

// CUDA does not document destroying a stream that captures; the emulation refuses it (it would
// leave a capture nobody can end) and invalidates the capture.
cudaError_t cudaStreamDestroy(cudaStream_t stream) {
  if (!stream_is_valid(stream) || stream_is_legacy(stream) || stream == cudaStreamPerThread) {
    return fail(cudaErrorInvalidResourceHandle,
                "cudaStreamDestroy of a stream that does not exist (destroyed twice?)");
  }
  const cudaError_t capturing =
      refuse_if_capturing(stream, cudaErrorStreamCaptureUnsupported, "cudaStreamDestroy");
  if (capturing != cudaSuccess) return capturing;
  StreamRegistry& r = streams();
  std::lock_guard lock(r.mutex);
  if (r.live.erase(stream) == 0) {
    return fail(cudaErrorInvalidResourceHandle,
                "cudaStreamDestroy of a stream that does not exist (destroyed twice?)");
  }
  r.retired.push_back(stream);
  return cudaSuccess;
}

cudaError_t cudaStreamSynchronize(cudaStream_t stream) {
  if (!stream_is_valid(stream)) {
    return fail(cudaErrorInvalidResourceHandle,
                "cudaStreamSynchronize on a stream that does not exist (destroyed?)");
  }
  const cudaError_t capturing =
      refuse_if_capturing(stream, cudaErrorStreamCaptureUnsupported, "cudaStreamSynchronize");
  if (capturing != cudaSuccess) return capturing;
  return deliver_pending_fault();
}

cudaError_t cudaDeviceSynchronize(void) {
  const cudaError_t capturing = refuse_device_synchronize("cudaDeviceSynchronize");
  if (capturing != cudaSuccess) return capturing;
  return deliver_pending_fault();
}
