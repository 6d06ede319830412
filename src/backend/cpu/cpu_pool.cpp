// CPU 2-D pooling over NHWC images with Keras / TensorFlow semantics: a window covers only its
// unpadded positions, so padding never wins a max or min and is not counted in an average
// (a window with no unpadded position gives 0).
//   forward   y (n, oh, ow, c) = max / min / mean over each window; max / min also write each
//             window's winner (iy * w + ix) to `winners` when it is defined       (assigned)
//   backward  dx (n, h, w, c): max / min add dy at the stored winners; avg spreads dy / count
//             over the window's unpadded positions                                (assigned)
// Channels are the innermost loop everywhere, so the per-window work vectorises.
//
// Note [Stored winners]
// The winner of a max / min window is found once, in the forward pass, and kept as an int32 per
// output element; the backward pass only zero-fills dx and adds dy at the winners, outputs in
// row-major order. Rescanning every window of x in the backward pass (as kiln once did) reads x
// again and compares every position of every window; the winners cost one int32 per output,
// allocated only when the op is recorded for backward (src/ops/pool_ops.cpp). The CUDA backend
// gathers in the same row-major window order, so both devices add a position's gradients in
// the same order.
//
// Note [NaN wins]
// A NaN beats every number, so the first NaN of a window (row-major scan order) is its winner
// and the output is NaN (PyTorch's rule, and cuDNN's CUDNN_PROPAGATE_NAN). A plain `>` never
// takes a NaN, so the output would depend on where the NaN sits. With winners, `beats` is
// written !(candidate <= best) && best is not NaN: the negated compare is one unordered compare
// (cmpnleps) that is true for a larger candidate and for a NaN one, and the second test keeps a
// NaN best; three instructions where `>` or (NaN and not NaN) takes five. cuda/kernels/pool.cu
// uses the same expression. Without winners (inference) only the value matters, and
// `extreme_or_nan` keeps the plain `>` select (maxps), which never replaces a NaN best, and
// turns the result into a NaN when the candidate is one: for float by OR-ing in the all-ones
// compare mask (cmpunordps, orps), three instructions instead of the six of the winner test,
// which keeps inference as fast as the NaN-blind loop kiln had before. The output is then a NaN
// (all bits set; the canonical quiet NaN for double), not necessarily the input NaN's bits.
#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <limits>
#include <type_traits>

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

// True when `candidate` beats `best` under the mode: strictly (so the first of equal positions
// wins), with a NaN beating every number (Note [NaN wins]).
template <PoolMode mode, class T>
bool beats(T candidate, T best) {
  if constexpr (mode == PoolMode::max) return !(candidate <= best) && !std::isnan(best);
  return !(candidate >= best) && !std::isnan(best);
}

// The running max / min after `candidate`: a NaN once a NaN has been seen, for good, since `>`
// and `<` never replace a NaN best (Note [NaN wins]).
template <PoolMode mode, class T>
T extreme_or_nan(T candidate, T best) {
  const bool better = mode == PoolMode::max ? candidate > best : candidate < best;
  const T value = better ? candidate : best;
  if constexpr (std::is_same_v<T, float>) {
    // OR-ing the all-ones compare mask in makes a NaN in one instruction (orps); GCC 12 does not
    // vectorise the 64-bit form, so double takes the select below.
    const std::uint32_t nan_bits = std::isnan(candidate) ? ~std::uint32_t{0} : 0;
    return std::bit_cast<float>(std::bit_cast<std::uint32_t>(value) | nan_bits);
  } else {
    return std::isnan(candidate) ? std::numeric_limits<T>::quiet_NaN() : value;
  }
}

// out[k] = the max / min of the (non-empty) window over image for every channel k, and, with
// kWinners, where[k] = its winner's position iy * w + ix.
template <PoolMode mode, bool kWinners, class T>
void extreme_window(const Pool2dGeometry& g, const T* image, const Window& win, T* out,
                    std::int32_t* where) {
  const std::int64_t c = g.c;
  // Start from the first position and scan the others.
  const std::int64_t first = win.y_lo * g.w + win.x_lo;
  std::copy(image + first * c, image + (first + 1) * c, out);
  if constexpr (kWinners) std::fill(where, where + c, static_cast<std::int32_t>(first));
  for (std::int64_t iy = win.y_lo; iy < win.y_hi; ++iy) {
    for (std::int64_t ix = iy == win.y_lo ? win.x_lo + 1 : win.x_lo; ix < win.x_hi; ++ix) {
      const std::int64_t at = iy * g.w + ix;
      const T* in = image + at * c;
      const auto position = static_cast<std::int32_t>(at);
      for (std::int64_t k = 0; k < c; ++k) {
        if constexpr (kWinners) {
          const bool wins = beats<mode>(in[k], out[k]);
          out[k] = wins ? in[k] : out[k];
          where[k] = wins ? position : where[k];
        } else {
          out[k] = extreme_or_nan<mode>(in[k], out[k]);
        }
      }
    }
  }
}

// out[k] = the mean of the (non-empty) window over image for every channel k.
template <class T>
void average_window(const Pool2dGeometry& g, const T* image, const Window& win, T* out) {
  const std::int64_t c = g.c;
  std::fill(out, out + c, T(0));
  for (std::int64_t iy = win.y_lo; iy < win.y_hi; ++iy) {
    for (std::int64_t ix = win.x_lo; ix < win.x_hi; ++ix) {
      const T* in = image + (iy * g.w + ix) * c;
      for (std::int64_t k = 0; k < c; ++k) out[k] += in[k];
    }
  }
  const T inverse = T(1) / static_cast<T>(win.count());
  for (std::int64_t k = 0; k < c; ++k) out[k] *= inverse;
}

// Output pixel `at` (an offset into y and winners) of the window `win` over image.
template <PoolMode mode, bool kWinners, class T>
void pool_window(const Pool2dGeometry& g, const T* image, const Window& win, T* y,
                 std::int32_t* winners, std::int64_t at) {
  T* out = y + at;
  std::int32_t* where = nullptr;
  if constexpr (kWinners) where = winners + at;
  if (win.count() == 0) {
    std::fill(out, out + g.c, T(0));
    if constexpr (kWinners) std::fill(where, where + g.c, -1);
    return;
  }
  if constexpr (mode == PoolMode::avg) {
    average_window(g, image, win, out);
  } else {
    extreme_window<mode, kWinners>(g, image, win, out, where);
  }
}

// winners is only written with kWinners (max / min with winners requested).
template <PoolMode mode, bool kWinners, class T>
void pool_forward(const Pool2dGeometry& g, const T* x, T* y, std::int32_t* winners) {
#pragma omp parallel for collapse(2) if (g.n * g.oh * g.ow * g.c * g.ph * g.pw > kParallelThreshold)
  for (std::int64_t img = 0; img < g.n; ++img) {
    for (std::int64_t oy = 0; oy < g.oh; ++oy) {
      const T* image = x + img * g.h * g.w * g.c;
      const std::int64_t row = (img * g.oh + oy) * g.ow * g.c;
      for (std::int64_t ox = 0; ox < g.ow; ++ox) {
        pool_window<mode, kWinners>(g, image, window_of(g, oy, ox), y, winners, row + ox * g.c);
      }
    }
  }
}

// Adds one image's dy at its winners, outputs in row-major order (Note [Stored winners]);
// -1 marks a window without a winner.
template <class T>
void route_to_winners(const Pool2dGeometry& g, const std::int32_t* winners, const T* dy,
                      T* dimage) {
  const std::int64_t c = g.c;
  const std::int64_t outputs = g.oh * g.ow;
  for (std::int64_t o = 0; o < outputs; ++o) {
    const std::int32_t* where = winners + o * c;
    const T* grad = dy + o * c;
    for (std::int64_t k = 0; k < c; ++k) {
      if (where[k] >= 0) dimage[where[k] * c + k] += grad[k];
    }
  }
}

// Adds dy / count over every window's unpadded positions of one image.
template <class T>
void spread_over_windows(const Pool2dGeometry& g, const T* dy, T* dimage) {
  for (std::int64_t oy = 0; oy < g.oh; ++oy) {
    for (std::int64_t ox = 0; ox < g.ow; ++ox, dy += g.c) {
      const Window win = window_of(g, oy, ox);
      if (win.count() == 0) continue;
      const T inverse = T(1) / static_cast<T>(win.count());
      for (std::int64_t iy = win.y_lo; iy < win.y_hi; ++iy) {
        for (std::int64_t ix = win.x_lo; ix < win.x_hi; ++ix) {
          T* out = dimage + (iy * g.w + ix) * g.c;
          for (std::int64_t k = 0; k < g.c; ++k) out[k] += dy[k] * inverse;
        }
      }
    }
  }
}

// Windows of one image may overlap, so the parallel loop runs over images. winners is only read
// for max / min.
template <PoolMode mode, class T>
void pool_backward(const Pool2dGeometry& g, const std::int32_t* winners, const T* dy, T* dx) {
  const std::int64_t image_size = g.h * g.w * g.c;
  const std::int64_t output_size = g.oh * g.ow * g.c;
#pragma omp parallel for if (g.n * g.oh * g.ow * g.c * g.ph * g.pw > kParallelThreshold)
  for (std::int64_t img = 0; img < g.n; ++img) {
    T* dimage = dx + img * image_size;
    std::fill(dimage, dimage + image_size, T(0));
    const T* grad = dy + img * output_size;
    if constexpr (mode == PoolMode::avg) {
      spread_over_windows(g, grad, dimage);
    } else {
      route_to_winners(g, winners + img * output_size, grad, dimage);
    }
  }
}

// Calls fn.operator()<mode>() with the mode as a compile-time constant.
template <class Fn>
void dispatch_mode(PoolMode mode, Fn&& fn) {
  switch (mode) {
    case PoolMode::max: fn.template operator()<PoolMode::max>(); return;
    case PoolMode::min: fn.template operator()<PoolMode::min>(); return;
    case PoolMode::avg: fn.template operator()<PoolMode::avg>(); return;
  }
  fail("cpu pool2d: unknown pooling mode {}", static_cast<int>(mode));
}

}  // namespace

}  // namespace cpu

void CpuBackend::pool2d_forward(PoolMode mode, const Pool2dGeometry& g, const Tensor& x, Tensor& y,
                                Tensor& winners) {
  const bool keep_winners = mode != PoolMode::avg && winners.defined();
  std::int32_t* where = keep_winners ? winners.data<std::int32_t>() : nullptr;
  cpu::dispatch_floating(y.dtype(), "pool2d_forward", [&]<class T>(T) {
    cpu::dispatch_mode(mode, [&]<PoolMode m>() {
      if constexpr (m != PoolMode::avg) {
        if (keep_winners) {
          cpu::pool_forward<m, true>(g, x.data<T>(), y.data<T>(), where);
          return;
        }
      }
      cpu::pool_forward<m, false>(g, x.data<T>(), y.data<T>(), nullptr);
    });
  });
}

void CpuBackend::pool2d_backward(PoolMode mode, const Pool2dGeometry& g, const Tensor& winners,
                                 const Tensor& dy, Tensor& dx) {
  const std::int32_t* where = mode == PoolMode::avg ? nullptr : winners.data<std::int32_t>();
  cpu::dispatch_floating(dx.dtype(), "pool2d_backward", [&]<class T>(T) {
    cpu::dispatch_mode(
        mode, [&]<PoolMode m>() { cpu::pool_backward<m>(g, where, dy.data<T>(), dx.data<T>()); });
  });
}

}  // namespace kiln::backend
