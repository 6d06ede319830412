// Naive reference kernels for tests: plain nested loops in double over std::vector<double>, with
// the layouts and semantics of backend/backend.h (NHWC images, HWIO conv kernels, row-major
// matrices, Keras pooling: padding never wins a max/min and does not count in an average; max/min
// backward goes to the first winner in row-major window order, the first NaN of a window if it
// has one). Written for clarity, not speed.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include "backend/backend.h"

namespace kiln::reference {

using Values = std::vector<double>;

// Index of element (b, y, x, k) of an NHWC tensor with extents (., h, w, c).
inline std::size_t nhwc(std::int64_t b, std::int64_t y, std::int64_t x, std::int64_t k,
                        std::int64_t h, std::int64_t w, std::int64_t c) {
  return static_cast<std::size_t>(((b * h + y) * w + x) * c + k);
}

// ---- convolution: x (n, h, w, c), w (kh, kw, c, o), y (n, oh, ow, o)

inline Values conv2d_forward(const backend::Conv2dGeometry& g, const Values& x, const Values& w) {
  Values y(static_cast<std::size_t>(g.n * g.oh * g.ow * g.o), 0.0);
  for (std::int64_t b = 0; b < g.n; ++b)
    for (std::int64_t oy = 0; oy < g.oh; ++oy)
      for (std::int64_t ox = 0; ox < g.ow; ++ox)
        for (std::int64_t f = 0; f < g.o; ++f) {
          double total = 0.0;
          for (std::int64_t ky = 0; ky < g.kh; ++ky)
            for (std::int64_t kx = 0; kx < g.kw; ++kx) {
              const std::int64_t iy = oy * g.stride_h - g.pad_top + ky;
              const std::int64_t ix = ox * g.stride_w - g.pad_left + kx;
              if (iy < 0 || iy >= g.h || ix < 0 || ix >= g.w) continue;
              for (std::int64_t k = 0; k < g.c; ++k) {
                total +=
                    x[nhwc(b, iy, ix, k, g.h, g.w, g.c)] * w[nhwc(ky, kx, k, f, g.kw, g.c, g.o)];
              }
            }
          y[nhwc(b, oy, ox, f, g.oh, g.ow, g.o)] = total;
        }
  return y;
}

inline Values conv2d_backward_data(const backend::Conv2dGeometry& g, const Values& dy,
                                   const Values& w) {
  Values dx(static_cast<std::size_t>(g.n * g.h * g.w * g.c), 0.0);
  for (std::int64_t b = 0; b < g.n; ++b)
    for (std::int64_t oy = 0; oy < g.oh; ++oy)
      for (std::int64_t ox = 0; ox < g.ow; ++ox)
        for (std::int64_t ky = 0; ky < g.kh; ++ky)
          for (std::int64_t kx = 0; kx < g.kw; ++kx) {
            const std::int64_t iy = oy * g.stride_h - g.pad_top + ky;
            const std::int64_t ix = ox * g.stride_w - g.pad_left + kx;
            if (iy < 0 || iy >= g.h || ix < 0 || ix >= g.w) continue;
            for (std::int64_t k = 0; k < g.c; ++k)
              for (std::int64_t f = 0; f < g.o; ++f) {
                dx[nhwc(b, iy, ix, k, g.h, g.w, g.c)] +=
                    dy[nhwc(b, oy, ox, f, g.oh, g.ow, g.o)] * w[nhwc(ky, kx, k, f, g.kw, g.c, g.o)];
              }
          }
  return dx;
}

inline Values conv2d_backward_filter(const backend::Conv2dGeometry& g, const Values& x,
                                     const Values& dy) {
  Values dw(static_cast<std::size_t>(g.kh * g.kw * g.c * g.o), 0.0);
  for (std::int64_t b = 0; b < g.n; ++b)
    for (std::int64_t oy = 0; oy < g.oh; ++oy)
      for (std::int64_t ox = 0; ox < g.ow; ++ox)
        for (std::int64_t ky = 0; ky < g.kh; ++ky)
          for (std::int64_t kx = 0; kx < g.kw; ++kx) {
            const std::int64_t iy = oy * g.stride_h - g.pad_top + ky;
            const std::int64_t ix = ox * g.stride_w - g.pad_left + kx;
            if (iy < 0 || iy >= g.h || ix < 0 || ix >= g.w) continue;
            for (std::int64_t k = 0; k < g.c; ++k)
              for (std::int64_t f = 0; f < g.o; ++f) {
                dw[nhwc(ky, kx, k, f, g.kw, g.c, g.o)] +=
                    x[nhwc(b, iy, ix, k, g.h, g.w, g.c)] * dy[nhwc(b, oy, ox, f, g.oh, g.ow, g.o)];
              }
          }
  return dw;
}

// ---- pooling: x (n, h, w, c), y (n, oh, ow, c)

// Calls visit(iy, ix) for the unpadded positions of output (oy, ox)'s window, row-major.
template <class Visit>
void for_each_in_window(const backend::Pool2dGeometry& g, std::int64_t oy, std::int64_t ox,
                        Visit&& visit) {
  for (std::int64_t py = 0; py < g.ph; ++py)
    for (std::int64_t px = 0; px < g.pw; ++px) {
      const std::int64_t iy = oy * g.stride_h - g.pad_top + py;
      const std::int64_t ix = ox * g.stride_w - g.pad_left + px;
      if (iy >= 0 && iy < g.h && ix >= 0 && ix < g.w) visit(iy, ix);
    }
}

// The winning position (index into x) of a max / min window, or -1 for an empty window: the
// window's first NaN if it has one, else its first largest / smallest value (row-major order).
inline std::int64_t pool_winner(backend::PoolMode mode, const backend::Pool2dGeometry& g,
                                const Values& x, std::int64_t b, std::int64_t oy, std::int64_t ox,
                                std::int64_t k) {
  std::vector<std::int64_t> positions;
  for_each_in_window(g, oy, ox, [&](std::int64_t iy, std::int64_t ix) {
    positions.push_back(static_cast<std::int64_t>(nhwc(b, iy, ix, k, g.h, g.w, g.c)));
  });
  for (std::int64_t at : positions) {
    if (std::isnan(x[static_cast<std::size_t>(at)])) return at;
  }
  std::int64_t best = -1;
  for (std::int64_t at : positions) {
    const double v = x[static_cast<std::size_t>(at)];
    const bool better =
        best < 0 || (mode == backend::PoolMode::max ? v > x[static_cast<std::size_t>(best)]
                                                    : v < x[static_cast<std::size_t>(best)]);
    if (better) best = at;
  }
  return best;
}

inline std::int64_t pool_count(const backend::Pool2dGeometry& g, std::int64_t oy, std::int64_t ox) {
  std::int64_t count = 0;
  for_each_in_window(g, oy, ox, [&](std::int64_t, std::int64_t) { ++count; });
  return count;
}

inline Values pool2d_forward(backend::PoolMode mode, const backend::Pool2dGeometry& g,
                             const Values& x) {
  Values y(static_cast<std::size_t>(g.n * g.oh * g.ow * g.c), 0.0);
  for (std::int64_t b = 0; b < g.n; ++b)
    for (std::int64_t oy = 0; oy < g.oh; ++oy)
      for (std::int64_t ox = 0; ox < g.ow; ++ox)
        for (std::int64_t k = 0; k < g.c; ++k) {
          double value = 0.0;
          if (mode == backend::PoolMode::avg) {
            for_each_in_window(g, oy, ox, [&](std::int64_t iy, std::int64_t ix) {
              value += x[nhwc(b, iy, ix, k, g.h, g.w, g.c)];
            });
            const std::int64_t count = pool_count(g, oy, ox);
            value = count > 0 ? value / static_cast<double>(count) : 0.0;
          } else {
            const std::int64_t at = pool_winner(mode, g, x, b, oy, ox, k);
            value = at >= 0 ? x[static_cast<std::size_t>(at)] : 0.0;
          }
          y[nhwc(b, oy, ox, k, g.oh, g.ow, g.c)] = value;
        }
  return y;
}

inline Values pool2d_backward(backend::PoolMode mode, const backend::Pool2dGeometry& g,
                              const Values& x, const Values& dy) {
  Values dx(x.size(), 0.0);
  for (std::int64_t b = 0; b < g.n; ++b)
    for (std::int64_t oy = 0; oy < g.oh; ++oy)
      for (std::int64_t ox = 0; ox < g.ow; ++ox)
        for (std::int64_t k = 0; k < g.c; ++k) {
          const double grad = dy[nhwc(b, oy, ox, k, g.oh, g.ow, g.c)];
          if (mode == backend::PoolMode::avg) {
            const auto count = static_cast<double>(pool_count(g, oy, ox));
            for_each_in_window(g, oy, ox, [&](std::int64_t iy, std::int64_t ix) {
              dx[nhwc(b, iy, ix, k, g.h, g.w, g.c)] += grad / count;
            });
          } else {
            const std::int64_t at = pool_winner(mode, g, x, b, oy, ox, k);
            if (at >= 0) dx[static_cast<std::size_t>(at)] += grad;
          }
        }
  return dx;
}

// ---- matrices (row-major)

// c = alpha * op(a) op(b) + beta * c with op(a) (m, k), op(b) (k, n).
inline Values gemm(bool transpose_a, bool transpose_b, std::int64_t m, std::int64_t n,
                   std::int64_t k, double alpha, const Values& a, const Values& b, double beta,
                   const Values& c) {
  Values out(c.size());
  for (std::int64_t i = 0; i < m; ++i)
    for (std::int64_t j = 0; j < n; ++j) {
      double total = 0.0;
      for (std::int64_t p = 0; p < k; ++p) {
        const double left = transpose_a ? a[static_cast<std::size_t>(p * m + i)]
                                        : a[static_cast<std::size_t>(i * k + p)];
        const double right = transpose_b ? b[static_cast<std::size_t>(j * k + p)]
                                         : b[static_cast<std::size_t>(p * n + j)];
        total += left * right;
      }
      const auto at = static_cast<std::size_t>(i * n + j);
      out[at] = alpha * total + beta * c[at];
    }
  return out;
}

// ---- activations

inline double pointwise(backend::Pointwise f, double x) {
  switch (f) {
    case backend::Pointwise::relu: return x > 0.0 ? x : 0.0;
    case backend::Pointwise::sigmoid: return 1.0 / (1.0 + std::exp(-x));
    case backend::Pointwise::tanh: return std::tanh(x);
  }
  return 0.0;
}

// The derivative at x (not through y, so it checks the backend's use of y).
inline double pointwise_derivative(backend::Pointwise f, double x) {
  switch (f) {
    case backend::Pointwise::relu: return x > 0.0 ? 1.0 : 0.0;
    case backend::Pointwise::sigmoid: {
      const double s = 1.0 / (1.0 + std::exp(-x));
      return s * (1.0 - s);
    }
    case backend::Pointwise::tanh: return 1.0 / (std::cosh(x) * std::cosh(x));
  }
  return 0.0;
}

// Softmax of each row of x (rows, cols).
inline Values softmax(const Values& x, std::int64_t rows, std::int64_t cols) {
  Values y(x.size());
  for (std::int64_t r = 0; r < rows; ++r) {
    const auto row = static_cast<std::size_t>(r * cols);
    double top = x[row];
    for (std::int64_t j = 1; j < cols; ++j)
      top = std::max(top, x[row + static_cast<std::size_t>(j)]);
    double total = 0.0;
    for (std::int64_t j = 0; j < cols; ++j)
      total += std::exp(x[row + static_cast<std::size_t>(j)] - top);
    for (std::int64_t j = 0; j < cols; ++j) {
      y[row + static_cast<std::size_t>(j)] =
          std::exp(x[row + static_cast<std::size_t>(j)] - top) / total;
    }
  }
  return y;
}

// dx = y * (dy - sum(dy * y)) per row.
inline Values softmax_backward(const Values& y, const Values& dy, std::int64_t rows,
                               std::int64_t cols) {
  Values dx(y.size());
  for (std::int64_t r = 0; r < rows; ++r) {
    const auto row = static_cast<std::size_t>(r * cols);
    double dot = 0.0;
    for (std::int64_t j = 0; j < cols; ++j) {
      dot += dy[row + static_cast<std::size_t>(j)] * y[row + static_cast<std::size_t>(j)];
    }
    for (std::int64_t j = 0; j < cols; ++j) {
      const auto at = row + static_cast<std::size_t>(j);
      dx[at] = y[at] * (dy[at] - dot);
    }
  }
  return dx;
}

// ---- losses

// loss[r] = -sum_k target[r, k] * log softmax(logits)[r, k].
inline Values softmax_cross_entropy(const Values& logits, const Values& target, std::int64_t rows,
                                    std::int64_t cols) {
  Values loss(static_cast<std::size_t>(rows), 0.0);
  for (std::int64_t r = 0; r < rows; ++r) {
    const auto row = static_cast<std::size_t>(r * cols);
    double top = logits[row];
    for (std::int64_t j = 1; j < cols; ++j)
      top = std::max(top, logits[row + static_cast<std::size_t>(j)]);
    double total = 0.0;
    for (std::int64_t j = 0; j < cols; ++j)
      total += std::exp(logits[row + static_cast<std::size_t>(j)] - top);
    const double log_total = top + std::log(total);
    for (std::int64_t j = 0; j < cols; ++j) {
      const auto at = row + static_cast<std::size_t>(j);
      loss[static_cast<std::size_t>(r)] -= target[at] * (logits[at] - log_total);
    }
  }
  return loss;
}

// d loss[r] / d logits[r, k] times dloss[r]: dloss * (softmax * sum_k target - target).
inline Values softmax_cross_entropy_grad(const Values& logits, const Values& target,
                                         const Values& dloss, std::int64_t rows,
                                         std::int64_t cols) {
  const Values probs = softmax(logits, rows, cols);
  Values grad(logits.size());
  for (std::int64_t r = 0; r < rows; ++r) {
    const auto row = static_cast<std::size_t>(r * cols);
    double mass = 0.0;
    for (std::int64_t j = 0; j < cols; ++j) mass += target[row + static_cast<std::size_t>(j)];
    for (std::int64_t j = 0; j < cols; ++j) {
      const auto at = row + static_cast<std::size_t>(j);
      grad[at] = dloss[static_cast<std::size_t>(r)] * (probs[at] * mass - target[at]);
    }
  }
  return grad;
}

// Binary cross-entropy of sigmoid(z) against t, written as -(t log s + (1-t) log(1-s)) with the
// logs taken stably from z.
inline double sigmoid_cross_entropy(double z, double t) {
  const double log_s = z >= 0.0 ? -std::log1p(std::exp(-z)) : z - std::log1p(std::exp(z));
  const double log_one_minus_s =
      z >= 0.0 ? -z - std::log1p(std::exp(-z)) : -std::log1p(std::exp(z));
  return -(t * log_s + (1.0 - t) * log_one_minus_s);
}

inline double sigmoid_cross_entropy_grad(double z, double t, double dloss) {
  return dloss * (1.0 / (1.0 + std::exp(-z)) - t);
}

}  // namespace kiln::reference
