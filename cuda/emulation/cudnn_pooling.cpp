// Stands in for cudnnPoolingForward and cudnnPoolingBackward: f32 NHWC (or NCHW) tensors,
// CUDNN_POOLING_MAX and both average modes, with symmetric padding smaller than the window (so
// every window holds at least one element of x). Work is done at the call; sums are in double;
// y = alpha * result + beta * y, y not read when beta == 0. On a stream that captures, the run is
// recorded with a copy of the descriptors' contents (Note [Stream capture] in
// stream_capture.cpp).
//
// Note [Max pooling and NaN]
// ~~~~~~~~~~~~~~~~~~~~~~~~~~
// A window's maximum is the element of x at its "arg max": with CUDNN_PROPAGATE_NAN the first NaN
// of the window if it has one, otherwise (and with CUDNN_NOT_PROPAGATE_NAN, which ignores NaNs)
// the first largest element in row-major order; a window of NaNs only gives its first element,
// NaN. Padding is never a candidate. The backward pass sends each window's gradient to that same
// element, found again from x (y is checked as an argument but not read: the element cuDNN finds
// by comparing x with y is that one). Average pooling sums, so a NaN in a window always reaches
// its output.
#include <cudnn.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "cudnn_objects.h"

namespace kiln::emu::cudnn {

namespace {

// A copy of the descriptors' contents: a run recorded by a stream capture outlives them.
struct PoolingProblem {
  cudnnPoolingStruct pool;
  int n = 0, c = 0, h = 0, w = 0, oh = 0, ow = 0;
  Strides x, y;
  std::size_t x_bytes = 0, y_bytes = 0;
};

// The part of x under one window: rows [top, bottom), columns [left, right), already clipped.
struct Window {
  int top = 0, bottom = 0, left = 0, right = 0;
};

std::string shape(const cudnnTensorStruct& t) {
  return "(n=" + std::to_string(t.n) + ", c=" + std::to_string(t.c) + ", h=" + std::to_string(t.h) +
         ", w=" + std::to_string(t.w) + ")";
}

int output_extent(int in, int pad, int window, int stride) {
  const long long padded = static_cast<long long>(in) + 2LL * pad;
  return padded < window ? 0 : static_cast<int>(1 + (padded - window) / stride);
}

PoolingProblem describe_pooling(cudnnPoolingDescriptor_t pooling, cudnnTensorDescriptor_t x_desc,
                                cudnnTensorDescriptor_t y_desc, const char* x_name,
                                const char* y_name) {
  PoolingProblem p;
  p.pool = described("poolingDesc", pooling);
  const cudnnTensorStruct& x = described(x_name, x_desc);
  const cudnnTensorStruct& y = described(y_name, y_desc);
  p.oh = output_extent(x.h, p.pool.pad_h, p.pool.window_h, p.pool.stride_h);
  p.ow = output_extent(x.w, p.pool.pad_w, p.pool.window_w, p.pool.stride_w);
  require_param(p.oh > 0 && p.ow > 0,
                std::string("the window is larger than the padded ") + x_name + " " + shape(x));
  require_param(y.n == x.n && y.c == x.c && y.h == p.oh && y.w == p.ow,
                std::string(y_name) + " is " + shape(y) + " but pooling " + x_name + " " +
                    shape(x) + " gives (n=" + std::to_string(x.n) + ", c=" + std::to_string(x.c) +
                    ", h=" + std::to_string(p.oh) + ", w=" + std::to_string(p.ow) + ")");
  p.n = x.n, p.c = x.c, p.h = x.h, p.w = x.w;
  p.x = tensor_strides(x);
  p.y = tensor_strides(y);
  p.x_bytes = tensor_bytes(x);
  p.y_bytes = tensor_bytes(y);
  return p;
}

// BAD_PARAM unless `second` has exactly the dimensions and layout of `first` (documented for
// y / dy and x / dx of cudnnPoolingBackward).
void require_same_tensor(cudnnTensorDescriptor_t first, const char* first_name,
                         cudnnTensorDescriptor_t second, const char* second_name) {
  const cudnnTensorStruct& a = described(first_name, first);
  const cudnnTensorStruct& b = described(second_name, second);
  require_param(a.n == b.n && a.c == b.c && a.h == b.h && a.w == b.w && a.format == b.format,
                std::string(first_name) + " " + shape(a) + " and " + second_name + " " + shape(b) +
                    " differ in dimensions or layout");
}

std::int64_t at(const Strides& st, int n, int c, int h, int w) {
  return n * st.n + c * st.c + h * st.h + w * st.w;
}

Window window(const PoolingProblem& p, int oy, int ox) {
  const int top = oy * p.pool.stride_h - p.pool.pad_h;
  const int left = ox * p.pool.stride_w - p.pool.pad_w;
  return {std::max(top, 0), std::min(top + p.pool.window_h, p.h), std::max(left, 0),
          std::min(left + p.pool.window_w, p.w)};
}

bool is_average(const PoolingProblem& p) { return p.pool.mode != CUDNN_POOLING_MAX; }

double divisor(const PoolingProblem& p, const Window& win) {
  if (p.pool.mode == CUDNN_POOLING_AVERAGE_COUNT_INCLUDE_PADDING) {
    return static_cast<double>(p.pool.window_h) * p.pool.window_w;
  }
  return static_cast<double>(win.bottom - win.top) * (win.right - win.left);
}

// The index in x of the window's maximum (Note [Max pooling and NaN]).
std::int64_t arg_max(const PoolingProblem& p, const float* x, int n, int c, const Window& win) {
  const bool propagate = p.pool.nan == CUDNN_PROPAGATE_NAN;
  std::int64_t best = at(p.x, n, c, win.top, win.left);
  bool found = false;  // a non-NaN candidate has been seen
  for (int iy = win.top; iy < win.bottom; ++iy) {
    for (int ix = win.left; ix < win.right; ++ix) {
      const std::int64_t i = at(p.x, n, c, iy, ix);
      if (std::isnan(x[i])) {
        if (propagate) return i;
        continue;
      }
      if (!found || x[i] > x[best]) best = i;
      found = true;
    }
  }
  return best;
}

double window_sum(const PoolingProblem& p, const float* x, int n, int c, const Window& win) {
  double sum = 0.0;
  for (int iy = win.top; iy < win.bottom; ++iy) {
    for (int ix = win.left; ix < win.right; ++ix) sum += x[at(p.x, n, c, iy, ix)];
  }
  return sum;
}

void store(float* out, std::int64_t index, double result, double alpha, double beta) {
  double value = alpha * result;
  if (beta != 0.0) value += beta * out[index];
  out[index] = static_cast<float>(value);
}

void pool_forward(const PoolingProblem& p, const float* x, float* y, double alpha, double beta) {
  for (int n = 0; n < p.n; ++n) {
    for (int c = 0; c < p.c; ++c) {
      for (int oy = 0; oy < p.oh; ++oy) {
        for (int ox = 0; ox < p.ow; ++ox) {
          const Window win = window(p, oy, ox);
          const double result = is_average(p) ? window_sum(p, x, n, c, win) / divisor(p, win)
                                              : x[arg_max(p, x, n, c, win)];
          store(y, at(p.y, n, c, oy, ox), result, alpha, beta);
        }
      }
    }
  }
}

// Adds one output's gradient to the x elements it came from (indexed as in x).
void spread(const PoolingProblem& p, const float* x, int n, int c, const Window& win,
            double gradient, std::vector<double>& dx) {
  if (!is_average(p)) {
    dx[arg_max(p, x, n, c, win)] += gradient;
    return;
  }
  const double share = gradient / divisor(p, win);
  for (int iy = win.top; iy < win.bottom; ++iy) {
    for (int ix = win.left; ix < win.right; ++ix) dx[at(p.x, n, c, iy, ix)] += share;
  }
}

void pool_backward(const PoolingProblem& p, const float* x, const float* dy, float* dx,
                   double alpha, double beta) {
  std::vector<double> gradient(p.x_bytes / sizeof(float), 0.0);
  for (int n = 0; n < p.n; ++n) {
    for (int c = 0; c < p.c; ++c) {
      for (int oy = 0; oy < p.oh; ++oy) {
        for (int ox = 0; ox < p.ow; ++ox) {
          spread(p, x, n, c, window(p, oy, ox), dy[at(p.y, n, c, oy, ox)], gradient);
        }
      }
    }
  }
  for (std::size_t i = 0; i < gradient.size(); ++i) {
    store(dx, static_cast<std::int64_t>(i), gradient[i], alpha, beta);
  }
}

}  // namespace

}  // namespace kiln::emu::cudnn

using namespace kiln::emu;
using namespace kiln::emu::cudnn;

cudnnStatus_t cudnnPoolingForward(cudnnHandle_t handle, const cudnnPoolingDescriptor_t poolingDesc,
                                  const void* alpha, const cudnnTensorDescriptor_t xDesc,
                                  const void* x, const void* beta,
                                  const cudnnTensorDescriptor_t yDesc, void* y) {
  constexpr const char* kCall = "cudnnPoolingForward";
  return run_cudnn(kCall, [&] {
    const cudnnContext& context = live("handle", handle);
    const PoolingProblem p = describe_pooling(poolingDesc, xDesc, yDesc, "xDesc", "yDesc");
    const double alpha_value = host_scalar("alpha", alpha);
    const double beta_value = host_scalar("beta", beta);
    require_device_floats("x", x, p.x_bytes);
    require_device_floats("y", y, p.y_bytes);
    require_stream(context);
    const std::vector<CheckedRange> ranges{checked_range("x", x, p.x_bytes),
                                           checked_range("y", y, p.y_bytes)};
    queue_or_fail(CUDNN_STATUS_EXECUTION_FAILED, context.stream, kCall, [=] {
      if (!ranges_still_live(kCall, ranges)) return;
      pool_forward(p, static_cast<const float*>(x), static_cast<float*>(y), alpha_value,
                   beta_value);
      check_redzones_after(kCall);
    });
  });
}

cudnnStatus_t cudnnPoolingBackward(cudnnHandle_t handle, const cudnnPoolingDescriptor_t poolingDesc,
                                   const void* alpha, const cudnnTensorDescriptor_t yDesc,
                                   const void* y, const cudnnTensorDescriptor_t dyDesc,
                                   const void* dy, const cudnnTensorDescriptor_t xDesc,
                                   const void* x, const void* beta,
                                   const cudnnTensorDescriptor_t dxDesc, void* dx) {
  constexpr const char* kCall = "cudnnPoolingBackward";
  return run_cudnn(kCall, [&] {
    const cudnnContext& context = live("handle", handle);
    const PoolingProblem p = describe_pooling(poolingDesc, xDesc, yDesc, "xDesc", "yDesc");
    require_same_tensor(yDesc, "yDesc", dyDesc, "dyDesc");
    require_same_tensor(xDesc, "xDesc", dxDesc, "dxDesc");
    const double alpha_value = host_scalar("alpha", alpha);
    const double beta_value = host_scalar("beta", beta);
    require_device_floats("y", y, p.y_bytes);
    require_device_floats("dy", dy, p.y_bytes);
    require_device_floats("x", x, p.x_bytes);
    require_device_floats("dx", dx, p.x_bytes);
    require_stream(context);
    const std::vector<CheckedRange> ranges{
        checked_range("y", y, p.y_bytes), checked_range("dy", dy, p.y_bytes),
        checked_range("x", x, p.x_bytes), checked_range("dx", dx, p.x_bytes)};
    queue_or_fail(CUDNN_STATUS_EXECUTION_FAILED, context.stream, kCall, [=] {
      if (!ranges_still_live(kCall, ranges)) return;
      pool_backward(p, static_cast<const float*>(x), static_cast<const float*>(dy),
                    static_cast<float*>(dx), alpha_value, beta_value);
      check_redzones_after(kCall);
    });
  });
}
