// The CUDA runtime API, the part kiln calls, for the emulated GPU (emulator.h): devices, memory
// and copies (errors: errors.cpp; streams: streams.cpp; capture and graphs: stream_capture.cpp,
// graphs.cpp). Every function checks its arguments as the documentation says the runtime does,
// and more strictly where the real runtime would silently misbehave: a copy whose direction does
// not match its pointers, a range that runs past its allocation, a stream that was destroyed.
// Work is done at the call (copies and kernels are synchronous) or recorded into a stream's
// capture (run_or_record).
#include <cuda_runtime_api.h>
#include <fmt/format.h>

#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "emulator.h"
#include "library_support.h"

namespace kiln::emu {

namespace {

int device_count_from_environment() {
  const char* value = std::getenv("KILN_CUDA_EMULATION_DEVICES");
  if (value == nullptr || *value == '\0') return 1;
  const int count = std::atoi(value);
  return count >= 0 && count <= 64 ? count : 1;
}

int device_count() {
  static const int count = device_count_from_environment();
  return count;
}

thread_local int current_device = 0;

// Records `code` as the last error (Note [Errors] in errors.cpp) and returns it.
cudaError_t fail(cudaError_t code, const std::string& message) {
  record_launch_error(code, message);
  return code;
}

// As fail, for a call that queues work on `stream`: a failing call invalidates the stream's
// capture, if it has one (Note [Stream capture] in stream_capture.cpp).
cudaError_t fail_on(cudaStream_t stream, cudaError_t code, const std::string& message) {
  record_launch_error(code, message);
  invalidate_capture(stream, message);
  return code;
}

std::string size_text(std::size_t bytes) { return std::to_string(bytes) + " bytes"; }

const char* kind_name(cudaMemcpyKind kind) {
  switch (kind) {
    case cudaMemcpyHostToHost: return "host to host";
    case cudaMemcpyHostToDevice: return "host to device";
    case cudaMemcpyDeviceToHost: return "device to host";
    case cudaMemcpyDeviceToDevice: return "device to device";
    case cudaMemcpyDefault: return "default";
  }
  return "unknown kind";
}

// "" when [ptr, ptr + bytes) is where `device` says it must be, else the problem.
std::string side_problem(const char* side, const void* ptr, std::size_t bytes, bool device) {
  if (ptr == nullptr) return fmt::format("the {} is a null pointer", side);
  if (device && !is_device_range(ptr, bytes)) {
    return fmt::format("the {} {} is not a device range of {}", side, describe_pointer(ptr),
                       size_text(bytes));
  }
  if (!device && is_device_pointer(ptr)) {
    return fmt::format("the {} {} is device memory, but the copy's kind says host", side,
                       describe_pointer(ptr));
  }
  return "";
}

struct CopySides {
  bool valid = true;  // the kind is a cudaMemcpyKind
  bool dst_device = false;
  bool src_device = false;
};

CopySides copy_sides(const void* dst, const void* src, cudaMemcpyKind kind) {
  switch (kind) {
    case cudaMemcpyHostToHost: return {};
    case cudaMemcpyHostToDevice: return {true, true, false};
    case cudaMemcpyDeviceToHost: return {true, false, true};
    case cudaMemcpyDeviceToDevice: return {true, true, true};
    case cudaMemcpyDefault: return {true, is_device_pointer(dst), is_device_pointer(src)};
  }
  return {false};
}

// A copy: checked now; run now or recorded into the stream's capture, where a copy that touches
// host memory is refused (every host buffer of the emulation is pageable: CUDA cannot capture a
// copy from or to pageable memory).
cudaError_t copy(void* dst, const void* src, std::size_t count, cudaMemcpyKind kind,
                 cudaStream_t stream, const char* call) {
  if (!stream_is_valid(stream)) {
    return fail(cudaErrorInvalidResourceHandle,
                fmt::format("{} on a stream that does not exist (destroyed?)", call));
  }
  if (count == 0) return cudaSuccess;
  const CopySides sides = copy_sides(dst, src, kind);
  if (!sides.valid) {
    return fail_on(
        stream, cudaErrorInvalidMemcpyDirection,
        fmt::format("{}: copy kind {} is not a cudaMemcpyKind", call, static_cast<int>(kind)));
  }
  std::string problem = side_problem("destination", dst, count, sides.dst_device);
  if (problem.empty()) problem = side_problem("source", src, count, sides.src_device);
  if (!problem.empty()) {
    return fail_on(
        stream, cudaErrorInvalidValue,
        fmt::format("{} ({}, {}): {}", call, kind_name(kind), size_text(count), problem));
  }
  if (!sides.dst_device || !sides.src_device) {
    const cudaError_t refused = refuse_if_capturing(
        stream, cudaErrorStreamCaptureUnsupported,
        fmt::format("{} ({}) from or to pageable host memory", call, kind_name(kind)));
    if (refused != cudaSuccess) return refused;
  }
  std::vector<CheckedRange> ranges;
  if (sides.dst_device) ranges.push_back(checked_range("dst", dst, count));
  if (sides.src_device) ranges.push_back(checked_range("src", src, count));
  return run_or_record(stream, call, [=] {
    if (ranges_still_live(call, ranges)) std::memmove(dst, src, count);
  });
}

cudaError_t set(void* ptr, int value, std::size_t count, cudaStream_t stream, const char* call) {
  if (!stream_is_valid(stream)) {
    return fail(cudaErrorInvalidResourceHandle,
                fmt::format("{} on a stream that does not exist (destroyed?)", call));
  }
  if (count == 0) return cudaSuccess;
  if (!is_device_range(ptr, count)) {
    return fail_on(stream, cudaErrorInvalidValue,
                   fmt::format("{} of {} at {}: not a device range", call, size_text(count),
                               describe_pointer(ptr)));
  }
  const std::vector<CheckedRange> ranges{checked_range("devPtr", ptr, count)};
  return run_or_record(stream, call, [=] {
    if (ranges_still_live(call, ranges)) std::memset(ptr, value, count);
  });
}

}  // namespace

}  // namespace kiln::emu

using namespace kiln::emu;

// ---- devices and versions

cudaError_t cudaGetDeviceCount(int* count) {
  if (count == nullptr) return fail(cudaErrorInvalidValue, "cudaGetDeviceCount(nullptr)");
  *count = device_count();
  if (*count == 0) return fail(cudaErrorNoDevice, "KILN_CUDA_EMULATION_DEVICES=0");
  return cudaSuccess;
}

cudaError_t cudaGetDevice(int* device) {
  if (device == nullptr) return fail(cudaErrorInvalidValue, "cudaGetDevice(nullptr)");
  *device = current_device;
  return cudaSuccess;
}

cudaError_t cudaSetDevice(int device) {
  if (device < 0 || device >= device_count()) {
    return fail(cudaErrorInvalidDevice, "cudaSetDevice(" + std::to_string(device) + ") with " +
                                            std::to_string(device_count()) + " device(s)");
  }
  current_device = device;
  return cudaSuccess;
}

cudaError_t cudaDeviceGetAttribute(int* value, cudaDeviceAttr attribute, int device) {
  if (value == nullptr) return fail(cudaErrorInvalidValue, "cudaDeviceGetAttribute(nullptr)");
  if (device < 0 || device >= device_count()) {
    return fail(cudaErrorInvalidDevice,
                "cudaDeviceGetAttribute for device " + std::to_string(device));
  }
  switch (attribute) {  // an H100-like device
    case cudaDevAttrComputeCapabilityMajor: *value = 9; return cudaSuccess;
    case cudaDevAttrComputeCapabilityMinor: *value = 0; return cudaSuccess;
    case cudaDevAttrMaxThreadsPerBlock: *value = 1024; return cudaSuccess;
    case cudaDevAttrMaxSharedMemoryPerBlock: *value = 48 * 1024; return cudaSuccess;
    case cudaDevAttrMultiProcessorCount: *value = 132; return cudaSuccess;
    case cudaDevAttrWarpSize: *value = 32; return cudaSuccess;
    case cudaDevAttrMaxGridDimX: *value = 2147483647; return cudaSuccess;
    case cudaDevAttrMaxGridDimY: *value = 65535; return cudaSuccess;
    case cudaDevAttrMaxGridDimZ: *value = 65535; return cudaSuccess;
    case cudaDevAttrMaxBlockDimX: *value = 1024; return cudaSuccess;
    case cudaDevAttrMaxBlockDimY: *value = 1024; return cudaSuccess;
    case cudaDevAttrMaxBlockDimZ: *value = 64; return cudaSuccess;
    default:
      return fail(cudaErrorNotSupported, "cudaDeviceGetAttribute: attribute " +
                                             std::to_string(static_cast<int>(attribute)) +
                                             " is not emulated (add it in runtime.cpp)");
  }
}

cudaError_t cudaRuntimeGetVersion(int* version) {
  if (version == nullptr) return fail(cudaErrorInvalidValue, "cudaRuntimeGetVersion(nullptr)");
  *version = CUDART_VERSION;
  return cudaSuccess;
}

cudaError_t cudaDriverGetVersion(int* version) {
  if (version == nullptr) return fail(cudaErrorInvalidValue, "cudaDriverGetVersion(nullptr)");
  *version = CUDART_VERSION;
  return cudaSuccess;
}

// ---- memory

// cudaMalloc and cudaFree are "potentially unsafe" during a capture (cudaMalloc is CUDA's own
// example; cudaFree synchronises the device): refused as this thread's capture mode says.
cudaError_t cudaMalloc(void** ptr, size_t size) {
  if (ptr == nullptr) return fail(cudaErrorInvalidValue, "cudaMalloc(nullptr, ...)");
  *ptr = nullptr;
  const cudaError_t refused = refuse_unsafe_call("cudaMalloc");
  if (refused != cudaSuccess) return refused;
  if (size == 0) return cudaSuccess;  // as CUDA: a null pointer and success
  void* memory = device_allocate(size);
  if (memory == nullptr) {
    return fail(cudaErrorMemoryAllocation,
                fmt::format("cudaMalloc of {} with {} of {} bytes in use "
                            "(KILN_CUDA_EMULATION_MEMORY sets the capacity)",
                            size_text(size), device_bytes_in_use(), device_capacity()));
  }
  *ptr = memory;
  return cudaSuccess;
}

cudaError_t cudaFree(void* ptr) {
  const cudaError_t refused = refuse_unsafe_call("cudaFree");
  if (refused != cudaSuccess) return refused;
  if (ptr == nullptr) return cudaSuccess;
  if (!device_free(ptr)) {
    return fail(
        cudaErrorInvalidValue,
        fmt::format("cudaFree of {}, which cudaMalloc did not return", describe_pointer(ptr)));
  }
  return cudaSuccess;
}

cudaError_t cudaMemGetInfo(size_t* free, size_t* total) {
  if (free == nullptr || total == nullptr) {
    return fail(cudaErrorInvalidValue, "cudaMemGetInfo(nullptr)");
  }
  *total = device_capacity();
  *free = *total - device_bytes_in_use();
  return cudaSuccess;
}

cudaError_t cudaPointerGetAttributes(cudaPointerAttributes* attributes, const void* ptr) {
  if (attributes == nullptr)
    return fail(cudaErrorInvalidValue, "cudaPointerGetAttributes(nullptr)");
  *attributes = cudaPointerAttributes{};
  if (is_device_pointer(ptr)) {
    attributes->type = cudaMemoryTypeDevice;
    attributes->device = current_device;
    attributes->devicePointer = const_cast<void*>(ptr);
  } else {
    attributes->type = cudaMemoryTypeUnregistered;  // pageable host memory (CUDA 11+)
    attributes->device = -2;
  }
  return cudaSuccess;
}

// ---- copies and memsets (the synchronous ones use the legacy stream)

// A synchronous copy enqueues on the legacy stream and waits for it: refused while a blocking
// stream captures (cudaErrorStreamCaptureImplicit), and treated as potentially unsafe otherwise
// (Note [Stream capture] in stream_capture.cpp).
cudaError_t cudaMemcpy(void* dst, const void* src, size_t count, cudaMemcpyKind kind) {
  cudaError_t status =
      refuse_if_capturing(cudaStreamLegacy, cudaErrorStreamCaptureImplicit, "cudaMemcpy");
  if (status == cudaSuccess) status = refuse_unsafe_call("cudaMemcpy");
  if (status == cudaSuccess) status = copy(dst, src, count, kind, cudaStreamLegacy, "cudaMemcpy");
  return status != cudaSuccess ? status : deliver_pending_fault();
}

cudaError_t cudaMemcpyAsync(void* dst, const void* src, size_t count, cudaMemcpyKind kind,
                            cudaStream_t stream) {
  return copy(dst, src, count, kind, stream, "cudaMemcpyAsync");
}

cudaError_t cudaMemset(void* ptr, int value, size_t count) {
  return set(ptr, value, count, cudaStreamLegacy, "cudaMemset");
}

cudaError_t cudaMemsetAsync(void* ptr, int value, size_t count, cudaStream_t stream) {
  return set(ptr, value, count, stream, "cudaMemsetAsync");
}
