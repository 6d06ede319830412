// CPU 2-D convolution, NHWC activations and HWIO kernels, as im2col + GEMM:
//   col (n*oh*ow, kh*kw*c): one row per output pixel, columns ordered (ky, kx, c), zeros where
//   the tap falls into padding; the HWIO kernel is then the (kh*kw*c, o) matrix W.
//   forward          y    = col · W                       (assigned)
//   backward data    dcol = dy · W^T, dx = col2im(dcol)   (assigned: scatter-add into zeroed dx)
//   backward filter  dW   = col^T · dy                    (assigned: first chunk beta 0, then 1)
// The batch is processed in chunks of images so that the column matrix stays within a bounded
// per-thread scratch buffer (Caffe #852: unbounded im2col buffers). A 1x1 convolution with
// stride 1 and no padding is a plain GEMM on the activations.
#include <algorithm>

#include "backend/cpu/cpu_backend.h"
#include "backend/cpu/cpu_kernels.h"

namespace kiln::backend {

namespace cpu {

namespace {

constexpr std::size_t kColumnBudgetBytes = std::size_t{8} << 20;
constexpr int kColumnSlot = 0;

std::int64_t column_width(const Conv2dGeometry& g) { return g.kh * g.kw * g.c; }

bool is_pointwise(const Conv2dGeometry& g) {
  return g.kh == 1 && g.kw == 1 && g.stride_h == 1 && g.stride_w == 1 && g.pad_top == 0 &&
         g.pad_left == 0 && g.oh == g.h && g.ow == g.w;
}

// Images per chunk: as many as fit the column budget, at least one.
std::int64_t images_per_chunk(const Conv2dGeometry& g, std::size_t element_bytes) {
  const std::size_t per_image =
      static_cast<std::size_t>(g.oh * g.ow * column_width(g)) * element_bytes;
  const auto fit =
      static_cast<std::int64_t>(kColumnBudgetBytes / std::max<std::size_t>(per_image, 1));
  return std::clamp<std::int64_t>(fit, 1, std::max<std::int64_t>(g.n, 1));
}

// The taps kx in [lo, hi) of a window starting at input column x0 fall inside [0, w).
struct TapRange {
  std::int64_t lo = 0, hi = 0;
};

TapRange valid_taps(std::int64_t start, std::int64_t taps, std::int64_t extent) {
  const std::int64_t lo = std::clamp<std::int64_t>(-start, 0, taps);
  const std::int64_t hi = std::clamp<std::int64_t>(extent - start, lo, taps);
  return {lo, hi};
}

// Columns of `images` images starting at x (one image = h*w*c values).
template <class T>
void im2col(const Conv2dGeometry& g, const T* x, std::int64_t images, T* col) {
  const std::int64_t width = column_width(g);
  const std::int64_t row_taps = g.kw * g.c;
#pragma omp parallel for collapse(2) if (images * g.oh * width * g.ow > kParallelThreshold)
  for (std::int64_t img = 0; img < images; ++img) {
    for (std::int64_t oy = 0; oy < g.oh; ++oy) {
      const T* image = x + img * g.h * g.w * g.c;
      T* out = col + (img * g.oh + oy) * g.ow * width;
      for (std::int64_t ox = 0; ox < g.ow; ++ox, out += width) {
        const std::int64_t x0 = ox * g.stride_w - g.pad_left;
        const TapRange kx = valid_taps(x0, g.kw, g.w);
        for (std::int64_t ky = 0; ky < g.kh; ++ky) {
          T* dst = out + ky * row_taps;
          const std::int64_t iy = oy * g.stride_h - g.pad_top + ky;
          if (iy < 0 || iy >= g.h) {
            std::fill(dst, dst + row_taps, T(0));
            continue;
          }
          std::fill(dst, dst + kx.lo * g.c, T(0));
          if (kx.hi > kx.lo) {
            const T* src = image + (iy * g.w + x0 + kx.lo) * g.c;
            std::copy(src, src + (kx.hi - kx.lo) * g.c, dst + kx.lo * g.c);
          }
          std::fill(dst + kx.hi * g.c, dst + row_taps, T(0));
        }
      }
    }
  }
}

// dx = col2im(dcol) for `images` images: each image's dx is zeroed, then every column entry is
// added to the input position it was read from. Images are independent, so they run in parallel.
template <class T>
void col2im(const Conv2dGeometry& g, const T* dcol, std::int64_t images, T* dx) {
  const std::int64_t width = column_width(g);
  const std::int64_t image_size = g.h * g.w * g.c;
#pragma omp parallel for if (images * g.oh * g.ow * width > kParallelThreshold)
  for (std::int64_t img = 0; img < images; ++img) {
    T* image = dx + img * image_size;
    std::fill(image, image + image_size, T(0));
    const T* in = dcol + img * g.oh * g.ow * width;
    for (std::int64_t oy = 0; oy < g.oh; ++oy) {
      for (std::int64_t ox = 0; ox < g.ow; ++ox, in += width) {
        const std::int64_t x0 = ox * g.stride_w - g.pad_left;
        const TapRange kx = valid_taps(x0, g.kw, g.w);
        const std::int64_t count = (kx.hi - kx.lo) * g.c;
        if (count == 0) continue;
        for (std::int64_t ky = 0; ky < g.kh; ++ky) {
          const std::int64_t iy = oy * g.stride_h - g.pad_top + ky;
          if (iy < 0 || iy >= g.h) continue;
          const T* src = in + (ky * g.kw + kx.lo) * g.c;
          T* dst = image + (iy * g.w + x0 + kx.lo) * g.c;
          for (std::int64_t j = 0; j < count; ++j) dst[j] += src[j];
        }
      }
    }
  }
}

template <class T>
void conv_forward(const Conv2dGeometry& g, const T* x, const T* w, T* y) {
  if (is_pointwise(g)) {
    gemm(false, false, g.n * g.h * g.w, g.o, g.c, T(1), x, g.c, w, g.o, T(0), y, g.o);
    return;
  }
  const std::int64_t width = column_width(g);
  const std::int64_t chunk = images_per_chunk(g, sizeof(T));
  T* col = thread_scratch_of<T>(chunk * g.oh * g.ow * width, kColumnSlot);
  for (std::int64_t first = 0; first < g.n; first += chunk) {
    const std::int64_t images = std::min(chunk, g.n - first);
    im2col(g, x + first * g.h * g.w * g.c, images, col);
    gemm(false, false, images * g.oh * g.ow, g.o, width, T(1), col, width, w, g.o, T(0),
         y + first * g.oh * g.ow * g.o, g.o);
  }
}

template <class T>
void conv_backward_data(const Conv2dGeometry& g, const T* dy, const T* w, T* dx) {
  if (is_pointwise(g)) {
    gemm(false, true, g.n * g.h * g.w, g.c, g.o, T(1), dy, g.o, w, g.o, T(0), dx, g.c);
    return;
  }
  const std::int64_t width = column_width(g);
  const std::int64_t chunk = images_per_chunk(g, sizeof(T));
  T* dcol = thread_scratch_of<T>(chunk * g.oh * g.ow * width, kColumnSlot);
  for (std::int64_t first = 0; first < g.n; first += chunk) {
    const std::int64_t images = std::min(chunk, g.n - first);
    gemm(false, true, images * g.oh * g.ow, width, g.o, T(1), dy + first * g.oh * g.ow * g.o, g.o,
         w, g.o, T(0), dcol, width);
    col2im(g, dcol, images, dx + first * g.h * g.w * g.c);
  }
}

template <class T>
void conv_backward_filter(const Conv2dGeometry& g, const T* x, const T* dy, T* dw) {
  if (is_pointwise(g)) {
    gemm(true, false, g.c, g.o, g.n * g.h * g.w, T(1), x, g.c, dy, g.o, T(0), dw, g.o);
    return;
  }
  const std::int64_t width = column_width(g);
  if (g.n == 0) {
    std::fill(dw, dw + width * g.o, T(0));
    return;
  }
  const std::int64_t chunk = images_per_chunk(g, sizeof(T));
  T* col = thread_scratch_of<T>(chunk * g.oh * g.ow * width, kColumnSlot);
  for (std::int64_t first = 0; first < g.n; first += chunk) {
    const std::int64_t images = std::min(chunk, g.n - first);
    im2col(g, x + first * g.h * g.w * g.c, images, col);
    gemm(true, false, width, g.o, images * g.oh * g.ow, T(1), col, width,
         dy + first * g.oh * g.ow * g.o, g.o, first == 0 ? T(0) : T(1), dw, g.o);
  }
}

}  // namespace

}  // namespace cpu

void CpuBackend::conv2d_forward(const Conv2dGeometry& g, const Tensor& x, const Tensor& w,
                                Tensor& y) {
  cpu::dispatch_floating(y.dtype(), "conv2d_forward", [&]<class T>(T) {
    cpu::conv_forward(g, x.data<T>(), w.data<T>(), y.data<T>());
  });
}

void CpuBackend::conv2d_backward_data(const Conv2dGeometry& g, const Tensor& dy, const Tensor& w,
                                      Tensor& dx) {
  cpu::dispatch_floating(dx.dtype(), "conv2d_backward_data", [&]<class T>(T) {
    cpu::conv_backward_data(g, dy.data<T>(), w.data<T>(), dx.data<T>());
  });
}

void CpuBackend::conv2d_backward_filter(const Conv2dGeometry& g, const Tensor& x, const Tensor& dy,
                                        Tensor& dw) {
  cpu::dispatch_floating(dw.dtype(), "conv2d_backward_filter", [&]<class T>(T) {
    cpu::conv_backward_filter(g, x.data<T>(), dy.data<T>(), dw.data<T>());
  });
}

}  // namespace kiln::backend
