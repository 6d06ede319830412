// Naive references in double for the tests of the cuBLAS and cuDNN stand-ins, written from the
// libraries' documented semantics and independent of the stand-ins' code: a direct 7-loop
// convolution scattered into each of the three directions, window-by-window pooling, and a
// column-major GEMM. Tensors are NHWC, filters OHWI (cuDNN's NHWC filter format).
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>
#include <vector>

namespace kiln::emu_test {

// TF32 as tensor cores read f32: 10 mantissa bits, round to nearest, ties away from zero.
inline float tf32(float value) {
  if (!std::isfinite(value)) return value;
  std::uint32_t bits = 0;
  std::memcpy(&bits, &value, sizeof(bits));
  bits = (bits + (1u << 12)) & ~((1u << 13) - 1);
  std::memcpy(&value, &bits, sizeof(bits));
  return value;
}

inline double operand(float value, bool round) { return round ? tf32(value) : value; }

struct ConvShape {
  int n, h, w, c;  // x
  int k, r, s;     // filter (k, r, s, c)
  int pad_h, pad_w, stride_h, stride_w;

  int oh() const { return (h + 2 * pad_h - r) / stride_h + 1; }
  int ow() const { return (w + 2 * pad_w - s) / stride_w + 1; }
  std::size_t x_count() const { return std::size_t(n) * h * w * c; }
  std::size_t y_count() const { return std::size_t(n) * oh() * ow() * k; }
  std::size_t w_count() const { return std::size_t(k) * r * s * c; }
};

// visit(x index, w index, y index) for every multiply of the convolution (taps in the padding
// are skipped).
template <class Visit>
void for_each_product(const ConvShape& g, Visit&& visit) {
  for (int n = 0; n < g.n; ++n)
    for (int oy = 0; oy < g.oh(); ++oy)
      for (int ox = 0; ox < g.ow(); ++ox)
        for (int k = 0; k < g.k; ++k)
          for (int r = 0; r < g.r; ++r)
            for (int s = 0; s < g.s; ++s)
              for (int c = 0; c < g.c; ++c) {
                const int iy = oy * g.stride_h - g.pad_h + r;
                const int ix = ox * g.stride_w - g.pad_w + s;
                if (iy < 0 || iy >= g.h || ix < 0 || ix >= g.w) continue;
                visit(((std::size_t(n) * g.h + iy) * g.w + ix) * g.c + c,
                      ((std::size_t(k) * g.r + r) * g.s + s) * g.c + c,
                      ((std::size_t(n) * g.oh() + oy) * g.ow() + ox) * g.k + k);
              }
}

inline std::vector<double> reference_forward(const ConvShape& g, const std::vector<float>& x,
                                             const std::vector<float>& w, bool round) {
  std::vector<double> y(g.y_count(), 0.0);
  for_each_product(g, [&](std::size_t xi, std::size_t wi, std::size_t yi) {
    y[yi] += operand(x[xi], round) * operand(w[wi], round);
  });
  return y;
}

inline std::vector<double> reference_backward_data(const ConvShape& g, const std::vector<float>& dy,
                                                   const std::vector<float>& w, bool round) {
  std::vector<double> dx(g.x_count(), 0.0);
  for_each_product(g, [&](std::size_t xi, std::size_t wi, std::size_t yi) {
    dx[xi] += operand(dy[yi], round) * operand(w[wi], round);
  });
  return dx;
}

inline std::vector<double> reference_backward_filter(const ConvShape& g,
                                                     const std::vector<float>& x,
                                                     const std::vector<float>& dy, bool round) {
  std::vector<double> dw(g.w_count(), 0.0);
  for_each_product(g, [&](std::size_t xi, std::size_t wi, std::size_t yi) {
    dw[wi] += operand(x[xi], round) * operand(dy[yi], round);
  });
  return dw;
}

// NHWC (n, h, w, c) <-> NCHW (n, c, h, w).
inline std::vector<float> nhwc_to_nchw(const std::vector<float>& v, int n, int h, int w, int c) {
  std::vector<float> out(v.size());
  for (int i = 0; i < n; ++i)
    for (int y = 0; y < h; ++y)
      for (int x = 0; x < w; ++x)
        for (int j = 0; j < c; ++j)
          out[((std::size_t(i) * c + j) * h + y) * w + x] =
              v[((std::size_t(i) * h + y) * w + x) * c + j];
  return out;
}

inline std::vector<float> nchw_to_nhwc(const std::vector<float>& v, int n, int h, int w, int c) {
  std::vector<float> out(v.size());
  for (int i = 0; i < n; ++i)
    for (int y = 0; y < h; ++y)
      for (int x = 0; x < w; ++x)
        for (int j = 0; j < c; ++j)
          out[((std::size_t(i) * h + y) * w + x) * c + j] =
              v[((std::size_t(i) * c + j) * h + y) * w + x];
  return out;
}

struct PoolShape {
  int n, h, w, c;
  int window_h, window_w, pad_h, pad_w, stride_h, stride_w;

  int oh() const { return (h + 2 * pad_h - window_h) / stride_h + 1; }
  int ow() const { return (w + 2 * pad_w - window_w) / stride_w + 1; }
  std::size_t x_count() const { return std::size_t(n) * h * w * c; }
  std::size_t y_count() const { return std::size_t(n) * oh() * ow() * c; }
};

enum class PoolKind { max_propagate_nan, max_ignore_nan, average_include, average_exclude };

// The x indices of one window (inside x only), row-major, and the window's full area.
inline std::vector<std::size_t> window_indices(const PoolShape& g, int n, int c, int oy, int ox) {
  std::vector<std::size_t> indices;
  for (int dy = 0; dy < g.window_h; ++dy) {
    for (int dx = 0; dx < g.window_w; ++dx) {
      const int iy = oy * g.stride_h - g.pad_h + dy;
      const int ix = ox * g.stride_w - g.pad_w + dx;
      if (iy < 0 || iy >= g.h || ix < 0 || ix >= g.w) continue;
      indices.push_back(((std::size_t(n) * g.h + iy) * g.w + ix) * g.c + c);
    }
  }
  return indices;
}

// cuDNN's maximum: with NaN propagation the first NaN; otherwise the first largest non-NaN value
// (the first element when all are NaN).
inline std::size_t reference_arg_max(const std::vector<std::size_t>& window,
                                     const std::vector<float>& x, bool propagate_nan) {
  std::size_t best = window.front();
  bool seen = false;
  for (std::size_t i : window) {
    if (std::isnan(x[i])) {
      if (propagate_nan) return i;
    } else if (!seen || x[i] > x[best]) {
      best = i;
      seen = true;
    }
  }
  return best;
}

// visit(x indices of the window, y index, divisor for averages).
template <class Visit>
void for_each_window(const PoolShape& g, PoolKind kind, Visit&& visit) {
  for (int n = 0; n < g.n; ++n)
    for (int oy = 0; oy < g.oh(); ++oy)
      for (int ox = 0; ox < g.ow(); ++ox)
        for (int c = 0; c < g.c; ++c) {
          const auto window = window_indices(g, n, c, oy, ox);
          const double divisor = kind == PoolKind::average_include ? double(g.window_h) * g.window_w
                                                                   : double(window.size());
          visit(window, ((std::size_t(n) * g.oh() + oy) * g.ow() + ox) * g.c + c, divisor);
        }
}

inline bool is_max(PoolKind kind) {
  return kind == PoolKind::max_propagate_nan || kind == PoolKind::max_ignore_nan;
}

inline std::vector<double> reference_pool_forward(const PoolShape& g, PoolKind kind,
                                                  const std::vector<float>& x) {
  std::vector<double> y(g.y_count());
  for_each_window(g, kind,
                  [&](const std::vector<std::size_t>& window, std::size_t yi, double divisor) {
                    if (is_max(kind)) {
                      y[yi] = x[reference_arg_max(window, x, kind == PoolKind::max_propagate_nan)];
                      return;
                    }
                    double sum = 0.0;
                    for (std::size_t i : window) sum += x[i];
                    y[yi] = sum / divisor;
                  });
  return y;
}

inline std::vector<double> reference_pool_backward(const PoolShape& g, PoolKind kind,
                                                   const std::vector<float>& x,
                                                   const std::vector<float>& dy) {
  std::vector<double> dx(g.x_count(), 0.0);
  for_each_window(
      g, kind, [&](const std::vector<std::size_t>& window, std::size_t yi, double divisor) {
        if (is_max(kind)) {
          dx[reference_arg_max(window, x, kind == PoolKind::max_propagate_nan)] += dy[yi];
          return;
        }
        for (std::size_t i : window) dx[i] += dy[yi] / divisor;
      });
  return dx;
}

// C = alpha op(A) op(B) + beta C, column-major; the returned vector is all of C (ldc * n).
inline std::vector<double> reference_gemm(bool transpose_a, bool transpose_b, int m, int n, int k,
                                          double alpha, const std::vector<float>& a, int lda,
                                          const std::vector<float>& b, int ldb, double beta,
                                          const std::vector<float>& c, int ldc, bool round) {
  std::vector<double> out(c.begin(), c.end());
  for (int j = 0; j < n; ++j) {
    for (int i = 0; i < m; ++i) {
      double sum = 0.0;
      for (int p = 0; p < k; ++p) {
        const float av = transpose_a ? a[p + std::size_t(i) * lda] : a[i + std::size_t(p) * lda];
        const float bv = transpose_b ? b[j + std::size_t(p) * ldb] : b[p + std::size_t(j) * ldb];
        sum += operand(av, round) * operand(bv, round);
      }
      const std::size_t ci = i + std::size_t(j) * ldc;
      out[ci] = alpha * sum + (beta == 0.0 ? 0.0 : beta * c[ci]);
    }
  }
  return out;
}

}  // namespace kiln::emu_test
