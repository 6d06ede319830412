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

// Strictly better under the kind, with a NaN beating every number, so the first of equal
// positions and the first NaN win: the CPU's expression (Note [NaN wins] in
// src/backend/cpu/cpu_pool.cpp). !(a <= b) is true for a larger a and for a NaN a or b.
__device__ __forceinline__ bool beats(PoolKind kind, float candidate, float best) {
  const bool better = kind == PoolKind::max ? !(candidate <= best) : !(candidate >= best);
  return better && !isnan(best);
}

__device__ float average_of(const PoolShape& s, const float* image, const Window& win,
                            std::int64_t ch) {
  float acc = 0.0f;
  for (std::int64_t iy = win.y_lo; iy < win.y_hi; ++iy) {
    for (std::int64_t ix = win.x_lo; ix < win.x_hi; ++ix) {
      acc += image[(iy * s.w + ix) * s.c + ch];
    }
  }
  return acc * (1.0f / static_cast<float>(win.count()));
}

// The value of channel ch's winner in the (non-empty) window, and its position iy * w + ix.
struct Winner {
  float value;
  std::int64_t position;
};

__device__ Winner winner_of(PoolKind kind, const PoolShape& s, const float* image,
                            const Window& win, std::int64_t ch) {
  Winner best;
  best.position = win.y_lo * s.w + win.x_lo;
  best.value = image[best.position * s.c + ch];
  for (std::int64_t iy = win.y_lo; iy < win.y_hi; ++iy) {
    for (std::int64_t ix = win.x_lo; ix < win.x_hi; ++ix) {
      const std::int64_t at = iy * s.w + ix;
      const float v = image[at * s.c + ch];
      if (beats(kind, v, best.value)) {
        best.value = v;
        best.position = at;
      }
    }
  }
  return best;
}

// winners may be null (inference): then only y is written.
__global__ void pool_forward_kernel(PoolKind kind, PoolShape s, const float* x, float* y,
                                    std::int32_t* winners) {
  const bool keep_winners = winners != nullptr && kind != PoolKind::avg;
  KILN_GRID_STRIDE_LOOP(i, s.n * s.oh * s.ow * s.c) {
    const std::int64_t ch = i % s.c;
    const std::int64_t pixel = i / s.c;
    const std::int64_t ox = pixel % s.ow;
    const std::int64_t oy = (pixel / s.ow) % s.oh;
    const std::int64_t img = pixel / (s.ow * s.oh);
    const Window win = window_of(s, oy, ox);
    if (win.count() == 0) {
      y[i] = 0.0f;
      if (keep_winners) winners[i] = -1;
      continue;
    }
    const float* image = x + img * s.h * s.w * s.c;
    if (kind == PoolKind::avg) {
      y[i] = average_of(s, image, win, ch);
      continue;
    }
    const Winner best = winner_of(kind, s, image, win, ch);
    y[i] = best.value;
    if (keep_winners) winners[i] = static_cast<std::int32_t>(best.position);
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

// One thread per input element gathers from the windows covering it, in row-major window order.
__global__ void pool_backward_kernel(PoolKind kind, PoolShape s, const std::int32_t* winners,
                                     const float* dy, float* dx) {
  KILN_GRID_STRIDE_LOOP(i, s.n * s.h * s.w * s.c) {
    const std::int64_t ch = i % s.c;
    const std::int64_t pixel = i / s.c;
    const std::int64_t ix = pixel % s.w;
    const std::int64_t iy = (pixel / s.w) % s.h;
    const std::int64_t img = pixel / (s.w * s.h);
    const std::int64_t first_output = img * s.oh * s.ow * s.c;
    // Windows with oy * stride - pad <= iy < oy * stride - pad + ph, likewise for x.
    const std::int64_t oy_lo = max64(0, ceil_div(iy + s.pad_top - s.ph + 1, s.stride_h));
    const std::int64_t oy_hi = min64(s.oh - 1, floor_div(iy + s.pad_top, s.stride_h));
    const std::int64_t ox_lo = max64(0, ceil_div(ix + s.pad_left - s.pw + 1, s.stride_w));
    const std::int64_t ox_hi = min64(s.ow - 1, floor_div(ix + s.pad_left, s.stride_w));
    const std::int64_t here = iy * s.w + ix;
    float acc = 0.0f;
    for (std::int64_t oy = oy_lo; oy <= oy_hi; ++oy) {
      for (std::int64_t ox = ox_lo; ox <= ox_hi; ++ox) {
        const std::int64_t out = first_output + (oy * s.ow + ox) * s.c + ch;
        if (kind == PoolKind::avg) {
          const Window win = window_of(s, oy, ox);
          acc += dy[out] * (1.0f / static_cast<float>(win.count()));
        } else if (winners[out] == here) {
          acc += dy[out];
        }
      }
    }
    dx[i] = acc;
  }
}

}  // namespace

void pool2d_forward(PoolKind kind, const PoolShape& s, const float* x, float* y,
                    std::int32_t* winners, cudaStream_t stream) {
  const std::int64_t n = s.n * s.oh * s.ow * s.c;
  if (n == 0) return;
  pool_forward_kernel<<<blocks_for(n), kThreads, 0, stream>>>(kind, s, x, y, winners);
  KILN_CUDA_LAUNCH_CHECK();
}

void pool2d_backward(PoolKind kind, const PoolShape& s, const std::int32_t* winners,
                     const float* dy, float* dx, cudaStream_t stream) {
  const std::int64_t n = s.n * s.h * s.w * s.c;
  if (n == 0) return;
  pool_backward_kernel<<<blocks_for(n), kThreads, 0, stream>>>(kind, s, winners, dy, dx);
  KILN_CUDA_LAUNCH_CHECK();
}

}  // namespace kiln::cuda::kernels
