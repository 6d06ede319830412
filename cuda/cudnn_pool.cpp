// cuDNN pooling forward for the geometries where it matches kiln exactly (see cudnn_pool.h).
// Descriptors are made per call: host-side structs, microseconds.
#include "cudnn_pool.h"

#include <cstdint>

#include "cudnn_resources.h"

namespace kiln::cuda {

namespace {

constexpr float kOne = 1.0f;
constexpr float kZero = 0.0f;

constexpr std::int64_t kMaxCudnnElements = (std::int64_t{1} << 31) - 1;

bool output_matches(std::int64_t in, std::int64_t pad, std::int64_t window, std::int64_t stride,
                    std::int64_t out) {
  return in + 2 * pad >= window && (in + 2 * pad - window) / stride + 1 == out;
}

struct PoolingDescriptors {
  TensorDescriptor x, y;
  PoolingDescriptor pool;
};

void describe(PoolingDescriptors& d, backend::PoolMode mode, const backend::Pool2dGeometry& g) {
  set_nhwc(d.x, g.n, g.h, g.w, g.c);
  set_nhwc(d.y, g.n, g.oh, g.ow, g.c);
  const cudnnPoolingMode_t cudnn_mode = mode == backend::PoolMode::avg
                                            ? CUDNN_POOLING_AVERAGE_COUNT_EXCLUDE_PADDING
                                            : CUDNN_POOLING_MAX;
  CHECK_CUDNN(cudnnSetPooling2dDescriptor(
      d.pool.get(), cudnn_mode, CUDNN_PROPAGATE_NAN, to_int(g.ph, "pool height"),
      to_int(g.pw, "pool width"), to_int(g.pad_top, "pool padding"),
      to_int(g.pad_left, "pool padding"), to_int(g.stride_h, "pool stride"),
      to_int(g.stride_w, "pool stride")));
}

}  // namespace

bool cudnn_pooling_supports(backend::PoolMode mode, const backend::Pool2dGeometry& g,
                            bool winners_wanted) {
  if (g.n == 0 || g.h == 0 || g.w == 0 || g.c == 0 || g.oh == 0 || g.ow == 0) return false;
  // Both products fit in int64: the tensors exist.
  if (g.n * g.h * g.w * g.c > kMaxCudnnElements) return false;
  if (g.n * g.oh * g.ow * g.c > kMaxCudnnElements) return false;
  switch (mode) {
    case backend::PoolMode::min: return false;
    case backend::PoolMode::max:
      return !winners_wanted && g.pad_top == 0 && g.pad_left == 0 &&
             output_matches(g.h, 0, g.ph, g.stride_h, g.oh) &&
             output_matches(g.w, 0, g.pw, g.stride_w, g.ow);
    case backend::PoolMode::avg:
      return g.pad_top >= 0 && g.pad_left >= 0 && g.pad_top < g.ph && g.pad_left < g.pw &&
             output_matches(g.h, g.pad_top, g.ph, g.stride_h, g.oh) &&
             output_matches(g.w, g.pad_left, g.pw, g.stride_w, g.ow);
  }
  return false;
}

void cudnn_pool_forward(int device, cudaStream_t stream, backend::PoolMode mode,
                        const backend::Pool2dGeometry& g, const float* x, float* y) {
  PoolingDescriptors d;
  describe(d, mode, g);
  CHECK_CUDNN(cudnnPoolingForward(cudnn_handle(device, stream), d.pool.get(), &kOne, d.x.get(), x,
                                  &kZero, d.y.get(), y));
}

}  // namespace kiln::cuda
