// Max / min / average pooling forward and backward (see pool.cuh).
#include "../cuda_check.h"
#include "launch.cuh"
#include "pool.cuh"

namespace kiln::cuda::kernels {

namespace {

struct Window {
  std::int64_t y_lo, y_hi, x_lo, x_hi;
  __device__ std::int64_t count() const { return (y_hi - y_lo) * (x_hi - x_lo); }
};

__device__ __forceinline__ std::int64_t clamp64(std::int64_t v, std::int64_t lo, std::int64_t hi) {
  return v < lo ? lo : (v > hi ? hi : v);
}

__device__ Window window_of(const PoolShape& s, std::int64_t oy, std::int64_t ox) {
  const std::int64_t y0 = oy * s.stride_h - s.pad_top;
  const std::int64_t x0 = ox * s.stride_w - s.pad_left;
  Window win;
  win.y_lo = clamp64(y0, 0, s.h);
  win.y_hi = clamp64(y0 + s.ph, win.y_lo, s.h);
  win.x_lo = clamp64(x0, 0, s.w);
  win.x_hi = clamp64(x0 + s.pw, win.x_lo, s.w);
  return win;
}

__device__ __forceinline__ bool beats(PoolKind kind, float candidate, float best) {
  return kind == PoolKind::max ? candidate > best : candidate < best;
}

// Offset (iy * w + ix) of the first winner of channel ch in the window; the window is not empty.
__device__ std::int64_t winner_of(PoolKind kind, const PoolShape& s, const float* image,
                                  const Window& win, std::int64_t ch) {
  std::int64_t winner = win.y_lo * s.w + win.x_lo;
  float best = image[winner * s.c + ch];
  for (std::int64_t iy = win.y_lo; iy < win.y_hi; ++iy) {
    for (std::int64_t ix = win.x_lo; ix < win.x_hi; ++ix) {
      const std::int64_t at = iy * s.w + ix;
      const float v = image[at * s.c + ch];
      if (beats(kind, v, best)) {
        best = v;
        winner = at;
      }
    }
  }
  return winner;
}

__global__ void pool_forward_kernel(PoolKind kind, PoolShape s, const float* x, float* y) {
  KILN_GRID_STRIDE_LOOP(i, s.n * s.oh * s.ow * s.c) {
    const std::int64_t ch = i % s.c;
    const std::int64_t pixel = i / s.c;
    const std::int64_t ox = pixel % s.ow;
    const std::int64_t oy = (pixel / s.ow) % s.oh;
    const std::int64_t img = pixel / (s.ow * s.oh);
    const Window win = window_of(s, oy, ox);
    if (win.count() == 0) {
      y[i] = 0.0f;
      continue;
    }
    const float* image = x + img * s.h * s.w * s.c;
    float acc = image[(win.y_lo * s.w + win.x_lo) * s.c + ch];
    bool first = true;
    for (std::int64_t iy = win.y_lo; iy < win.y_hi; ++iy) {
      for (std::int64_t ix = win.x_lo; ix < win.x_hi; ++ix) {
        if (first) {
          first = false;
          continue;
        }
        const float v = image[(iy * s.w + ix) * s.c + ch];
        if (kind == PoolKind::avg) {
          acc += v;
        } else if (beats(kind, v, acc)) {
          acc = v;
        }
      }
    }
    y[i] = kind == PoolKind::avg ? acc * (1.0f / static_cast<float>(win.count())) : acc;
  }
}

// Division rounding toward -infinity / +infinity, for b > 0 and any sign of a.
__device__ __forceinline__ std::int64_t floor_div(std::int64_t a, std::int64_t b) {
  return a >= 0 ? a / b : -((-a + b - 1) / b);
}

__device__ __forceinline__ std::int64_t ceil_div(std::int64_t a, std::int64_t b) {
  return -floor_div(-a, b);
}

__device__ __forceinline__ std::int64_t max64(std::int64_t a, std::int64_t b) {
  return a > b ? a : b;
}
__device__ __forceinline__ std::int64_t min64(std::int64_t a, std::int64_t b) {
  return a < b ? a : b;
}

__global__ void pool_backward_kernel(PoolKind kind, PoolShape s, const float* x, const float* dy,
                                     float* dx) {
  KILN_GRID_STRIDE_LOOP(i, s.n * s.h * s.w * s.c) {
    const std::int64_t ch = i % s.c;
    const std::int64_t pixel = i / s.c;
    const std::int64_t ix = pixel % s.w;
    const std::int64_t iy = (pixel / s.w) % s.h;
    const std::int64_t img = pixel / (s.w * s.h);
    const float* image = x + img * s.h * s.w * s.c;
    const float* grad = dy + img * s.oh * s.ow * s.c;
    // Windows with oy * stride - pad <= iy < oy * stride - pad + ph, likewise for x.
    const std::int64_t oy_lo = max64(0, ceil_div(iy + s.pad_top - s.ph + 1, s.stride_h));
    const std::int64_t oy_hi = min64(s.oh - 1, floor_div(iy + s.pad_top, s.stride_h));
    const std::int64_t ox_lo = max64(0, ceil_div(ix + s.pad_left - s.pw + 1, s.stride_w));
    const std::int64_t ox_hi = min64(s.ow - 1, floor_div(ix + s.pad_left, s.stride_w));
    const std::int64_t here = iy * s.w + ix;
    float acc = 0.0f;
    for (std::int64_t oy = oy_lo; oy <= oy_hi; ++oy) {
      for (std::int64_t ox = ox_lo; ox <= ox_hi; ++ox) {
        const Window win = window_of(s, oy, ox);
        const float g = grad[(oy * s.ow + ox) * s.c + ch];
        if (kind == PoolKind::avg) {
          acc += g * (1.0f / static_cast<float>(win.count()));
        } else if (winner_of(kind, s, image, win, ch) == here) {
          acc += g;
        }
      }
    }
    dx[i] = acc;
  }
}

}  // namespace

void pool2d_forward(PoolKind kind, const PoolShape& s, const float* x, float* y,
                    cudaStream_t stream) {
  const std::int64_t n = s.n * s.oh * s.ow * s.c;
  if (n == 0) return;
  pool_forward_kernel<<<blocks_for(n), kThreads, 0, stream>>>(kind, s, x, y);
  KILN_CUDA_LAUNCH_CHECK();
}

void pool2d_backward(PoolKind kind, const PoolShape& s, const float* x, const float* dy, float* dx,
                     cudaStream_t stream) {
  const std::int64_t n = s.n * s.h * s.w * s.c;
  if (n == 0) return;
  pool_backward_kernel<<<blocks_for(n), kThreads, 0, stream>>>(kind, s, x, dy, dx);
  KILN_CUDA_LAUNCH_CHECK();
}

}  // namespace kiln::cuda::kernels
