// The emulated CUDA runtime's errors (emulator.h): the last error of a call, the pending fault of
// device work, their names and texts, cudaGetLastError / cudaPeekAtLastError /
// cudaGetErrorName / cudaGetErrorString.
//
// Note [Errors]
// ~~~~~~~~~~~~~
// As in CUDA, a failing call returns its error and also leaves it as the "last error", which
// cudaGetLastError returns and clears. A fault of device work (a kernel's barrier divergence, a
// redzone write, a library stand-in's bad argument) is pending until the next cudaGetLastError,
// cudaPeekAtLastError or synchronising call reports it; cudaGetErrorString of that code then
// gives the fault's own description, so kiln's CHECK_CUDA message says exactly what went wrong.
#include <cuda_runtime_api.h>

#include <atomic>
#include <cstdio>
#include <mutex>
#include <string>
#include <utility>

#include "emulator.h"

namespace kiln::emu {

namespace {

struct ErrorState {
  std::mutex mutex;
  cudaError_t last = cudaSuccess;       // of any call or launch (cudaGetLastError)
  cudaError_t fault = cudaSuccess;      // of device work, also for synchronising calls
  cudaError_t described = cudaSuccess;  // the code whose message is kept
  std::string message;
};

ErrorState& errors() {
  static auto* state = new ErrorState;  // never destroyed (used during static teardown)
  return *state;
}

std::atomic<std::uint64_t> faults{0};

struct ErrorText {
  cudaError_t code;
  const char* name;
  const char* text;
};

#define KILN_CUDA_ERROR(code, text) \
  { code, #code, text }
constexpr ErrorText kErrorTexts[] = {
    KILN_CUDA_ERROR(cudaSuccess, "no error"),
    KILN_CUDA_ERROR(cudaErrorInvalidValue, "invalid argument"),
    KILN_CUDA_ERROR(cudaErrorMemoryAllocation, "out of memory"),
    KILN_CUDA_ERROR(cudaErrorInvalidConfiguration, "invalid configuration argument"),
    KILN_CUDA_ERROR(cudaErrorInvalidDevice, "invalid device ordinal"),
    KILN_CUDA_ERROR(cudaErrorInvalidMemcpyDirection, "invalid copy direction for memcpy"),
    KILN_CUDA_ERROR(cudaErrorInvalidResourceHandle, "invalid resource handle"),
    KILN_CUDA_ERROR(cudaErrorIllegalState,
                    "the operation cannot be performed in the present state"),
    KILN_CUDA_ERROR(cudaErrorIllegalAddress, "an illegal memory access was encountered"),
    KILN_CUDA_ERROR(cudaErrorMisalignedAddress, "misaligned address"),
    KILN_CUDA_ERROR(cudaErrorLaunchFailure, "unspecified launch failure"),
    KILN_CUDA_ERROR(cudaErrorNotSupported, "operation not supported"),
    KILN_CUDA_ERROR(cudaErrorNoDevice, "no CUDA-capable device is detected"),
    KILN_CUDA_ERROR(cudaErrorStreamCaptureUnsupported,
                    "operation not permitted when stream is capturing"),
    KILN_CUDA_ERROR(cudaErrorStreamCaptureInvalidated,
                    "operation failed due to a previous error during capture"),
    KILN_CUDA_ERROR(cudaErrorStreamCaptureImplicit,
                    "operation would make the legacy stream depend on a capturing blocking stream"),
    KILN_CUDA_ERROR(cudaErrorStreamCaptureWrongThread,
                    "attempt to terminate a thread-local capture sequence from another thread"),
};
#undef KILN_CUDA_ERROR

const ErrorText* find_text(cudaError_t code) {
  for (const ErrorText& entry : kErrorTexts) {
    if (entry.code == code) return &entry;
  }
  return nullptr;
}

const char* standard_name(cudaError_t code) {
  const ErrorText* entry = find_text(code);
  return entry != nullptr ? entry->name : "cudaErrorUnknown";
}

const char* standard_text(cudaError_t code) {
  const ErrorText* entry = find_text(code);
  return entry != nullptr ? entry->text : "unknown error";
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
  ++faults;
  ErrorState& e = errors();
  std::lock_guard lock(e.mutex);
  if (e.fault == cudaSuccess) e.fault = code;
}

void report_refusal(cudaError_t code, const std::string& message) {
  std::fprintf(stderr, "kiln CUDA emulation: %s\n", message.c_str());
  record_launch_error(code, message);
}

std::uint64_t faults_recorded() { return faults.load(); }

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

cudaError_t deliver_pending_fault() {
  ErrorState& e = errors();
  std::lock_guard lock(e.mutex);
  return std::exchange(e.fault, cudaSuccess);
}

}  // namespace kiln::emu

using namespace kiln::emu;

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
