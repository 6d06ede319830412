// CPU kernels of the spatial layers added for Keras files: bilinear resize (UpSampling2D
// "bilinear"; any ResizeMode for imported graphs) and depthwise convolution (DepthwiseConv2D,
// SeparableConv2D). Plain loops, OpenMP over images or rows; f32 and f64. The CUDA twins are cuda/kernels/resize.cu and
// cuda/kernels/depthwise_conv.cu.
#include <cmath>
#include <vector>

#include "backend/cpu/cpu_backend.h"
#include "backend/cpu/cpu_kernels.h"
#include "backend/cpu/cpu_simd.h"

namespace kiln::backend {

namespace {

// Where output position o reads from along one axis (backend.h, resize_bilinear_forward).
template <class T>
struct Source {
  std::int64_t lower = 0, upper = 0;
  T lerp = 0;
};

// Half-pixel centres unless `mode` says otherwise (graph_ops.h, ResizeMode).
template <class T>
std::vector<Source<T>> sources(std::int64_t in, std::int64_t out, ResizeMode mode = {false, true}) {
  std::vector<Source<T>> result(static_cast<std::size_t>(out));
  const T scale = mode.align_corners && out > 1 ? static_cast<T>(in - 1) / static_cast<T>(out - 1)
                                                : static_cast<T>(in) / static_cast<T>(out);
  for (std::int64_t o = 0; o < out; ++o) {
    const T position = mode.half_pixel_centers ? (static_cast<T>(o) + T(0.5)) * scale - T(0.5)
                                               : static_cast<T>(o) * scale;
    const T below = std::floor(position);
    Source<T>& s = result[static_cast<std::size_t>(o)];
    s.lower = std::max<std::int64_t>(static_cast<std::int64_t>(below), 0);
    s.upper = std::min<std::int64_t>(static_cast<std::int64_t>(std::ceil(position)), in - 1);
    s.lerp = position - below;
  }
  return result;
}

// The input position of output o with tap t along one axis, or -1 when it lies in the padding.
std::int64_t input_at(std::int64_t o, std::int64_t t, std::int64_t stride, std::int64_t pad,
                      std::int64_t extent) {
  const std::int64_t i = o * stride - pad + t;
  return i >= 0 && i < extent ? i : -1;
}

// The output position whose tap t reads input i along one axis, or -1 when none does.
std::int64_t output_at(std::int64_t i, std::int64_t t, std::int64_t stride, std::int64_t pad,
                       std::int64_t extent) {
  const std::int64_t shifted = i + pad - t;
  if (shifted < 0 || shifted % stride != 0) return -1;
  const std::int64_t o = shifted / stride;
  return o < extent ? o : -1;
}

}  // namespace

void CpuBackend::resize_bilinear_forward(const Tensor& x, Tensor& y) {
  resize_bilinear_mode(x, {false, true}, y);
}

void CpuBackend::resize_bilinear_mode(const Tensor& x, ResizeMode mode, Tensor& y) {
  const std::int64_t n = x.dim(0), h = x.dim(1), w = x.dim(2), c = x.dim(3);
  const std::int64_t oh = y.dim(1), ow = y.dim(2);
  cpu::dispatch_floating(y.dtype(), "resize_bilinear_forward", [&]<class T>(T) {
    const auto rows = sources<T>(h, oh, mode);
    const auto cols = sources<T>(w, ow, mode);
    const T* in = x.data<T>();
    T* out = y.data<T>();
#pragma omp parallel for if (y.numel() > cpu::kParallelThreshold)
    for (std::int64_t image_row = 0; image_row < n * oh; ++image_row) {
      const std::int64_t b = image_row / oh, oy = image_row % oh;
      const Source<T>& r = rows[static_cast<std::size_t>(oy)];
      const T* top_row = in + (b * h + r.lower) * w * c;
      const T* bottom_row = in + (b * h + r.upper) * w * c;
      for (std::int64_t ox = 0; ox < ow; ++ox) {
        const Source<T>& s = cols[static_cast<std::size_t>(ox)];
        T* pixel = out + (image_row * ow + ox) * c;
        for (std::int64_t k = 0; k < c; ++k) {
          const T tl = top_row[s.lower * c + k], tr = top_row[s.upper * c + k];
          const T bl = bottom_row[s.lower * c + k], br = bottom_row[s.upper * c + k];
          const T top = tl + (tr - tl) * s.lerp;
          const T bottom = bl + (br - bl) * s.lerp;
          pixel[k] = top + (bottom - top) * r.lerp;
        }
      }
    }
  });
}

void CpuBackend::resize_bilinear_backward(const Tensor& dy, Tensor& dx) {
  const std::int64_t n = dx.dim(0), h = dx.dim(1), w = dx.dim(2), c = dx.dim(3);
  const std::int64_t oh = dy.dim(1), ow = dy.dim(2);
  fill(dx, 0.0);
  cpu::dispatch_floating(dx.dtype(), "resize_bilinear_backward", [&]<class T>(T) {
    const auto rows = sources<T>(h, oh);
    const auto cols = sources<T>(w, ow);
    const T* grad = dy.data<T>();
    T* out = dx.data<T>();
#pragma omp parallel for if (dy.numel() > cpu::kParallelThreshold)
    for (std::int64_t b = 0; b < n; ++b) {
      T* image = out + b * h * w * c;
      for (std::int64_t oy = 0; oy < oh; ++oy) {
        const Source<T>& r = rows[static_cast<std::size_t>(oy)];
        for (std::int64_t ox = 0; ox < ow; ++ox) {
          const Source<T>& s = cols[static_cast<std::size_t>(ox)];
          const T* g = grad + ((b * oh + oy) * ow + ox) * c;
          const T weights[4] = {(1 - r.lerp) * (1 - s.lerp), (1 - r.lerp) * s.lerp,
                                r.lerp * (1 - s.lerp), r.lerp * s.lerp};
          const std::int64_t at[4] = {r.lower * w + s.lower, r.lower * w + s.upper,
                                      r.upper * w + s.lower, r.upper * w + s.upper};
          for (int q = 0; q < 4; ++q) {
            T* target = image + at[q] * c;
            for (std::int64_t k = 0; k < c; ++k) target[k] += g[k] * weights[q];
          }
        }
      }
    }
  });
}

void CpuBackend::depthwise_conv2d_forward(const Conv2dGeometry& g, const Tensor& x, const Tensor& w,
                                          Tensor& y) {
  const std::int64_t m = g.o / g.c;
  if (m == 1 && y.dtype() == DType::f32) {  // the common case, on the machine's vector width
    const float* in = x.data<float>();
    const float* kernel = w.data<float>();
    float* out = y.data<float>();
#pragma omp parallel for if (y.numel() * g.kh * g.kw > cpu::kParallelThreshold)
    for (std::int64_t image_row = 0; image_row < g.n * g.oh; ++image_row) {
      cpu::depthwise_forward_rows(g, in, kernel, out, image_row, image_row + 1);
    }
    return;
  }
  cpu::dispatch_floating(y.dtype(), "depthwise_conv2d_forward", [&]<class T>(T) {
    const T* in = x.data<T>();
    const T* kernel = w.data<T>();
    T* out = y.data<T>();
#pragma omp parallel for if (y.numel() * g.kh * g.kw > cpu::kParallelThreshold)
    for (std::int64_t image_row = 0; image_row < g.n * g.oh; ++image_row) {
      const std::int64_t b = image_row / g.oh, oy = image_row % g.oh;
      for (std::int64_t ox = 0; ox < g.ow; ++ox) {
        T* pixel = out + (image_row * g.ow + ox) * g.o;
        for (std::int64_t o = 0; o < g.o; ++o) pixel[o] = T(0);
        for (std::int64_t ky = 0; ky < g.kh; ++ky) {
          const std::int64_t iy = input_at(oy, ky, g.stride_h, g.pad_top, g.h);
          for (std::int64_t kx = 0; kx < g.kw && iy >= 0; ++kx) {
            const std::int64_t ix = input_at(ox, kx, g.stride_w, g.pad_left, g.w);
            if (ix < 0) continue;
            const T* source = in + ((b * g.h + iy) * g.w + ix) * g.c;
            const T* taps = kernel + (ky * g.kw + kx) * g.o;
            if (m == 1) {  // the common case, without the division, so that it vectorises
#pragma omp simd
              for (std::int64_t o = 0; o < g.o; ++o) pixel[o] += source[o] * taps[o];
            } else {
              for (std::int64_t o = 0; o < g.o; ++o) pixel[o] += source[o / m] * taps[o];
            }
          }
        }
      }
    }
  });
}

void CpuBackend::depthwise_conv2d_backward_data(const Conv2dGeometry& g, const Tensor& dy,
                                                const Tensor& w, Tensor& dx) {
  const std::int64_t m = g.o / g.c;
  cpu::dispatch_floating(dx.dtype(), "depthwise_conv2d_backward_data", [&]<class T>(T) {
    const T* grad = dy.data<T>();
    const T* kernel = w.data<T>();
    T* out = dx.data<T>();
#pragma omp parallel for if (dy.numel() * g.kh * g.kw > cpu::kParallelThreshold)
    for (std::int64_t image_row = 0; image_row < g.n * g.h; ++image_row) {
      const std::int64_t b = image_row / g.h, iy = image_row % g.h;
      for (std::int64_t ix = 0; ix < g.w; ++ix) {
        T* pixel = out + (image_row * g.w + ix) * g.c;
        for (std::int64_t k = 0; k < g.c; ++k) pixel[k] = T(0);
        for (std::int64_t ky = 0; ky < g.kh; ++ky) {
          const std::int64_t oy = output_at(iy, ky, g.stride_h, g.pad_top, g.oh);
          for (std::int64_t kx = 0; kx < g.kw && oy >= 0; ++kx) {
            const std::int64_t ox = output_at(ix, kx, g.stride_w, g.pad_left, g.ow);
            if (ox < 0) continue;
            const T* source = grad + ((b * g.oh + oy) * g.ow + ox) * g.o;
            const T* taps = kernel + (ky * g.kw + kx) * g.o;
            for (std::int64_t o = 0; o < g.o; ++o) pixel[o / m] += source[o] * taps[o];
          }
        }
      }
    }
  });
}

void CpuBackend::depthwise_conv2d_backward_filter(const Conv2dGeometry& g, const Tensor& x,
                                                  const Tensor& dy, Tensor& dw) {
  const std::int64_t m = g.o / g.c;
  cpu::dispatch_floating(dw.dtype(), "depthwise_conv2d_backward_filter", [&]<class T>(T) {
    const T* in = x.data<T>();
    const T* grad = dy.data<T>();
    T* out = dw.data<T>();
#pragma omp parallel for if (dy.numel() * g.kh * g.kw > cpu::kParallelThreshold)
    for (std::int64_t tap = 0; tap < g.kh * g.kw; ++tap) {
      const std::int64_t ky = tap / g.kw, kx = tap % g.kw;
      T* taps = out + tap * g.o;
      for (std::int64_t o = 0; o < g.o; ++o) taps[o] = T(0);
      for (std::int64_t image_row = 0; image_row < g.n * g.oh; ++image_row) {
        const std::int64_t b = image_row / g.oh, oy = image_row % g.oh;
        const std::int64_t iy = input_at(oy, ky, g.stride_h, g.pad_top, g.h);
        for (std::int64_t ox = 0; ox < g.ow && iy >= 0; ++ox) {
          const std::int64_t ix = input_at(ox, kx, g.stride_w, g.pad_left, g.w);
          if (ix < 0) continue;
          const T* source = in + ((b * g.h + iy) * g.w + ix) * g.c;
          const T* pixel = grad + (image_row * g.ow + ox) * g.o;
          for (std::int64_t o = 0; o < g.o; ++o) taps[o] += source[o / m] * pixel[o];
        }
      }
    }
  });
}

}  // namespace kiln::backend
