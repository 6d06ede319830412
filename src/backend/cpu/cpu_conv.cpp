// CPU 2-D convolution, NHWC activations and HWIO kernels, as im2col + GEMM:
//   col (n*oh*ow, kh*kw*c): one row per output pixel, columns ordered (ky, kx, c), zeros where
//   the tap falls into padding; the HWIO kernel is then the (kh*kw*c, o) matrix W.
//   forward          y    = f(col · W + bias)              (the bias seeds the GEMM's C, beta 1)
//   backward         dz   = dy * f'(y);  dbias = sum of dz
//                    dcol = dz · W^T, dx = col2im(dcol)    (scatter-add into zeroed dx)
//                    dW   = col^T · dz                     (first chunk beta 0, then 1)
// The batch is processed in chunks of images: the column matrix stays within a bounded
// per-thread scratch buffer (Caffe #852: unbounded im2col buffers), and a chunk's output rows
// stay in cache from the GEMM through the bias and activation, so the layer's output (or dz) is
// written to memory once. A 1x1 convolution with stride 1 and no padding needs no columns: the
// activations are the column matrix.
#include <algorithm>
#include <optional>
#include <vector>

#include <omp.h>

#include "backend/cpu/cpu_backend.h"
#include "backend/cpu/cpu_kernels.h"

namespace kiln::backend {

namespace cpu {

namespace {

constexpr std::size_t kColumnBudgetBytes = std::size_t{8} << 20;
constexpr std::size_t kOutputBudgetBytes = std::size_t{2} << 20;  // about one core's L2
constexpr int kColumnSlot = 0;
constexpr int kSlopeSlot = 1;
constexpr int kColumnGradientSlot = 2;

std::int64_t column_width(const Conv2dGeometry& g) { return g.kh * g.kw * g.c; }

bool is_pointwise(const Conv2dGeometry& g) {
  return g.kh == 1 && g.kw == 1 && g.stride_h == 1 && g.stride_w == 1 && g.pad_top == 0 &&
         g.pad_left == 0 && g.oh == g.h && g.ow == g.w;
}

// How a convolution walks its batch: `chunk` images at a time, and on `threads` threads each
// taking whole chunks (single-threaded GEMMs, one parallel region per call: a chunk stays in
// its core's cache from im2col through the epilogue) when there are at least that many chunks;
// otherwise threads = 1 and each chunk's kernels use every thread.
struct ChunkPlan {
  std::int64_t chunk = 1, count = 0;
  int threads = 1;
};

ChunkPlan plan_chunks(const Conv2dGeometry& g, std::size_t element_bytes) {
  const std::size_t pixels = static_cast<std::size_t>(g.oh * g.ow) * element_bytes;
  const std::size_t columns = pixels * static_cast<std::size_t>(column_width(g));
  const std::size_t outputs = pixels * static_cast<std::size_t>(g.o);
  const auto fit =
      static_cast<std::int64_t>(std::min(kColumnBudgetBytes / std::max<std::size_t>(columns, 1),
                                         kOutputBudgetBytes / std::max<std::size_t>(outputs, 1)));
  const int threads = omp_get_max_threads();
  ChunkPlan plan;
  plan.chunk =
      std::clamp<std::int64_t>(fit, 1, std::max<std::int64_t>((g.n + threads - 1) / threads, 1));
  plan.count = (g.n + plan.chunk - 1) / plan.chunk;
  plan.threads = plan.count >= threads ? threads : 1;
  return plan;
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

// One chunk of images: `images` of them from image `first`, `rows` output pixels.
struct Chunk {
  std::int64_t first = 0, images = 0, rows = 0;
};

// fn(chunk, thread) for every chunk of the plan. Chunk i runs on thread i % threads (a static
// schedule), so per-thread partial sums are added the same way on every run.
template <class Fn>
void for_chunks(const Conv2dGeometry& g, const ChunkPlan& plan, Fn fn) {
#pragma omp parallel for schedule(static, 1) num_threads(plan.threads) if (plan.threads > 1)
  for (std::int64_t i = 0; i < plan.count; ++i) {
    const std::int64_t first = i * plan.chunk;
    const std::int64_t images = std::min(plan.chunk, g.n - first);
    fn(Chunk{first, images, images * g.oh * g.ow}, omp_get_thread_num());
  }
}

// The chunk's column matrix: the activations themselves for a pointwise convolution.
template <class T>
const T* columns_of(const Conv2dGeometry& g, const T* x, const Chunk& c) {
  const T* images = x + c.first * g.h * g.w * g.c;
  if (is_pointwise(g)) return images;
  T* col = thread_scratch_of<T>(c.rows * column_width(g), kColumnSlot);
  im2col(g, images, c.images, col);
  return col;
}

// Every row of the (rows, cols) matrix y set to bias.
template <class T>
void fill_rows(T* y, std::int64_t rows, std::int64_t cols, const T* bias) {
#pragma omp parallel for if (rows * cols > kParallelThreshold)
  for (std::int64_t r = 0; r < rows; ++r) std::copy(bias, bias + cols, y + r * cols);
}

template <class T>
void conv_forward(const Conv2dGeometry& g, const T* x, const T* w, const T* bias,
                  std::optional<Pointwise> f, T* y) {
  const std::int64_t width = column_width(g);
  for_chunks(g, plan_chunks(g, sizeof(T)), [&](const Chunk& c, int) {
    const T* col = columns_of(g, x, c);
    T* out = y + c.first * g.oh * g.ow * g.o;
    if (bias != nullptr) fill_rows(out, c.rows, g.o, bias);
    gemm(false, false, c.rows, g.o, width, T(1), col, width, w, g.o, T(bias != nullptr), out, g.o);
    if (!f) return;
    for_blocks(c.rows * g.o, [&](std::int64_t at, std::int64_t count) {
      activation_forward(*f, out + at, out + at, count);
    });
  });
}

// out[j] = the sum over p < count of parts[p * size + j], added in order.
template <class T, class Part>
void sum_parts(const Part* parts, std::size_t count, std::int64_t size, T* out) {
  for (std::int64_t j = 0; j < size; ++j) {
    Part total = parts[j];
    for (std::size_t p = 1; p < count; ++p) total += parts[p * static_cast<std::size_t>(size) + j];
    out[j] = static_cast<T>(total);
  }
}

// The gradients a backward pass asks for; null pointers are not wanted.
template <class T>
struct ConvGradients {
  T* dx = nullptr;
  T* dw = nullptr;
  T* dbias = nullptr;
};

// d loss / d (conv output) for one chunk: dy itself, or dy * f'(y) in a scratch buffer.
template <class T>
const T* chunk_dz(const Conv2dGeometry& g, const T* y, const T* dy, std::optional<Pointwise> f,
                  const Chunk& c) {
  const std::int64_t at = c.first * g.oh * g.ow * g.o;
  if (!f) return dy + at;
  T* dz = thread_scratch_of<T>(c.rows * g.o, kSlopeSlot);
  for_blocks(c.rows * g.o, [&](std::int64_t i, std::int64_t count) {
    activation_backward(*f, y + at + i, dy + at + i, dz + i, count);
  });
  return dz;
}

template <class T>
void chunk_data_gradient(const Conv2dGeometry& g, const T* w, const T* dz, const Chunk& c, T* dx) {
  T* images = dx + c.first * g.h * g.w * g.c;
  if (is_pointwise(g)) {
    gemm(false, true, c.rows, g.c, g.o, T(1), dz, g.o, w, g.o, T(0), images, g.c);
    return;
  }
  const std::int64_t width = column_width(g);
  T* dcol = thread_scratch_of<T>(c.rows * width, kColumnGradientSlot);
  gemm(false, true, c.rows, width, g.o, T(1), dz, g.o, w, g.o, T(0), dcol, width);
  col2im(g, dcol, c.images, images);
}

// Each thread adds its chunks' weight and bias gradients into its own part; the parts are then
// added in thread order.
template <class T>
void conv_backward(const Conv2dGeometry& g, const T* x, const T* w, const T* y, const T* dy,
                   std::optional<Pointwise> f, const ConvGradients<T>& out) {
  const std::int64_t width = column_width(g);
  const ChunkPlan plan = plan_chunks(g, sizeof(T));
  const auto parts = static_cast<std::size_t>(plan.threads);
  std::vector<T> dw_parts(out.dw != nullptr ? parts * width * g.o : 0, T(0));
  std::vector<double> bias_parts(out.dbias != nullptr ? parts * g.o : 0, 0.0);
  for_chunks(g, plan, [&](const Chunk& c, int thread) {
    const T* dz = chunk_dz(g, y, dy, f, c);
    if (out.dbias != nullptr) {
      add_column_sums(c.rows, g.o, bias_parts.data() + thread * g.o,
                      [&](std::int64_t r, double* slot) { add_row(dz + r * g.o, g.o, slot); });
    }
    if (out.dw != nullptr) {
      const T* col = columns_of(g, x, c);
      gemm(true, false, width, g.o, c.rows, T(1), col, width, dz, g.o, T(1),
           dw_parts.data() + thread * width * g.o, g.o);
    }
    if (out.dx != nullptr) chunk_data_gradient(g, w, dz, c, out.dx);
  });
  if (out.dw != nullptr) sum_parts(dw_parts.data(), parts, width * g.o, out.dw);
  if (out.dbias != nullptr) sum_parts(bias_parts.data(), parts, g.o, out.dbias);
}

template <class T>
const T* data_or_null(const Tensor& t) {
  return t.defined() ? t.data<T>() : nullptr;
}

template <class T>
T* data_or_null(Tensor& t) {
  return t.defined() ? t.data<T>() : nullptr;
}

}  // namespace

}  // namespace cpu

void CpuBackend::conv2d_forward_fused(const Conv2dGeometry& g, const Tensor& x, const Tensor& w,
                                      const Tensor& bias, std::optional<Pointwise> f, Tensor& y) {
  cpu::dispatch_floating(y.dtype(), "conv2d_forward", [&]<class T>(T) {
    cpu::conv_forward(g, x.data<T>(), w.data<T>(), cpu::data_or_null<T>(bias), f, y.data<T>());
  });
}

void CpuBackend::conv2d_backward_fused(const Conv2dGeometry& g, const Tensor& x, const Tensor& w,
                                       const Tensor& y, const Tensor& dy,
                                       std::optional<Pointwise> f, Tensor& dx, Tensor& dw,
                                       Tensor& dbias) {
  cpu::dispatch_floating(dy.dtype(), "conv2d_backward", [&]<class T>(T) {
    const cpu::ConvGradients<T> out{cpu::data_or_null<T>(dx), cpu::data_or_null<T>(dw),
                                    cpu::data_or_null<T>(dbias)};
    cpu::conv_backward(g, cpu::data_or_null<T>(x), cpu::data_or_null<T>(w), cpu::data_or_null<T>(y),
                       dy.data<T>(), f, out);
  });
}

void CpuBackend::conv2d_forward(const Conv2dGeometry& g, const Tensor& x, const Tensor& w,
                                Tensor& y) {
  conv2d_forward_fused(g, x, w, Tensor(), std::nullopt, y);
}

void CpuBackend::conv2d_backward_data(const Conv2dGeometry& g, const Tensor& dy, const Tensor& w,
                                      Tensor& dx) {
  Tensor none;
  conv2d_backward_fused(g, Tensor(), w, Tensor(), dy, std::nullopt, dx, none, none);
}

void CpuBackend::conv2d_backward_filter(const Conv2dGeometry& g, const Tensor& x, const Tensor& dy,
                                        Tensor& dw) {
  Tensor none;
  conv2d_backward_fused(g, x, Tensor(), Tensor(), dy, std::nullopt, none, dw, none);
}

}  // namespace kiln::backend
