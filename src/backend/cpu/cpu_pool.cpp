// CPU 2-D pooling over NHWC images with Keras / TensorFlow semantics: a window covers only its
// unpadded positions, so padding never wins a max or min and is not counted in an average
// (a window with no unpadded position gives 0).
//   forward   y (n, oh, ow, c) = max / min / mean over each window            (assigned)
//   backward  dx (n, h, w, c): max / min send dy to the first winning position of the window in
//             row-major scan order (recomputed from x); avg spreads dy / count over the window's
//             unpadded positions                                            (assigned)
// Channels are the innermost loop everywhere, so the per-window work vectorises.
#include <algorithm>
#include <vector>

#include "backend/cpu/cpu_backend.h"
#include "backend/cpu/cpu_kernels.h"

namespace kiln::backend {

namespace cpu {

namespace {

// The unpadded rows [y_lo, y_hi) and columns [x_lo, x_hi) of output (oy, ox)'s window.
struct Window {
  std::int64_t y_lo = 0, y_hi = 0, x_lo = 0, x_hi = 0;
  std::int64_t count() const { return (y_hi - y_lo) * (x_hi - x_lo); }
};

Window window_of(const Pool2dGeometry& g, std::int64_t oy, std::int64_t ox) {
  const std::int64_t y0 = oy * g.stride_h - g.pad_top;
  const std::int64_t x0 = ox * g.stride_w - g.pad_left;
  Window win;
  win.y_lo = std::clamp<std::int64_t>(y0, 0, g.h);
  win.y_hi = std::clamp<std::int64_t>(y0 + g.ph, win.y_lo, g.h);
  win.x_lo = std::clamp<std::int64_t>(x0, 0, g.w);
  win.x_hi = std::clamp<std::int64_t>(x0 + g.pw, win.x_lo, g.w);
  return win;
}

// True when `candidate` beats `best` under the mode (strictly, so the first position wins).
template <PoolMode mode, class T>
bool beats(T candidate, T best) {
  if constexpr (mode == PoolMode::max) return candidate > best;
  return candidate < best;
}

// out[k] = max / min / mean of the window over image for every channel k.
template <PoolMode mode, class T>
void pool_window(const Pool2dGeometry& g, const T* image, const Window& win, T* out) {
  const std::int64_t c = g.c;
  if (win.count() == 0) {
    std::fill(out, out + c, T(0));
    return;
  }
  // Max / min start from the first position (comparing it with itself changes nothing).
  if constexpr (mode == PoolMode::avg) {
    std::fill(out, out + c, T(0));
  } else {
    const T* first = image + (win.y_lo * g.w + win.x_lo) * c;
    std::copy(first, first + c, out);
  }
  for (std::int64_t iy = win.y_lo; iy < win.y_hi; ++iy) {
    for (std::int64_t ix = win.x_lo; ix < win.x_hi; ++ix) {
      const T* in = image + (iy * g.w + ix) * c;
      for (std::int64_t k = 0; k < c; ++k) {
        if constexpr (mode == PoolMode::avg) {
          out[k] += in[k];
        } else {
          out[k] = beats<mode>(in[k], out[k]) ? in[k] : out[k];
        }
      }
    }
  }
  if constexpr (mode == PoolMode::avg) {
    const T inverse = T(1) / static_cast<T>(win.count());
    for (std::int64_t k = 0; k < c; ++k) out[k] *= inverse;
  }
}

template <PoolMode mode, class T>
void pool_forward(const Pool2dGeometry& g, const T* x, T* y) {
#pragma omp parallel for collapse(2) if (g.n * g.oh * g.ow * g.c * g.ph * g.pw > kParallelThreshold)
  for (std::int64_t img = 0; img < g.n; ++img) {
    for (std::int64_t oy = 0; oy < g.oh; ++oy) {
      const T* image = x + img * g.h * g.w * g.c;
      T* out = y + (img * g.oh + oy) * g.ow * g.c;
      for (std::int64_t ox = 0; ox < g.ow; ++ox, out += g.c) {
        pool_window<mode>(g, image, window_of(g, oy, ox), out);
      }
    }
  }
}

// Max / min backward for one window, in two vectorisable passes over the channels: `best`
// recomputes the window's result from x, then the positions are scanned in row-major order and
// each channel's dy goes to the first position that equals it (`pending` is zeroed once taken).
template <PoolMode mode, class T>
void route_window(const Pool2dGeometry& g, const T* image, const Window& win, const T* dy,
                  T* dimage, T* best, T* pending) {
  const std::int64_t c = g.c;
  if (win.count() == 0) return;
  pool_window<mode>(g, image, win, best);
  std::copy(dy, dy + c, pending);
  for (std::int64_t iy = win.y_lo; iy < win.y_hi; ++iy) {
    for (std::int64_t ix = win.x_lo; ix < win.x_hi; ++ix) {
      const std::int64_t offset = (iy * g.w + ix) * c;
      const T* in = image + offset;
      T* out = dimage + offset;
      for (std::int64_t k = 0; k < c; ++k) {
        const T left = pending[k];
        const T taken = in[k] == best[k] ? left : T(0);
        out[k] += taken;
        pending[k] = in[k] == best[k] ? T(0) : left;
      }
    }
  }
}

template <class T>
void spread_window(const Pool2dGeometry& g, const Window& win, const T* dy, T* dimage) {
  if (win.count() == 0) return;
  const T inverse = T(1) / static_cast<T>(win.count());
  for (std::int64_t iy = win.y_lo; iy < win.y_hi; ++iy) {
    for (std::int64_t ix = win.x_lo; ix < win.x_hi; ++ix) {
      T* out = dimage + (iy * g.w + ix) * g.c;
      for (std::int64_t k = 0; k < g.c; ++k) out[k] += dy[k] * inverse;
    }
  }
}

// Windows of one image may overlap, so the parallel loop runs over images.
template <PoolMode mode, class T>
void pool_backward(const Pool2dGeometry& g, const T* x, const T* dy, T* dx) {
  const std::int64_t image_size = g.h * g.w * g.c;
#pragma omp parallel if (g.n * g.oh * g.ow * g.c * g.ph * g.pw > kParallelThreshold)
  {
    std::vector<T> best(static_cast<std::size_t>(g.c));
    std::vector<T> pending(static_cast<std::size_t>(g.c));
#pragma omp for
    for (std::int64_t img = 0; img < g.n; ++img) {
      const T* image = x + img * image_size;
      T* dimage = dx + img * image_size;
      std::fill(dimage, dimage + image_size, T(0));
      const T* grad = dy + img * g.oh * g.ow * g.c;
      for (std::int64_t oy = 0; oy < g.oh; ++oy) {
        for (std::int64_t ox = 0; ox < g.ow; ++ox, grad += g.c) {
          const Window win = window_of(g, oy, ox);
          if constexpr (mode == PoolMode::avg) {
            spread_window(g, win, grad, dimage);
          } else {
            route_window<mode>(g, image, win, grad, dimage, best.data(), pending.data());
          }
        }
      }
    }
  }
}

// Calls fn.operator()<mode>() with the mode as a compile-time constant.
template <class Fn>
void dispatch_mode(PoolMode mode, Fn&& fn) {
  switch (mode) {
    case PoolMode::max:
      fn.template operator()<PoolMode::max>();
      return;
    case PoolMode::min:
      fn.template operator()<PoolMode::min>();
      return;
    case PoolMode::avg:
      fn.template operator()<PoolMode::avg>();
      return;
  }
  fail("cpu pool2d: unknown pooling mode {}", static_cast<int>(mode));
}

}  // namespace

}  // namespace cpu

void CpuBackend::pool2d_forward(PoolMode mode, const Pool2dGeometry& g, const Tensor& x,
                                Tensor& y) {
  cpu::dispatch_floating(y.dtype(), "pool2d_forward", [&]<class T>(T) {
    cpu::dispatch_mode(mode,
                       [&]<PoolMode m>() { cpu::pool_forward<m>(g, x.data<T>(), y.data<T>()); });
  });
}

void CpuBackend::pool2d_backward(PoolMode mode, const Pool2dGeometry& g, const Tensor& x,
                                 [[maybe_unused]] const Tensor& y, const Tensor& dy, Tensor& dx) {
  cpu::dispatch_floating(dx.dtype(), "pool2d_backward", [&]<class T>(T) {
    cpu::dispatch_mode(mode, [&]<PoolMode m>() {
      cpu::pool_backward<m>(g, x.data<T>(), dy.data<T>(), dx.data<T>());
    });
  });
}

}  // namespace kiln::backend
