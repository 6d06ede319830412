// Bilinear resize and depthwise convolution (see spatial.cuh). The arithmetic mirrors the CPU's
// src/backend/cpu/cpu_spatial_kernels.cpp term for term.
#include <cmath>
#include <cstdint>

#include "../cuda_check.h"
#include "launch.cuh"
#include "spatial.cuh"

namespace kiln::cuda::kernels {

namespace {

struct Source {
  std::int64_t lower, upper;
  float lerp;
};

__device__ Source source_of(std::int64_t o, std::int64_t in, std::int64_t out,
                            bool align_corners = false, bool half_pixel_centers = true) {
  const float scale = align_corners && out > 1
                          ? static_cast<float>(in - 1) / static_cast<float>(out - 1)
                          : static_cast<float>(in) / static_cast<float>(out);
  const float position = half_pixel_centers ? (static_cast<float>(o) + 0.5f) * scale - 0.5f
                                            : static_cast<float>(o) * scale;
  const float below = floorf(position);
  Source s;
  s.lower = max(static_cast<long long>(below), 0LL);
  s.upper = min(static_cast<long long>(ceilf(position)), static_cast<long long>(in - 1));
  s.lerp = position - below;
  return s;
}

// The weight with which output o reads input i along one axis (0 when it does not).
__device__ float weight_of(const Source& s, std::int64_t i) {
  float weight = 0.0f;
  if (s.lower == i) weight += 1.0f - s.lerp;
  if (s.upper == i) weight += s.lerp;
  return weight;
}

__global__ void resize_bilinear_forward_kernel(ResizeShape s, const float* x, float* y) {
  KILN_GRID_STRIDE_LOOP(i, s.n * s.oh * s.ow * s.c) {
    const std::int64_t k = i % s.c;
    const std::int64_t ox = (i / s.c) % s.ow;
    const std::int64_t oy = (i / (s.c * s.ow)) % s.oh;
    const std::int64_t b = i / (s.c * s.ow * s.oh);
    const Source r = source_of(oy, s.h, s.oh, s.align_corners, s.half_pixel_centers);
    const Source q = source_of(ox, s.w, s.ow, s.align_corners, s.half_pixel_centers);
    const float* image = x + b * s.h * s.w * s.c + k;
    const float tl = image[(r.lower * s.w + q.lower) * s.c],
                tr = image[(r.lower * s.w + q.upper) * s.c];
    const float bl = image[(r.upper * s.w + q.lower) * s.c],
                br = image[(r.upper * s.w + q.upper) * s.c];
    const float top = tl + (tr - tl) * q.lerp;
    const float bottom = bl + (br - bl) * q.lerp;
    y[i] = top + (bottom - top) * r.lerp;
  }
}

// The outputs that can read input i along one axis: [first, last).
__device__ void candidates(std::int64_t i, std::int64_t in, std::int64_t out, std::int64_t& first,
                           std::int64_t& last) {
  first = max(0LL, static_cast<long long>(((i - 1) * out) / in) - 1);
  last = min(static_cast<long long>(out), static_cast<long long>(((i + 2) * out) / in) + 2);
}

__global__ void resize_bilinear_backward_kernel(ResizeShape s, const float* dy, float* dx) {
  KILN_GRID_STRIDE_LOOP(i, s.n * s.h * s.w * s.c) {
    const std::int64_t k = i % s.c;
    const std::int64_t ix = (i / s.c) % s.w;
    const std::int64_t iy = (i / (s.c * s.w)) % s.h;
    const std::int64_t b = i / (s.c * s.w * s.h);
    std::int64_t y0, y1, x0, x1;
    candidates(iy, s.h, s.oh, y0, y1);
    candidates(ix, s.w, s.ow, x0, x1);
    float total = 0.0f;
    for (std::int64_t oy = y0; oy < y1; ++oy) {
      const float wy = weight_of(source_of(oy, s.h, s.oh), iy);
      if (wy == 0.0f) continue;
      for (std::int64_t ox = x0; ox < x1; ++ox) {
        const float wx = weight_of(source_of(ox, s.w, s.ow), ix);
        if (wx == 0.0f) continue;
        total += dy[((b * s.oh + oy) * s.ow + ox) * s.c + k] * (wy * wx);
      }
    }
    dx[i] = total;
  }
}

__global__ void depthwise_forward_kernel(DepthwiseShape s, const float* x, const float* w,
                                         float* y) {
  const std::int64_t o_count = s.c * s.m;
  KILN_GRID_STRIDE_LOOP(i, s.n * s.oh * s.ow * o_count) {
    const std::int64_t o = i % o_count;
    const std::int64_t ox = (i / o_count) % s.ow;
    const std::int64_t oy = (i / (o_count * s.ow)) % s.oh;
    const std::int64_t b = i / (o_count * s.ow * s.oh);
    const std::int64_t k = o / s.m;
    float total = 0.0f;
    for (std::int64_t ky = 0; ky < s.kh; ++ky) {
      const std::int64_t iy = oy * s.stride_h - s.pad_top + ky;
      if (iy < 0 || iy >= s.h) continue;
      for (std::int64_t kx = 0; kx < s.kw; ++kx) {
        const std::int64_t ix = ox * s.stride_w - s.pad_left + kx;
        if (ix < 0 || ix >= s.w) continue;
        total += x[((b * s.h + iy) * s.w + ix) * s.c + k] * w[(ky * s.kw + kx) * o_count + o];
      }
    }
    y[i] = total;
  }
}

__global__ void depthwise_backward_data_kernel(DepthwiseShape s, const float* dy, const float* w,
                                               float* dx) {
  const std::int64_t o_count = s.c * s.m;
  KILN_GRID_STRIDE_LOOP(i, s.n * s.h * s.w * s.c) {
    const std::int64_t k = i % s.c;
    const std::int64_t ix = (i / s.c) % s.w;
    const std::int64_t iy = (i / (s.c * s.w)) % s.h;
    const std::int64_t b = i / (s.c * s.w * s.h);
    float total = 0.0f;
    for (std::int64_t ky = 0; ky < s.kh; ++ky) {
      const std::int64_t ty = iy + s.pad_top - ky;
      if (ty < 0 || ty % s.stride_h != 0 || ty / s.stride_h >= s.oh) continue;
      for (std::int64_t kx = 0; kx < s.kw; ++kx) {
        const std::int64_t tx = ix + s.pad_left - kx;
        if (tx < 0 || tx % s.stride_w != 0 || tx / s.stride_w >= s.ow) continue;
        const float* pixel = dy + ((b * s.oh + ty / s.stride_h) * s.ow + tx / s.stride_w) * o_count;
        const float* taps = w + (ky * s.kw + kx) * o_count;
        for (std::int64_t j = 0; j < s.m; ++j) total += pixel[k * s.m + j] * taps[k * s.m + j];
      }
    }
    dx[i] = total;
  }
}

// One block per dw element (tap, o): the threads stride over (n, oy, ox), then a tree reduction.
__global__ void depthwise_backward_filter_kernel(DepthwiseShape s, const float* x, const float* dy,
                                                 float* dw) {
  __shared__ float partial[kThreads];
  const std::int64_t o_count = s.c * s.m;
  const std::int64_t element = blockIdx.x;
  const std::int64_t o = element % o_count;
  const std::int64_t tap = element / o_count;
  const std::int64_t ky = tap / s.kw, kx = tap % s.kw;
  const std::int64_t k = o / s.m;
  float total = 0.0f;
  for (std::int64_t p = threadIdx.x; p < s.n * s.oh * s.ow; p += blockDim.x) {
    const std::int64_t ox = p % s.ow;
    const std::int64_t oy = (p / s.ow) % s.oh;
    const std::int64_t b = p / (s.ow * s.oh);
    const std::int64_t iy = oy * s.stride_h - s.pad_top + ky;
    const std::int64_t ix = ox * s.stride_w - s.pad_left + kx;
    if (iy < 0 || iy >= s.h || ix < 0 || ix >= s.w) continue;
    total += x[((b * s.h + iy) * s.w + ix) * s.c + k] * dy[p * o_count + o];
  }
  partial[threadIdx.x] = total;
  __syncthreads();
  for (unsigned int half = blockDim.x / 2; half > 0; half /= 2) {
    if (threadIdx.x < half) partial[threadIdx.x] += partial[threadIdx.x + half];
    __syncthreads();
  }
  if (threadIdx.x == 0) dw[element] = partial[0];
}

}  // namespace

void resize_bilinear_forward(const ResizeShape& s, const float* x, float* y, cudaStream_t stream) {
  const std::int64_t count = s.n * s.oh * s.ow * s.c;
  if (count == 0) return;
  resize_bilinear_forward_kernel<<<blocks_for(count), kThreads, 0, stream>>>(s, x, y);
  KILN_CUDA_LAUNCH_CHECK();
}

void resize_bilinear_backward(const ResizeShape& s, const float* dy, float* dx,
                              cudaStream_t stream) {
  const std::int64_t count = s.n * s.h * s.w * s.c;
  if (count == 0) return;
  resize_bilinear_backward_kernel<<<blocks_for(count), kThreads, 0, stream>>>(s, dy, dx);
  KILN_CUDA_LAUNCH_CHECK();
}

void depthwise_conv2d_forward(const DepthwiseShape& s, const float* x, const float* w, float* y,
                              cudaStream_t stream) {
  const std::int64_t count = s.n * s.oh * s.ow * s.c * s.m;
  if (count == 0) return;
  depthwise_forward_kernel<<<blocks_for(count), kThreads, 0, stream>>>(s, x, w, y);
  KILN_CUDA_LAUNCH_CHECK();
}

void depthwise_conv2d_backward_data(const DepthwiseShape& s, const float* dy, const float* w,
                                    float* dx, cudaStream_t stream) {
  const std::int64_t count = s.n * s.h * s.w * s.c;
  if (count == 0) return;
  depthwise_backward_data_kernel<<<blocks_for(count), kThreads, 0, stream>>>(s, dy, w, dx);
  KILN_CUDA_LAUNCH_CHECK();
}

void depthwise_conv2d_backward_filter(const DepthwiseShape& s, const float* x, const float* dy,
                                      float* dw, cudaStream_t stream) {
  const std::int64_t elements = s.kh * s.kw * s.c * s.m;
  if (elements == 0) return;
  depthwise_backward_filter_kernel<<<static_cast<unsigned int>(elements), kThreads, 0, stream>>>(
      s, x, dy, dw);
  KILN_CUDA_LAUNCH_CHECK();
}

}  // namespace kiln::cuda::kernels
