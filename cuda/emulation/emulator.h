// The host side of kiln's CUDA emulation, shared by its stand-ins for the CUDA runtime
// (runtime.cpp, streams.cpp, errors.cpp, stream_capture.cpp, graphs.cpp), cuBLAS (cublas.cpp),
// cuBLASLt (cublaslt_*.cpp) and cuDNN (cudnn_*.cpp): the emulated GPU's memory, its streams and
// their captures, its pending error, and the knobs tests use. Nothing here is part of libkiln; the
// emulation is a test build only (KILN_CUDA_EMULATION, docs/CUDA_EMULATION.md).
#pragma once

#include <cuda_runtime_api.h>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>

#define KILN_EMU_API __attribute__((visibility("default")))

// Defined when AddressSanitizer instruments this build (g++ or clang).
#if defined(__SANITIZE_ADDRESS__)
#define KILN_EMU_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define KILN_EMU_ASAN 1
#endif
#endif

namespace kiln::emu {

// ---- device memory (device_memory.cpp)
//
// cudaMalloc hands out host memory, 256-byte aligned, poisoned with 0xFF bytes (a float read
// before it was written is NaN) and framed by redzones that are checked after every kernel and
// library call and at free. Under AddressSanitizer each allocation is exact-size instead, so ASan
// sees every out-of-bounds access. Freed blocks stay poisoned in a quarantine for a while, so a
// kernel that reads freed memory reads NaN.

constexpr std::size_t kDeviceAlignment = 256;

// nullptr when the emulated device's capacity (KILN_CUDA_EMULATION_MEMORY, default 4 GiB) would
// be exceeded.
KILN_EMU_API void* device_allocate(std::size_t bytes);
// False when `ptr` is not the start of a live allocation.
KILN_EMU_API bool device_free(void* ptr);
// Whether [ptr, ptr + bytes) lies inside one live allocation (bytes may be 0: ptr inside one).
KILN_EMU_API bool is_device_range(const void* ptr, std::size_t bytes);
KILN_EMU_API bool is_device_pointer(const void* ptr);
// The allocation holding `ptr` (one past its end included), as a number unique over the process;
// 0 for null or anything but live device memory. A graph replay compares it with the one a
// pointer had at capture: memory freed (and perhaps allocated again) since is a fault.
KILN_EMU_API std::uint64_t allocation_id(const void* ptr);
// "" when every redzone is intact, else what was overwritten and where.
KILN_EMU_API std::string check_redzones();
KILN_EMU_API std::size_t device_capacity();
KILN_EMU_API std::size_t device_bytes_in_use();
// A description of `ptr` for messages: "device allocation 0x.. of N bytes + offset" or "host".
KILN_EMU_API std::string describe_pointer(const void* ptr);

// ---- streams (streams.cpp)
// The legacy stream (nullptr, cudaStreamLegacy), cudaStreamPerThread and every created, not yet
// destroyed stream are valid. Work runs synchronously at the call, in call order, unless the
// stream captures (below).
KILN_EMU_API bool stream_is_valid(cudaStream_t stream);
KILN_EMU_API bool stream_is_legacy(cudaStream_t stream);
// Whether `stream` synchronises with the legacy stream (created without cudaStreamNonBlocking,
// or cudaStreamPerThread).
KILN_EMU_API bool stream_is_blocking(cudaStream_t stream);
// "stream 0x..", "the legacy default stream", ... for messages.
KILN_EMU_API std::string stream_name(cudaStream_t stream);

// ---- stream capture (stream_capture.cpp; Note [Stream capture] there)
//
// Every place that does device work for a stream — kernel launches, asynchronous copies and
// memsets, the cuBLAS / cuBLASLt / cuDNN stand-ins, graph launches — checks its arguments first,
// as the real API does at the call, and then hands the work to run_or_record: it runs at once,
// or, while `stream` captures, is appended to the capture, to run at each launch of a graph made
// from it. `work` must own copies of everything it needs (values, descriptor contents, device
// pointers), and re-check at a replay that its device memory is still the memory it was given
// (allocation_id, CheckedRange in library_support.h). `stream` must be valid (checked before).
// Returns cudaSuccess (run or recorded), or why the stream cannot take work now, recorded as the
// last error with a line on stderr naming `what`: its capture was invalidated
// (cudaErrorStreamCaptureInvalidated), or it is the legacy stream while a blocking stream
// captures (cudaErrorStreamCaptureImplicit, which invalidates that capture).
KILN_EMU_API cudaError_t run_or_record(cudaStream_t stream, const std::string& what,
                                       std::function<void()> work);
// Whether `stream` is in a capture sequence (active or invalidated).
KILN_EMU_API bool stream_is_capturing(cudaStream_t stream);
// For `call`, which cannot be captured on `stream` (it synchronises it, or copies pageable host
// memory): while `stream` captures, invalidates the capture and returns `code`
// (cudaErrorStreamCaptureInvalidated when it already was invalid); on the legacy stream while a
// blocking stream captures, invalidates that capture and returns cudaErrorStreamCaptureImplicit;
// otherwise cudaSuccess. Errors are recorded as the last error, with a line on stderr.
KILN_EMU_API cudaError_t refuse_if_capturing(cudaStream_t stream, cudaError_t code,
                                             const std::string& call);
// For a "potentially unsafe" call (cudaMalloc, cudaFree, cudaMemcpy): cudaSuccess, or, when this
// thread's capture interaction mode forbids it now, cudaErrorStreamCaptureUnsupported after
// invalidating the captures that forbid it.
KILN_EMU_API cudaError_t refuse_unsafe_call(const std::string& call);
// For a call that synchronises the whole device: refused (cudaErrorStreamCaptureUnsupported)
// while any stream captures, invalidating every capture.
KILN_EMU_API cudaError_t refuse_device_synchronize(const std::string& call);
// A call that queues work on `stream` failed (bad launch configuration, bad copy): when `stream`
// captures, the capture is invalidated, as CUDA invalidates a capture "when an invalid operation
// is attempted"; otherwise nothing happens.
KILN_EMU_API void invalidate_capture(cudaStream_t stream, const std::string& why);

// ---- errors (errors.cpp)
// A fault of emulated device work (a kernel or a library call): printed on stderr at once and
// returned by the next cudaGetLastError / cudaPeekAtLastError / synchronising call, whose
// cudaGetErrorString gives `message`. Unlike a GPU's, faults are not sticky: after it has been
// reported once the device works again, so one test's planted bug does not fail the next test.
KILN_EMU_API void record_fault(cudaError_t code, const std::string& message);
// The error of a call or a launch itself (bad configuration, stream or argument): it becomes
// the "last error" that cudaGetLastError returns, without the stderr line, as in CUDA.
KILN_EMU_API void record_launch_error(cudaError_t code, const std::string& message);
// As record_launch_error, with the stderr line: for calls a stream capture refuses.
KILN_EMU_API void report_refusal(cudaError_t code, const std::string& message);
// Faults recorded since the process started (a graph replay stops at the node that faulted).
KILN_EMU_API std::uint64_t faults_recorded();
// cudaGetLastError / cudaPeekAtLastError: the pending fault, else the last error.
KILN_EMU_API cudaError_t take_pending_error();
KILN_EMU_API cudaError_t peek_pending_error();
// What a synchronising call returns: the pending fault, if any (cleared).
KILN_EMU_API cudaError_t deliver_pending_fault();

// ---- scheduling knobs (scheduler.cpp)
// The order in which blocks, and threads between meeting points, run: forward, reverse, or a
// seeded shuffle. KILN_CUDA_EMULATION_ORDER=forward|reverse|shuffle[:seed] sets it at start; a
// missing barrier can hide in one order, so CI runs two.
enum class Order : unsigned char { forward, reverse, shuffle };
KILN_EMU_API void set_order(Order order, std::uint64_t seed = 1);
KILN_EMU_API Order order();
// Kernels launched since the process started (tests check that work really ran emulated).
KILN_EMU_API std::uint64_t kernels_launched();

// Rounds an f32 to TF32 (10 explicit mantissa bits, round to nearest, ties away from zero), as
// tensor cores read their inputs: the stand-ins of cuBLAS and cuDNN apply it when kiln allows
// TF32.
KILN_EMU_API float round_to_tf32(float value);

}  // namespace kiln::emu
