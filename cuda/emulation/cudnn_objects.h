// The cuDNN stand-in's handles and descriptors (the structs cudnn.h only declares), and how its
// entry points look them up and fail (Note [Failures] in library_support.h). The stand-in covers
// exactly what kiln calls: f32 data, NHWC (or NCHW) tensors, NHWC filters (k, h, w, c), 2-D
// cross-correlation without dilation, max and average pooling.
#pragma once

#include <cudnn.h>

#include <cstddef>
#include <cstdint>
#include <new>
#include <string>

#include "library_support.h"

struct cudnnContext {
  cudaStream_t stream = nullptr;
};

struct cudnnTensorStruct {
  bool set = false;
  cudnnTensorFormat_t format = CUDNN_TENSOR_NHWC;
  int n = 0, c = 0, h = 0, w = 0;
};

// Only cuDNN's NHWC filter format: (k, h, w, c), kiln's OHWI.
struct cudnnFilterStruct {
  bool set = false;
  int k = 0, c = 0, h = 0, w = 0;
};

struct cudnnConvolutionStruct {
  bool set = false;
  int pad_h = 0, pad_w = 0, stride_h = 1, stride_w = 1;
  cudnnMathType_t math = CUDNN_DEFAULT_MATH;
};

struct cudnnPoolingStruct {
  bool set = false;
  cudnnPoolingMode_t mode = CUDNN_POOLING_MAX;
  cudnnNanPropagation_t nan = CUDNN_NOT_PROPAGATE_NAN;
  int window_h = 0, window_w = 0, pad_h = 0, pad_w = 0, stride_h = 1, stride_w = 1;
};

namespace kiln::emu::cudnn {

using CudnnFailure = Failure<cudnnStatus_t>;

// Records a failure of `call` (Note [Failures]) and returns its status.
cudnnStatus_t report(const char* call, const CudnnFailure& failure);

// Runs `body`, the work of the entry point `call`; returns its status (Note [Failures]).
template <class Body>
cudnnStatus_t run_cudnn(const char* call, Body&& body) {
  try {
    body();
    return CUDNN_STATUS_SUCCESS;
  } catch (const CudnnFailure& failure) {
    return report(call, failure);
  } catch (const std::bad_alloc&) {
    return report(call, CudnnFailure{CUDNN_STATUS_ALLOC_FAILED, "host memory exhausted"});
  }
}

inline void require_param(bool condition, const std::string& message) {
  require(condition, CUDNN_STATUS_BAD_PARAM, message);
}

inline void require_supported(bool condition, const std::string& message) {
  require(condition, CUDNN_STATUS_NOT_SUPPORTED, message);
}

template <class Object>
ObjectRegistry<Object>& registry() {
  static auto* instance = new ObjectRegistry<Object>;  // never destroyed (used at thread exit)
  return *instance;
}

// `object` when it is live, else BAD_PARAM naming the argument `name`.
template <class Object>
Object& live(const char* name, Object* object) {
  require_param(object != nullptr, std::string(name) + " is NULL");
  require_param(registry<Object>().is_live(object),
                std::string(name) + " is not a live object (destroyed, or never created)");
  return *object;
}

// A live descriptor that has been set.
template <class Object>
const Object& described(const char* name, Object* object) {
  const Object& d = live(name, object);
  require_param(d.set, std::string(name) + " was created but never set");
  return d;
}

// EXECUTION_FAILED unless the handle's stream still exists (checked by calls that do work).
void require_stream(const cudnnContext& handle);

// *value of an alpha / beta argument: a host pointer to a float (f32 data).
double host_scalar(const char* name, const void* value);

// Element strides of a 4-D tensor or filter; for a filter n is k, h is its height, w its width.
struct Strides {
  std::int64_t n = 0, c = 0, h = 0, w = 0;
};

Strides tensor_strides(const cudnnTensorStruct& t);
Strides filter_strides(const cudnnFilterStruct& f);
std::size_t tensor_bytes(const cudnnTensorStruct& t);
std::size_t filter_bytes(const cudnnFilterStruct& f);

// BAD_PARAM (and a fault) unless [ptr, ptr + bytes) is device memory aligned for floats.
void require_device_floats(const char* name, const void* ptr, std::size_t bytes);

// The workspace argument: empty is fine; otherwise device memory covering all of it.
void require_workspace(const void* workspace, std::size_t bytes);

}  // namespace kiln::emu::cudnn
