// The CUDA runtime API, the part kiln calls, for the emulated GPU (emulator.h): devices, memory,
// copies, streams and errors. Every function checks its arguments as the documentation says the
// runtime does, and more strictly where the real runtime would silently misbehave: a copy whose
// direction does not match its pointers, a range that runs past its allocation, a stream that was
// destroyed. Work is done at the call (copies and kernels are synchronous), so a "synchronising"
// call only delivers the pending error.
//
// Note [Errors]
// ~~~~~~~~~~~~~
// As in CUDA, a failing call returns its error and also leaves it as the "last error", which
// cudaGetLastError returns and clears. A fault of device work (a kernel's barrier divergence, a
// redzone write, a library stand-in's bad argument) is pending until the next cudaGetLastError,
// cudaPeekAtLastError or synchronising call reports it; cudaGetErrorString of that code then
// gives the fault's own description, so kiln's CHECK_CUDA message says exactly what went wrong.
#include <cuda_runtime_api.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "emulator.h"

namespace kiln::emu {

namespace {

struct ErrorState {
  std::mutex mutex;
  cudaError_t last = cudaSuccess;   // of any call or launch (cudaGetLastError)
  cudaError_t fault = cudaSuccess;  // of device work, also for synchronising calls
  cudaError_t described = cudaSuccess;  // the code whose message is kept
  std::string message;
};

ErrorState& errors() {
  static auto* state = new ErrorState;  // never destroyed (used during static teardown)
  return *state;
}

struct StreamRegistry {
  std::mutex mutex;
  std::set<cudaStream_t> live;
  std::vector<cudaStream_t> retired;  // destroyed; kept so no new stream reuses the address
};

StreamRegistry& streams() {
  static auto* registry = new StreamRegistry;
  return *registry;
}

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

// Records `code` as the last error (Note [Errors]) and returns it.
cudaError_t fail(cudaError_t code, const std::string& message) {
  record_launch_error(code, message);
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
  if (ptr == nullptr) return std::string("the ") + side + " is a null pointer";
  if (device && !is_device_range(ptr, bytes)) {
    return std::string("the ") + side + " " + describe_pointer(ptr) + " is not a device range of " +
           size_text(bytes);
  }
  if (!device && is_device_pointer(ptr)) {
    return std::string("the ") + side + " " + describe_pointer(ptr) +
           " is device memory, but the copy's kind says host";
  }
  return "";
}

cudaError_t copy(void* dst, const void* src, std::size_t count, cudaMemcpyKind kind,
                 cudaStream_t stream, const char* call) {
  if (!stream_is_valid(stream)) {
    return fail(cudaErrorInvalidResourceHandle,
                std::string(call) + " on a stream that does not exist (destroyed?)");
  }
  if (count == 0) return cudaSuccess;
  bool dst_device = false;
  bool src_device = false;
  switch (kind) {
    case cudaMemcpyHostToHost: break;
    case cudaMemcpyHostToDevice: dst_device = true; break;
    case cudaMemcpyDeviceToHost: src_device = true; break;
    case cudaMemcpyDeviceToDevice: dst_device = src_device = true; break;
    case cudaMemcpyDefault:
      dst_device = is_device_pointer(dst);
      src_device = is_device_pointer(src);
      break;
    default:
      return fail(cudaErrorInvalidMemcpyDirection,
                  std::string(call) + ": copy kind " + std::to_string(static_cast<int>(kind)) +
                      " is not a cudaMemcpyKind");
  }
  std::string problem = side_problem("destination", dst, count, dst_device);
  if (problem.empty()) problem = side_problem("source", src, count, src_device);
  if (!problem.empty()) {
    return fail(cudaErrorInvalidValue, std::string(call) + " (" + kind_name(kind) + ", " +
                                           size_text(count) + "): " + problem);
  }
  std::memmove(dst, src, count);
  return cudaSuccess;
}

cudaError_t set(void* ptr, int value, std::size_t count, cudaStream_t stream, const char* call) {
  if (!stream_is_valid(stream)) {
    return fail(cudaErrorInvalidResourceHandle,
                std::string(call) + " on a stream that does not exist (destroyed?)");
  }
  if (count == 0) return cudaSuccess;
  if (!is_device_range(ptr, count)) {
    return fail(cudaErrorInvalidValue, std::string(call) + " of " + size_text(count) + " at " +
                                           describe_pointer(ptr) + ": not a device range");
  }
  std::memset(ptr, value, count);
  return cudaSuccess;
}

const char* standard_name(cudaError_t code) {
  switch (code) {
    case cudaSuccess: return "cudaSuccess";
    case cudaErrorInvalidValue: return "cudaErrorInvalidValue";
    case cudaErrorMemoryAllocation: return "cudaErrorMemoryAllocation";
    case cudaErrorInvalidConfiguration: return "cudaErrorInvalidConfiguration";
    case cudaErrorInvalidDevice: return "cudaErrorInvalidDevice";
    case cudaErrorInvalidMemcpyDirection: return "cudaErrorInvalidMemcpyDirection";
    case cudaErrorInvalidResourceHandle: return "cudaErrorInvalidResourceHandle";
    case cudaErrorIllegalAddress: return "cudaErrorIllegalAddress";
    case cudaErrorLaunchFailure: return "cudaErrorLaunchFailure";
    case cudaErrorNotSupported: return "cudaErrorNotSupported";
    case cudaErrorNoDevice: return "cudaErrorNoDevice";
    default: return "cudaErrorUnknown";
  }
}

const char* standard_text(cudaError_t code) {
  switch (code) {
    case cudaSuccess: return "no error";
    case cudaErrorInvalidValue: return "invalid argument";
    case cudaErrorMemoryAllocation: return "out of memory";
    case cudaErrorInvalidConfiguration: return "invalid configuration argument";
    case cudaErrorInvalidDevice: return "invalid device ordinal";
    case cudaErrorInvalidMemcpyDirection: return "invalid copy direction for memcpy";
    case cudaErrorInvalidResourceHandle: return "invalid resource handle";
    case cudaErrorIllegalAddress: return "an illegal memory access was encountered";
    case cudaErrorLaunchFailure: return "unspecified launch failure";
    case cudaErrorNotSupported: return "operation not supported";
    case cudaErrorNoDevice: return "no CUDA-capable device is detected";
    default: return "unknown error";
  }
}

// What a synchronising call returns: the pending fault of device work, if any.
cudaError_t deliver_pending() {
  ErrorState& e = errors();
  std::lock_guard lock(e.mutex);
  return std::exchange(e.fault, cudaSuccess);
}

}  // namespace

void record_launch_error(cudaError_t code, const std::string& message) {
  ErrorState& e = errors();
  std::lock_guard lock(e.mutex);
  e.last = code;
  e.described = code;
  e.message = std::string(standard_text(code)) + ": " + message;
}

void record_fault(cudaError_t code, const std::string& message) {
  std::fprintf(stderr, "kiln CUDA emulation: %s\n", message.c_str());
  record_launch_error(code, message);
  ErrorState& e = errors();
  std::lock_guard lock(e.mutex);
  if (e.fault == cudaSuccess) e.fault = code;
}

cudaError_t take_pending_error() {
  ErrorState& e = errors();
  std::lock_guard lock(e.mutex);
  const cudaError_t code = e.fault != cudaSuccess ? e.fault : e.last;
  e.fault = cudaSuccess;
  e.last = cudaSuccess;
  return code;
}

cudaError_t peek_pending_error() {
  ErrorState& e = errors();
  std::lock_guard lock(e.mutex);
  return e.fault != cudaSuccess ? e.fault : e.last;
}

bool stream_is_valid(cudaStream_t stream) {
  if (stream == nullptr || stream == cudaStreamLegacy || stream == cudaStreamPerThread) return true;
  StreamRegistry& r = streams();
  std::lock_guard lock(r.mutex);
  return r.live.count(stream) == 1;
}

}  // namespace kiln::emu

using namespace kiln::emu;

// ---- errors

cudaError_t cudaGetLastError(void) { return take_pending_error(); }

cudaError_t cudaPeekAtLastError(void) { return peek_pending_error(); }

const char* cudaGetErrorName(cudaError_t error) { return standard_name(error); }

const char* cudaGetErrorString(cudaError_t error) {
  ErrorState& e = errors();
  std::lock_guard lock(e.mutex);
  if (error != cudaSuccess && error == e.described && !e.message.empty()) {
    return e.message.c_str();
  }
  return standard_text(error);
}

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

cudaError_t cudaDeviceSynchronize(void) { return deliver_pending(); }

// ---- memory

cudaError_t cudaMalloc(void** ptr, size_t size) {
  if (ptr == nullptr) return fail(cudaErrorInvalidValue, "cudaMalloc(nullptr, ...)");
  *ptr = nullptr;
  if (size == 0) return cudaSuccess;  // as CUDA: a null pointer and success
  void* memory = device_allocate(size);
  if (memory == nullptr) {
    return fail(cudaErrorMemoryAllocation,
                "cudaMalloc of " + size_text(size) + " with " +
                    std::to_string(device_bytes_in_use()) + " of " +
                    std::to_string(device_capacity()) +
                    " bytes in use (KILN_CUDA_EMULATION_MEMORY sets the capacity)");
  }
  *ptr = memory;
  return cudaSuccess;
}

cudaError_t cudaFree(void* ptr) {
  if (ptr == nullptr) return cudaSuccess;
  if (!device_free(ptr)) {
    return fail(cudaErrorInvalidValue,
                "cudaFree of " + describe_pointer(ptr) + ", which cudaMalloc did not return");
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
  if (attributes == nullptr) return fail(cudaErrorInvalidValue, "cudaPointerGetAttributes(nullptr)");
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

cudaError_t cudaMemcpy(void* dst, const void* src, size_t count, cudaMemcpyKind kind) {
  const cudaError_t status = copy(dst, src, count, kind, nullptr, "cudaMemcpy");
  return status != cudaSuccess ? status : deliver_pending();
}

cudaError_t cudaMemcpyAsync(void* dst, const void* src, size_t count, cudaMemcpyKind kind,
                            cudaStream_t stream) {
  return copy(dst, src, count, kind, stream, "cudaMemcpyAsync");
}

cudaError_t cudaMemset(void* ptr, int value, size_t count) {
  return set(ptr, value, count, nullptr, "cudaMemset");
}

cudaError_t cudaMemsetAsync(void* ptr, int value, size_t count, cudaStream_t stream) {
  return set(ptr, value, count, stream, "cudaMemsetAsync");
}

// ---- streams

cudaError_t cudaStreamCreateWithFlags(cudaStream_t* stream, unsigned int flags) {
  if (stream == nullptr) return fail(cudaErrorInvalidValue, "cudaStreamCreateWithFlags(nullptr)");
  if (flags != cudaStreamDefault && flags != cudaStreamNonBlocking) {
    return fail(cudaErrorInvalidValue,
                "cudaStreamCreateWithFlags: flags " + std::to_string(flags) + " are not valid");
  }
  auto* handle = reinterpret_cast<cudaStream_t>(new char);  // a unique address, never reused
  StreamRegistry& r = streams();
  std::lock_guard lock(r.mutex);
  r.live.insert(handle);
  *stream = handle;
  return cudaSuccess;
}

cudaError_t cudaStreamCreate(cudaStream_t* stream) {
  return cudaStreamCreateWithFlags(stream, cudaStreamDefault);
}

cudaError_t cudaStreamDestroy(cudaStream_t stream) {
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
  return deliver_pending();
}
