// cuDNN descriptor setters and the per-(device, thread) handle cache (see cudnn_resources.h).
// Handles live in a thread_local map and are destroyed when their thread ends.
#include "cudnn_resources.h"

#include <limits>
#include <map>

#include "core/check.h"

namespace kiln::cuda {

namespace {

using CudnnHandle = CudnnObject<cudnnHandle_t, cudnnCreate, cudnnDestroy>;

}  // namespace

int to_int(std::int64_t value, const char* what) {
  KILN_CHECK(value >= 0 && value <= std::numeric_limits<int>::max(),
             "CUDA backend: {} = {} does not fit the 32-bit sizes of cuDNN / cuBLAS", what, value);
  return static_cast<int>(value);
}

void set_nhwc(const TensorDescriptor& desc, std::int64_t n, std::int64_t h, std::int64_t w,
              std::int64_t c) {
  to_int(n * h * w * c, "tensor element count");
  CHECK_CUDNN(cudnnSetTensor4dDescriptor(desc.get(), CUDNN_TENSOR_NHWC, CUDNN_DATA_FLOAT,
                                         to_int(n, "batch"), to_int(c, "channels"),
                                         to_int(h, "height"), to_int(w, "width")));
}

void set_ohwi(const FilterDescriptor& desc, std::int64_t o, std::int64_t kh, std::int64_t kw,
              std::int64_t c) {
  CHECK_CUDNN(cudnnSetFilter4dDescriptor(desc.get(), CUDNN_DATA_FLOAT, CUDNN_TENSOR_NHWC,
                                         to_int(o, "filters"), to_int(c, "channels"),
                                         to_int(kh, "kernel height"), to_int(kw, "kernel width")));
}

cudnnHandle_t cudnn_handle(int device, cudaStream_t stream) {
  thread_local std::map<int, CudnnHandle> handles;
  auto it = handles.find(device);
  if (it == handles.end()) it = handles.emplace(device, CudnnHandle()).first;
  CHECK_CUDNN(cudnnSetStream(it->second.get(), stream));
  return it->second.get();
}

}  // namespace kiln::cuda
