// RAII for cuDNN: descriptors that destroy themselves, NHWC / OHWI descriptor setters with
// range checks, and one cuDNN handle per (device, thread), bound to the caller's stream.
// cuDNN 9 marks this legacy API deprecated; it warns only when CUDNN_WARN_DEPRECATED is defined,
// which kiln does not do (the graph API replaces it for Conv2D's forward pass:
// cudnn_graph_conv.cpp).
#pragma once

#include <cuda_runtime_api.h>
#include <cudnn.h>

#include <cstdint>
#include <utility>

#include "cuda_check.h"

namespace kiln::cuda {

template <class Handle, cudnnStatus_t (*Create)(Handle*), cudnnStatus_t (*Destroy)(Handle)>
class CudnnObject {
 public:
  CudnnObject() { CHECK_CUDNN(Create(&handle_)); }
  ~CudnnObject() {
    if (handle_ != nullptr) Destroy(handle_);
  }
  CudnnObject(CudnnObject&& other) noexcept : handle_(std::exchange(other.handle_, nullptr)) {}
  CudnnObject& operator=(CudnnObject&& other) noexcept {
    std::swap(handle_, other.handle_);
    return *this;
  }
  CudnnObject(const CudnnObject&) = delete;
  CudnnObject& operator=(const CudnnObject&) = delete;

  Handle get() const { return handle_; }

 private:
  Handle handle_ = nullptr;
};

using TensorDescriptor =
    CudnnObject<cudnnTensorDescriptor_t, cudnnCreateTensorDescriptor, cudnnDestroyTensorDescriptor>;
using FilterDescriptor =
    CudnnObject<cudnnFilterDescriptor_t, cudnnCreateFilterDescriptor, cudnnDestroyFilterDescriptor>;
using ConvolutionDescriptor =
    CudnnObject<cudnnConvolutionDescriptor_t, cudnnCreateConvolutionDescriptor,
                cudnnDestroyConvolutionDescriptor>;
using PoolingDescriptor = CudnnObject<cudnnPoolingDescriptor_t, cudnnCreatePoolingDescriptor,
                                      cudnnDestroyPoolingDescriptor>;

// f32 image (n, h, w, c), NHWC. Throws kiln::Error when an extent does not fit cuDNN's int.
void set_nhwc(const TensorDescriptor& desc, std::int64_t n, std::int64_t h, std::int64_t w,
              std::int64_t c);
// f32 filter (o, kh, kw, c): cuDNN's "NHWC" filter format.
void set_ohwi(const FilterDescriptor& desc, std::int64_t o, std::int64_t kh, std::int64_t kw,
              std::int64_t c);
// Checked narrowing of a size to int for cuDNN and cuBLAS (`what` names it in the error).
int to_int(std::int64_t value, const char* what);

// The calling thread's cuDNN handle for `device` (made current by the caller), set to `stream`.
cudnnHandle_t cudnn_handle(int device, cudaStream_t stream);

}  // namespace kiln::cuda
