// Stands in for cuDNN's handles, version and error reporting (cudnnCreate, cudnnDestroy,
// cudnnSetStream, cudnnGetStream, cudnnGetVersion, cudnnGetErrorString, cudnnGetLastErrorString),
// plus the lookups and argument checks the other cudnn_*.cpp files share (cudnn_objects.h).
//
// Note [Last error]
// ~~~~~~~~~~~~~~~~~
// As in cuDNN 9, cudnnGetLastErrorString gives the message of the calling thread's most recent
// failure; a successful call leaves it in place and reading it does not clear it. kiln appends it
// to every CHECK_CUDNN error, so each message names the call and the argument at fault.
#include <cudnn.h>

#include <algorithm>
#include <cstring>
#include <string>

#include "cudnn_objects.h"
#include "emulator.h"

namespace kiln::emu::cudnn {

namespace {

thread_local std::string last_error;  // Note [Last error]

struct StatusName {
  cudnnStatus_t status;
  const char* name;
};

#define KILN_CUDNN_STATUS(status) \
  { status, #status }
constexpr StatusName kStatusNames[] = {
    KILN_CUDNN_STATUS(CUDNN_STATUS_SUCCESS),
    KILN_CUDNN_STATUS(CUDNN_STATUS_NOT_INITIALIZED),
    KILN_CUDNN_STATUS(CUDNN_STATUS_SUBLIBRARY_VERSION_MISMATCH),
    KILN_CUDNN_STATUS(CUDNN_STATUS_SERIALIZATION_VERSION_MISMATCH),
    KILN_CUDNN_STATUS(CUDNN_STATUS_DEPRECATED),
    KILN_CUDNN_STATUS(CUDNN_STATUS_LICENSE_ERROR),
    KILN_CUDNN_STATUS(CUDNN_STATUS_RUNTIME_IN_PROGRESS),
    KILN_CUDNN_STATUS(CUDNN_STATUS_RUNTIME_FP_OVERFLOW),
    KILN_CUDNN_STATUS(CUDNN_STATUS_SUBLIBRARY_LOADING_FAILED),
    KILN_CUDNN_STATUS(CUDNN_STATUS_BAD_PARAM),
    KILN_CUDNN_STATUS(CUDNN_STATUS_BAD_PARAM_NULL_POINTER),
    KILN_CUDNN_STATUS(CUDNN_STATUS_BAD_PARAM_MISALIGNED_POINTER),
    KILN_CUDNN_STATUS(CUDNN_STATUS_BAD_PARAM_NOT_FINALIZED),
    KILN_CUDNN_STATUS(CUDNN_STATUS_BAD_PARAM_OUT_OF_BOUND),
    KILN_CUDNN_STATUS(CUDNN_STATUS_BAD_PARAM_SIZE_INSUFFICIENT),
    KILN_CUDNN_STATUS(CUDNN_STATUS_BAD_PARAM_STREAM_MISMATCH),
    KILN_CUDNN_STATUS(CUDNN_STATUS_BAD_PARAM_SHAPE_MISMATCH),
    KILN_CUDNN_STATUS(CUDNN_STATUS_BAD_PARAM_DUPLICATED_ENTRIES),
    KILN_CUDNN_STATUS(CUDNN_STATUS_BAD_PARAM_ATTRIBUTE_TYPE),
    KILN_CUDNN_STATUS(CUDNN_STATUS_BAD_PARAM_CUDA_GRAPH_MISMATCH),
    KILN_CUDNN_STATUS(CUDNN_STATUS_BAD_PARAM_DESCRIPTOR_TYPE),
    KILN_CUDNN_STATUS(CUDNN_STATUS_NOT_SUPPORTED),
    KILN_CUDNN_STATUS(CUDNN_STATUS_NOT_SUPPORTED_GRAPH_PATTERN),
    KILN_CUDNN_STATUS(CUDNN_STATUS_NOT_SUPPORTED_SHAPE),
    KILN_CUDNN_STATUS(CUDNN_STATUS_NOT_SUPPORTED_DATA_TYPE),
    KILN_CUDNN_STATUS(CUDNN_STATUS_NOT_SUPPORTED_LAYOUT),
    KILN_CUDNN_STATUS(CUDNN_STATUS_NOT_SUPPORTED_INCOMPATIBLE_CUDA_DRIVER),
    KILN_CUDNN_STATUS(CUDNN_STATUS_NOT_SUPPORTED_INCOMPATIBLE_CUDART),
    KILN_CUDNN_STATUS(CUDNN_STATUS_NOT_SUPPORTED_ARCH_MISMATCH),
    KILN_CUDNN_STATUS(CUDNN_STATUS_NOT_SUPPORTED_RUNTIME_PREREQUISITE_MISSING),
    KILN_CUDNN_STATUS(CUDNN_STATUS_NOT_SUPPORTED_SUBLIBRARY_UNAVAILABLE),
    KILN_CUDNN_STATUS(CUDNN_STATUS_NOT_SUPPORTED_SHARED_MEMORY_INSUFFICIENT),
    KILN_CUDNN_STATUS(CUDNN_STATUS_NOT_SUPPORTED_PADDING),
    KILN_CUDNN_STATUS(CUDNN_STATUS_NOT_SUPPORTED_BAD_LAUNCH_PARAM),
    KILN_CUDNN_STATUS(CUDNN_STATUS_NOT_SUPPORTED_CUDA_GRAPH_NATIVE_API),
    KILN_CUDNN_STATUS(CUDNN_STATUS_NOT_SUPPORTED_INVALID_DYNAMIC_SHAPE),
    KILN_CUDNN_STATUS(CUDNN_STATUS_INTERNAL_ERROR),
    KILN_CUDNN_STATUS(CUDNN_STATUS_INTERNAL_ERROR_COMPILATION_FAILED),
    KILN_CUDNN_STATUS(CUDNN_STATUS_INTERNAL_ERROR_UNEXPECTED_VALUE),
    KILN_CUDNN_STATUS(CUDNN_STATUS_INTERNAL_ERROR_HOST_ALLOCATION_FAILED),
    KILN_CUDNN_STATUS(CUDNN_STATUS_INTERNAL_ERROR_DEVICE_ALLOCATION_FAILED),
    KILN_CUDNN_STATUS(CUDNN_STATUS_INTERNAL_ERROR_BAD_LAUNCH_PARAM),
    KILN_CUDNN_STATUS(CUDNN_STATUS_INTERNAL_ERROR_TEXTURE_CREATION_FAILED),
    KILN_CUDNN_STATUS(CUDNN_STATUS_EXECUTION_FAILED),
    KILN_CUDNN_STATUS(CUDNN_STATUS_EXECUTION_FAILED_CUDA_DRIVER),
    KILN_CUDNN_STATUS(CUDNN_STATUS_EXECUTION_FAILED_CUBLAS),
    KILN_CUDNN_STATUS(CUDNN_STATUS_EXECUTION_FAILED_CUDART),
    KILN_CUDNN_STATUS(CUDNN_STATUS_EXECUTION_FAILED_CURAND),
    KILN_CUDNN_STATUS(CUDNN_STATUS_INVALID_VALUE),
};
#undef KILN_CUDNN_STATUS

std::size_t product(std::size_t a, std::size_t b, std::size_t c, std::size_t d) {
  return a * b * c * d;
}

}  // namespace

cudnnStatus_t report(const char* call, const CudnnFailure& failure) {
  last_error = std::string(call) + ": " + failure.message;
  if (failure.fault != cudaSuccess) record_fault(failure.fault, last_error);
  return failure.status;
}

void require_stream(const cudnnContext& handle) {
  require(stream_is_valid(handle.stream), CUDNN_STATUS_EXECUTION_FAILED,
          "the handle's stream no longer exists (destroyed after cudnnSetStream?)");
}

double host_scalar(const char* name, const void* value) {
  require_param(value != nullptr, std::string(name) + " is NULL");
  require_param(!is_device_pointer(value),
                std::string(name) + " points to device memory; cuDNN reads it on the host");
  float scalar = 0.0f;
  std::memcpy(&scalar, value, sizeof(scalar));
  return scalar;
}

Strides tensor_strides(const cudnnTensorStruct& t) {
  if (t.format == CUDNN_TENSOR_NHWC) {
    return {std::int64_t{t.h} * t.w * t.c, 1, std::int64_t{t.w} * t.c, t.c};
  }
  return {std::int64_t{t.c} * t.h * t.w, std::int64_t{t.h} * t.w, t.w, 1};  // NCHW
}

Strides filter_strides(const cudnnFilterStruct& f) {
  return {std::int64_t{f.h} * f.w * f.c, 1, std::int64_t{f.w} * f.c, f.c};  // (k, h, w, c)
}

std::size_t tensor_bytes(const cudnnTensorStruct& t) {
  return product(t.n, t.c, t.h, t.w) * sizeof(float);
}

std::size_t filter_bytes(const cudnnFilterStruct& f) {
  return product(f.k, f.c, f.h, f.w) * sizeof(float);
}

void require_device_floats(const char* name, const void* ptr, std::size_t bytes) {
  require_device_range(CUDNN_STATUS_BAD_PARAM, name, ptr, bytes, alignof(float));
}

void require_workspace(const void* workspace, std::size_t bytes) {
  if (bytes > 0) require_device_range(CUDNN_STATUS_BAD_PARAM, "workSpace", workspace, bytes, 1);
}

}  // namespace kiln::emu::cudnn

using namespace kiln::emu;
using namespace kiln::emu::cudnn;

size_t cudnnGetVersion(void) { return CUDNN_VERSION; }

const char* cudnnGetErrorString(cudnnStatus_t status) {
  for (const StatusName& entry : kStatusNames) {
    if (entry.status == status) return entry.name;
  }
  return "CUDNN_UNKNOWN_STATUS";
}

void cudnnGetLastErrorString(char* message, size_t max_size) {
  if (message == nullptr || max_size == 0) return;
  const std::size_t length = std::min(last_error.size(), max_size - 1);
  std::memcpy(message, last_error.data(), length);
  message[length] = '\0';
}

cudnnStatus_t cudnnCreate(cudnnHandle_t* handle) {
  return run_cudnn("cudnnCreate", [&] {
    require_param(handle != nullptr, "handle is NULL");
    *handle = registry<cudnnContext>().create();
  });
}

cudnnStatus_t cudnnDestroy(cudnnHandle_t handle) {
  return run_cudnn("cudnnDestroy", [&] {
    live("handle", handle);
    registry<cudnnContext>().destroy(handle);
  });
}

cudnnStatus_t cudnnSetStream(cudnnHandle_t handle, cudaStream_t streamId) {
  return run_cudnn("cudnnSetStream", [&] {
    cudnnContext& context = live("handle", handle);
    require_param(stream_is_valid(streamId),
                  "streamId is not a stream that exists (destroyed, or never created)");
    context.stream = streamId;
  });
}

cudnnStatus_t cudnnGetStream(cudnnHandle_t handle, cudaStream_t* streamId) {
  return run_cudnn("cudnnGetStream", [&] {
    const cudnnContext& context = live("handle", handle);
    require_param(streamId != nullptr, "streamId is NULL");
    *streamId = context.stream;
  });
}
