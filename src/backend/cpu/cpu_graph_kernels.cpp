// CPU kernels of imported graphs (kiln/graph_ops.h): broadcasting binary arithmetic, spatial
// mean, top-k, strided slice and the fused hard-swish. Inference only, all assigned (=). Bilinear
// resize in any mode is cpu_spatial_kernels.cpp's.
#include <algorithm>
#include <cmath>
#include <numeric>
#include <vector>

#include "backend/binary_arithmetic.h"
#include "backend/cpu/cpu_backend.h"
#include "backend/cpu/cpu_kernels.h"
#include "backend/cpu/cpu_simd.h"

namespace kiln::backend {

namespace {

// Row-major strides of `shape` aligned at the end to `rank` axes, 0 along an axis of extent 1
// (which broadcasts) and along the missing leading axes.
std::vector<std::int64_t> broadcast_strides(const Shape& shape, std::size_t rank) {
  std::vector<std::int64_t> strides(rank, 0);
  std::int64_t stride = 1;
  for (std::size_t i = 0; i < shape.size(); ++i) {
    const std::size_t axis = shape.size() - 1 - i;
    const std::size_t out_axis = rank - 1 - i;
    strides[out_axis] = shape[axis] == 1 ? 0 : stride;
    stride *= shape[axis];
  }
  return strides;
}

// out[j] = a[j * step_a] op b[j * step_b] for j < cols; the steps are 0 (broadcast) or 1, and
// each pair of them has its own loop so that the compiler vectorises it.
template <BinaryOp Op, class T, class R>
void apply_row(const T* a, std::int64_t step_a, const T* b, std::int64_t step_b, R* out,
               std::int64_t cols) {
  if (step_a == 1 && step_b == 1) {
#pragma omp simd
    for (std::int64_t j = 0; j < cols; ++j) out[j] = apply_binary<Op, T, R>(a[j], b[j]);
  } else if (step_a == 0 && step_b == 1) {
    const T x = a[0];
#pragma omp simd
    for (std::int64_t j = 0; j < cols; ++j) out[j] = apply_binary<Op, T, R>(x, b[j]);
  } else if (step_a == 1 && step_b == 0) {
    const T y = b[0];
#pragma omp simd
    for (std::int64_t j = 0; j < cols; ++j) out[j] = apply_binary<Op, T, R>(a[j], y);
  } else {
    for (std::int64_t j = 0; j < cols; ++j) {
      out[j] = apply_binary<Op, T, R>(a[j * step_a], b[j * step_b]);
    }
  }
}

// out viewed as (rows, last axis): each row's offsets into a and b are decoded once, then the
// row runs with a's and b's strides along the last axis (0 where that operand broadcasts).
template <BinaryOp Op, class T, class R>
void broadcast_rows(const T* a, const Shape& a_shape, const T* b, const Shape& b_shape, R* out,
                    const Shape& out_shape) {
  const std::size_t rank = out_shape.size();
  const std::vector<std::int64_t> sa = broadcast_strides(a_shape, rank);
  const std::vector<std::int64_t> sb = broadcast_strides(b_shape, rank);
  const std::int64_t cols = rank == 0 ? 1 : out_shape[rank - 1];
  const std::int64_t total =
      std::accumulate(out_shape.begin(), out_shape.end(), std::int64_t{1}, std::multiplies<>());
  const std::int64_t rows = cols == 0 ? 0 : total / cols;
  const std::int64_t step_a = rank == 0 ? 0 : sa[rank - 1], step_b = rank == 0 ? 0 : sb[rank - 1];
#pragma omp parallel for if (total > cpu::kParallelThreshold)
  for (std::int64_t r = 0; r < rows; ++r) {
    std::int64_t offset_a = 0, offset_b = 0, rest = r;
    for (std::size_t i = 1; i < rank; ++i) {
      const std::size_t axis = rank - 1 - i;
      const std::int64_t index = rest % out_shape[axis];
      rest /= out_shape[axis];
      offset_a += index * sa[axis];
      offset_b += index * sb[axis];
    }
    apply_row<Op, T, R>(a + offset_a, step_a, b + offset_b, step_b, out + r * cols, cols);
  }
}

template <BinaryOp Op>
void broadcast_binary_of(const Tensor& a, const Tensor& b, Tensor& out) {
  cpu::dispatch_any(a.dtype(), "broadcast_binary", [&]<class T>(T) {
    if constexpr (Op == BinaryOp::equal) {
      broadcast_rows<Op, T, std::uint8_t>(a.data<T>(), a.shape(), b.data<T>(), b.shape(),
                                          out.data<std::uint8_t>(), out.shape());
    } else {
      broadcast_rows<Op, T, T>(a.data<T>(), a.shape(), b.data<T>(), b.shape(), out.data<T>(),
                               out.shape());
    }
  });
}

// x ranks before y at the front of a top-k: larger, or NaN against a number (TensorFlow sorts NaN
// first).
template <class T>
bool ranks_before(T x, T y) {
  if constexpr (std::is_floating_point_v<T>) {
    if (std::isnan(x)) return !std::isnan(y);
    if (std::isnan(y)) return false;
  }
  return x > y;
}

}  // namespace

void CpuBackend::broadcast_binary(BinaryOp op, const Tensor& a, const Tensor& b, Tensor& out) {
  switch (op) {
    case BinaryOp::add: return broadcast_binary_of<BinaryOp::add>(a, b, out);
    case BinaryOp::subtract: return broadcast_binary_of<BinaryOp::subtract>(a, b, out);
    case BinaryOp::multiply: return broadcast_binary_of<BinaryOp::multiply>(a, b, out);
    case BinaryOp::floor_divide: return broadcast_binary_of<BinaryOp::floor_divide>(a, b, out);
    case BinaryOp::floor_mod: return broadcast_binary_of<BinaryOp::floor_mod>(a, b, out);
    case BinaryOp::equal: return broadcast_binary_of<BinaryOp::equal>(a, b, out);
  }
}

void CpuBackend::spatial_mean(const Tensor& x, Tensor& y) {
  const std::int64_t n = x.dim(0), pixels = x.dim(1) * x.dim(2), c = x.dim(3);
  cpu::dispatch_floating(x.dtype(), "spatial_mean", [&]<class T>(T) {
    for (std::int64_t b = 0; b < n; ++b) {
      std::vector<double> sums(static_cast<std::size_t>(c), 0.0);
      const T* image = x.data<T>() + b * pixels * c;
      cpu::add_column_sums(pixels, c, sums.data(), [&](std::int64_t r, double* slot) {
        cpu::add_row(image + r * c, c, slot);
      });
      T* mean = y.data<T>() + b * c;
      for (std::int64_t k = 0; k < c; ++k) {
        mean[k] = static_cast<T>(sums[static_cast<std::size_t>(k)] / static_cast<double>(pixels));
      }
    }
  });
}

// One pass per row keeping the k best so far in a heap whose top is the worst of them: most
// values lose to that top at one comparison (an index array and a partial sort of the whole row
// cost CenterNet's 1.3 M-value heat-map 4x more).
void CpuBackend::top_k(const Tensor& x, Tensor& values, Tensor& indices) {
  const cpu::RowView view = cpu::row_view(x);
  const std::int64_t k = values.rank() == 0 ? 1 : values.dim(-1);
  cpu::dispatch_any(x.dtype(), "top_k", [&]<class T>(T) {
    struct Entry {
      T value;
      std::int32_t index;
    };
    const auto better = [](const Entry& a, const Entry& b) {
      if (ranks_before(a.value, b.value)) return true;
      if (ranks_before(b.value, a.value)) return false;
      return a.index < b.index;
    };
    std::vector<Entry> best;
    best.reserve(static_cast<std::size_t>(k));
    for (std::int64_t r = 0; r < view.rows; ++r) {
      const T* row = x.data<T>() + r * view.cols;
      best.clear();
      for (std::int64_t j = 0; j < view.cols; ++j) {
        const Entry e{row[j], static_cast<std::int32_t>(j)};
        if (static_cast<std::int64_t>(best.size()) < k) {
          best.push_back(e);
          std::push_heap(best.begin(), best.end(), better);
        } else if (k > 0 && !(e.value <= best.front().value) && better(e, best.front())) {
          // (<=: a value no larger than the worst kept loses, a tie by its later index; NaN
          // compares false and goes on to the full rule)
          std::pop_heap(best.begin(), best.end(), better);
          best.back() = e;
          std::push_heap(best.begin(), best.end(), better);
        }
      }
      std::sort_heap(best.begin(), best.end(), better);
      for (std::int64_t j = 0; j < k; ++j) {
        values.data<T>()[r * k + j] = best[static_cast<std::size_t>(j)].value;
        indices.data<std::int32_t>()[r * k + j] = best[static_cast<std::size_t>(j)].index;
      }
    }
  });
}

void CpuBackend::strided_slice(const Tensor& x, const std::vector<std::int64_t>& begin,
                               const std::vector<std::int64_t>& strides, Tensor& y) {
  const std::size_t rank = begin.size();
  std::vector<std::int64_t> in_strides(rank, 1);
  for (std::size_t i = rank; i-- > 1;)
    in_strides[i - 1] = in_strides[i] * x.dim(static_cast<int>(i));
  cpu::dispatch_any(x.dtype(), "strided_slice", [&]<class T>(T) {
    const T* in = x.data<T>();
    T* out = y.data<T>();
    for (std::int64_t e = 0; e < y.numel(); ++e) {
      std::int64_t rest = e, offset = 0;
      for (std::size_t i = rank; i-- > 0;) {
        const std::int64_t extent = y.dim(static_cast<int>(i));
        offset += (begin[i] + (rest % extent) * strides[i]) * in_strides[i];
        rest /= extent;
      }
      out[e] = in[offset];
    }
  });
}

void CpuBackend::hard_swish(const Tensor& x, double scale, double shift, Tensor& y) {
  if (x.dtype() == DType::f32) {
    const auto s = static_cast<float>(scale), t = static_cast<float>(shift);
    cpu::for_blocks(x.numel(), [&](std::int64_t first, std::int64_t count) {
      cpu::hard_swish(x.data<float>() + first, s, t, y.data<float>() + first, count);
    });
    return;
  }
  cpu::dispatch_floating(x.dtype(), "hard_swish", [&]<class T>(T) {
    const T* in = x.data<T>();
    T* out = y.data<T>();
    for (std::int64_t i = 0; i < x.numel(); ++i) {
      const T r = in[i] + static_cast<T>(shift);
      out[i] = (in[i] * static_cast<T>(scale)) * (r < 0 ? T(0) : r > 6 ? T(6) : r);
    }
  });
}

}  // namespace kiln::backend
