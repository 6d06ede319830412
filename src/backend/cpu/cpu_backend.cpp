// CpuBackend, the host kernels that are not matrices, convolutions, pooling, losses or
// optimizers: raw memory copies, fill / axpy / multiply / cast, column-block copies, pointwise
// activations, softmax, sum and argmax, dropout masks, row gathers and one-hot encoding. Every
// output is assigned (=) except axpy and an accumulating copy_columns (+=).
#include "backend/cpu/cpu_backend.h"

#include <omp.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <type_traits>
#include <vector>

#include "backend/cpu/cpu_kernels.h"
#include "core/counter_rng.h"

namespace kiln::backend {

namespace cpu {

namespace {

constexpr int kScratchSlots = 4;
constexpr std::size_t kScratchAlignment = 64;

// One growing, 64-byte aligned block; freed when its thread ends.
struct ScratchBlock {
  void* data = nullptr;
  std::size_t bytes = 0;
  ScratchBlock() = default;
  ScratchBlock(const ScratchBlock&) = delete;
  ScratchBlock& operator=(const ScratchBlock&) = delete;
  ~ScratchBlock() { std::free(data); }
};

// double -> T; integer targets truncate toward zero and saturate (NaN becomes 0).
template <class T>
T convert(double value) {
  if constexpr (std::is_floating_point_v<T>) {
    return static_cast<T>(value);
  } else {
    if (std::isnan(value)) return T(0);
    const double low = static_cast<double>(std::numeric_limits<T>::lowest());
    const double high = static_cast<double>(std::numeric_limits<T>::max());
    return static_cast<T>(std::clamp(std::trunc(value), low, high));
  }
}

// Whether `candidate`, later in its row than `best`, replaces it in argmax: when strictly
// larger, or NaN against a number (the first NaN of a row wins, as in numpy and PyTorch).
template <class T>
bool larger_or_first_nan(T candidate, T best) {
  if constexpr (std::is_floating_point_v<T>) {
    if (std::isnan(candidate)) return !std::isnan(best);
  }
  return candidate > best;
}

// argmax of one row: the first NaN, else the first maximum (0 for an empty row).
template <class T>
std::int64_t row_argmax(const T* row, std::int64_t cols) {
  std::int64_t best = 0;
  for (std::int64_t j = 1; j < cols; ++j) {
    if (larger_or_first_nan(row[j], row[best])) best = j;
  }
  return best;
}

template <class T>
void softmax_row(const T* x, T* y, std::int64_t cols) {
  const T top = *std::max_element(x, x + cols);
  double total = 0.0;
  for (std::int64_t j = 0; j < cols; ++j) {
    y[j] = std::exp(x[j] - top);
    total += y[j];
  }
  const double inverse = 1.0 / total;
  for (std::int64_t j = 0; j < cols; ++j) y[j] = static_cast<T>(y[j] * inverse);
}

// Sum of x in a wide accumulator (double for floats, int64 for integers), deterministic: each
// thread sums a static block, the blocks are added in thread order.
template <class T>
double sum_all(const T* x, std::int64_t n) {
  using Acc = std::conditional_t<std::is_floating_point_v<T>, double, std::int64_t>;
  const bool parallel = n > kParallelThreshold;
  const int threads = parallel ? omp_get_max_threads() : 1;
  std::vector<Acc> partial(static_cast<std::size_t>(threads), Acc(0));
#pragma omp parallel num_threads(threads) if (parallel)
  {
    Acc mine = 0;
#pragma omp for schedule(static)
    for (std::int64_t i = 0; i < n; ++i) mine += x[i];
    partial[static_cast<std::size_t>(omp_get_thread_num())] = mine;
  }
  Acc total = 0;
  for (Acc value : partial) total += value;
  return static_cast<double>(total);
}

}  // namespace

void* thread_scratch(std::size_t bytes, int slot) {
  thread_local std::array<ScratchBlock, kScratchSlots> blocks;
  KILN_CHECK(slot >= 0 && slot < kScratchSlots, "cpu scratch: slot {} out of range", slot);
  ScratchBlock& block = blocks[static_cast<std::size_t>(slot)];
  if (block.bytes < bytes || block.data == nullptr) {
    const std::size_t rounded = std::max(
        kScratchAlignment, (bytes + kScratchAlignment - 1) / kScratchAlignment * kScratchAlignment);
    std::free(block.data);
    block.data = std::aligned_alloc(kScratchAlignment, rounded);
    block.bytes = block.data == nullptr ? 0 : rounded;
    KILN_CHECK(block.data != nullptr, "cpu scratch: out of host memory for {} bytes", bytes);
  }
  return block.data;
}

}  // namespace cpu

// ---- memory

Device CpuBackend::device() const { return Device::cpu(); }

Allocator& CpuBackend::allocator() { return allocator_; }

void CpuBackend::copy_from_host(void* dst, const void* src_host, std::size_t bytes) {
  copy(dst, src_host, bytes);
}

void CpuBackend::copy_to_host(void* dst_host, const void* src, std::size_t bytes) {
  if (bytes > 0) count_wait();  // where a GPU would make the host wait (sync_stats)
  copy(dst_host, src, bytes);
}

void CpuBackend::copy(void* dst, const void* src, std::size_t bytes) {
  if (bytes > 0 && dst != src) std::memmove(dst, src, bytes);
}

void CpuBackend::synchronize() { count_wait(); }

// ---- elementwise

void CpuBackend::fill(Tensor& x, double value) {
  const std::int64_t n = x.numel();
  cpu::dispatch_any(x.dtype(), "fill", [&]<class T>(T) {
    const T v = cpu::convert<T>(value);
    T* out = x.data<T>();
#pragma omp parallel for simd if (n > cpu::kParallelThreshold)
    for (std::int64_t i = 0; i < n; ++i) out[i] = v;
  });
}

void CpuBackend::axpy(double alpha, const Tensor& x, Tensor& y) {
  const std::int64_t n = x.numel();
  cpu::dispatch_floating(y.dtype(), "axpy", [&]<class T>(T) {
    const T a = static_cast<T>(alpha);
    const T* in = x.data<T>();
    T* out = y.data<T>();
#pragma omp parallel for simd if (n > cpu::kParallelThreshold)
    for (std::int64_t i = 0; i < n; ++i) out[i] += a * in[i];
  });
}

void CpuBackend::multiply(const Tensor& a, const Tensor& b, Tensor& out) {
  const std::int64_t n = out.numel();
  cpu::dispatch_floating(out.dtype(), "multiply", [&]<class T>(T) {
    const T* left = a.data<T>();
    const T* right = b.data<T>();
    T* result = out.data<T>();
#pragma omp parallel for simd if (n > cpu::kParallelThreshold)
    for (std::int64_t i = 0; i < n; ++i) result[i] = left[i] * right[i];
  });
}

void CpuBackend::cast(const Tensor& src, Tensor& out, double scale) {
  const std::int64_t n = src.numel();
  if (src.dtype() == out.dtype() && scale == 1.0) {
    copy(out.raw_data(), src.raw_data(), src.nbytes());
    return;
  }
  cpu::dispatch_any(src.dtype(), "cast", [&]<class S>(S) {
    cpu::dispatch_any(out.dtype(), "cast", [&]<class D>(D) {
      const S* in = src.data<S>();
      D* result = out.data<D>();
#pragma omp parallel for if (n > cpu::kParallelThreshold)
      for (std::int64_t i = 0; i < n; ++i) {
        result[i] = cpu::convert<D>(static_cast<double>(in[i]) * scale);
      }
    });
  });
}

void CpuBackend::copy_columns(const Tensor& src, std::int64_t src_cols, std::int64_t src_col0,
                              Tensor& dst, std::int64_t dst_cols, std::int64_t dst_col0,
                              std::int64_t rows, std::int64_t cols, bool accumulate) {
  cpu::dispatch_any(dst.dtype(), "copy_columns", [&]<class T>(T) {
    const T* in = src.data<T>() + src_col0;
    T* out = dst.data<T>() + dst_col0;
#pragma omp parallel for if (rows * cols > cpu::kParallelThreshold)
    for (std::int64_t r = 0; r < rows; ++r) {
      const T* from = in + r * src_cols;
      T* to = out + r * dst_cols;
      if (accumulate) {
        for (std::int64_t j = 0; j < cols; ++j) to[j] = static_cast<T>(to[j] + from[j]);
      } else {
        std::copy(from, from + cols, to);
      }
    }
  });
}

// ---- activations and softmax

void CpuBackend::pointwise_forward(Pointwise f, const Tensor& x, Tensor& y) {
  cpu::dispatch_floating(y.dtype(), "pointwise_forward", [&]<class T>(T) {
    const T* in = x.data<T>();
    T* out = y.data<T>();
    cpu::for_blocks(y.numel(), [&](std::int64_t first, std::int64_t count) {
      cpu::activation_forward(f, in + first, out + first, count);
    });
  });
}

void CpuBackend::pointwise_backward(Pointwise f, const Tensor& y, const Tensor& dy, Tensor& dx) {
  cpu::dispatch_floating(dx.dtype(), "pointwise_backward", [&]<class T>(T) {
    const T* out = y.data<T>();
    const T* grad = dy.data<T>();
    T* in = dx.data<T>();
    cpu::for_blocks(dx.numel(), [&](std::int64_t first, std::int64_t count) {
      cpu::activation_backward(f, out + first, grad + first, in + first, count);
    });
  });
}

void CpuBackend::softmax_forward(const Tensor& x, Tensor& y) {
  const cpu::RowView view = cpu::row_view(x);
  cpu::dispatch_floating(y.dtype(), "softmax_forward", [&]<class T>(T) {
    const T* in = x.data<T>();
    T* out = y.data<T>();
#pragma omp parallel for if (view.rows * view.cols > cpu::kParallelThreshold)
    for (std::int64_t r = 0; r < view.rows; ++r) {
      cpu::softmax_row(in + r * view.cols, out + r * view.cols, view.cols);
    }
  });
}

void CpuBackend::softmax_backward(const Tensor& y, const Tensor& dy, Tensor& dx) {
  const cpu::RowView view = cpu::row_view(y);
  cpu::dispatch_floating(dx.dtype(), "softmax_backward", [&]<class T>(T) {
    const std::int64_t cols = view.cols;
#pragma omp parallel for if (view.rows * cols > cpu::kParallelThreshold)
    for (std::int64_t r = 0; r < view.rows; ++r) {
      const T* prob = y.data<T>() + r * cols;
      const T* grad = dy.data<T>() + r * cols;
      T* out = dx.data<T>() + r * cols;
      double dot = 0.0;
      for (std::int64_t j = 0; j < cols; ++j) dot += static_cast<double>(grad[j]) * prob[j];
      const T shift = static_cast<T>(dot);
      for (std::int64_t j = 0; j < cols; ++j) out[j] = prob[j] * (grad[j] - shift);
    }
  });
}

// ---- reductions

void CpuBackend::sum(const Tensor& x, Tensor& out) {
  double total = 0.0;
  cpu::dispatch_any(x.dtype(), "sum",
                    [&]<class T>(T) { total = cpu::sum_all(x.data<T>(), x.numel()); });
  cpu::dispatch_any(out.dtype(), "sum",
                    [&]<class T>(T) { out.data<T>()[0] = cpu::convert<T>(total); });
}

void CpuBackend::argmax(const Tensor& x, Tensor& out) {
  const cpu::RowView view = cpu::row_view(x);
  KILN_CHECK(out.dtype() == DType::i32, "cpu argmax: expected an int32 output, found {}",
             dtype_name(out.dtype()));
  std::int32_t* result = out.data<std::int32_t>();
  cpu::dispatch_any(x.dtype(), "argmax", [&]<class T>(T) {
    const T* in = x.data<T>();
#pragma omp parallel for if (view.rows * view.cols > cpu::kParallelThreshold)
    for (std::int64_t r = 0; r < view.rows; ++r) {
      result[r] = static_cast<std::int32_t>(cpu::row_argmax(in + r * view.cols, view.cols));
    }
  });
}

// ---- metrics

void CpuBackend::accuracy_count(AccuracyKind kind, const Tensor& y_pred, const Tensor& y_true,
                                Tensor& correct) {
  KILN_CHECK(correct.dtype() == DType::f32 && correct.numel() == 1,
             "cpu accuracy_count: expected one float32 counter, found {}", correct.str());
  std::int64_t hits = 0;
  cpu::dispatch_floating(y_pred.dtype(), "accuracy_count", [&]<class T>(T) {
    const T* pred = y_pred.data<T>();
    if (kind == AccuracyKind::binary) {
      const T* truth = y_true.data<T>();
      const T half = T(0.5);
      for (std::int64_t i = 0; i < y_pred.numel(); ++i)
        hits += (pred[i] > half) == (truth[i] > half);
      return;
    }
    const cpu::RowView view = cpu::row_view(y_pred);
    for (std::int64_t r = 0; r < view.rows; ++r) {
      const std::int64_t predicted = cpu::row_argmax(pred + r * view.cols, view.cols);
      const std::int64_t expected =
          kind == AccuracyKind::sparse_categorical
              ? y_true.data<std::int32_t>()[r]
              : cpu::row_argmax(y_true.data<T>() + r * view.cols, view.cols);
      hits += predicted == expected;
    }
  });
  correct.data<float>()[0] += static_cast<float>(hits);
}

// ---- randomness

void CpuBackend::dropout_mask(Tensor& mask, double rate, std::uint64_t seed) {
  const std::int64_t n = mask.numel();
  const double keep_scale = rate < 1.0 ? 1.0 / (1.0 - rate) : 0.0;
  cpu::dispatch_floating(mask.dtype(), "dropout_mask", [&]<class T>(T) {
    T* out = mask.data<T>();
    const T kept = static_cast<T>(keep_scale);
#pragma omp parallel for if (n > cpu::kParallelThreshold / 8)
    for (std::int64_t i = 0; i < n; ++i) {
      out[i] = rng::uniform01(seed, static_cast<std::uint64_t>(i)) >= rate ? kept : T(0);
    }
  });
}

// ---- data

void CpuBackend::gather_rows(const Tensor& src, const Tensor& indices, Tensor& dst) {
  const std::int64_t count = indices.numel();
  if (count == 0 || src.numel() == 0) return;
  const std::size_t row_bytes = src.nbytes() / static_cast<std::size_t>(src.dim(0));
  const std::int32_t* index = indices.data<std::int32_t>();
  const auto* from = static_cast<const unsigned char*>(src.raw_data());
  auto* to = static_cast<unsigned char*>(dst.raw_data());
  const bool parallel = static_cast<std::int64_t>(row_bytes) * count > cpu::kParallelThreshold * 4;
#pragma omp parallel for if (parallel)
  for (std::int64_t i = 0; i < count; ++i) {
    std::memcpy(to + static_cast<std::size_t>(i) * row_bytes,
                from + static_cast<std::size_t>(index[i]) * row_bytes, row_bytes);
  }
}

void CpuBackend::one_hot(const Tensor& labels, Tensor& out) {
  const std::int64_t rows = labels.numel();
  const std::int64_t classes = rows == 0 ? 0 : out.numel() / rows;
  const std::int32_t* label = labels.data<std::int32_t>();
  for (std::int64_t r = 0; r < rows; ++r) {
    KILN_CHECK(label[r] >= 0 && label[r] < classes,
               "cpu one_hot: label {} at row {} is outside [0, {})", label[r], r, classes);
  }
  cpu::dispatch_floating(out.dtype(), "one_hot", [&]<class T>(T) {
    fill(out, 0.0);
    T* result = out.data<T>();
    for (std::int64_t r = 0; r < rows; ++r) result[r * classes + label[r]] = T(1);
  });
}

// Exported so that tests and benchmarks can reach the kernels directly.
CpuBackend& cpu_backend() {
  static CpuBackend backend;
  return backend;
}

}  // namespace kiln::backend
