// CPU matrix kernels: GEMM through OpenBLAS (cblas_sgemm / cblas_dgemm, row-major), the bias
// broadcast y[..., k] += bias[k] and its gradient dbias[k] = sum of dy[..., k] (assigned).
#include <cblas.h>
#include <omp.h>

#include <algorithm>
#include <climits>
#include <iterator>
#include <string>
#include <vector>

#include "backend/cpu/cpu_backend.h"
#include "backend/cpu/cpu_kernels.h"

namespace kiln::backend {

namespace cpu {

namespace {

blasint blas_int(std::int64_t value, const char* what) {
  KILN_CHECK(value >= 0 && value <= INT_MAX, "cpu gemm: {} = {} does not fit a BLAS integer", what,
             value);
  return static_cast<blasint>(value);
}

// C = beta * C, the whole product when the inner dimension is empty.
template <class T>
void scale_matrix(std::int64_t m, std::int64_t n, T beta, T* c, std::int64_t ldc) {
  for (std::int64_t i = 0; i < m; ++i) {
    T* row = c + i * ldc;
    for (std::int64_t j = 0; j < n; ++j) row[j] = beta == T(0) ? T(0) : beta * row[j];
  }
}

template <class T, class Blas>
void gemm_with(Blas blas, bool transpose_a, bool transpose_b, std::int64_t m, std::int64_t n,
               std::int64_t k, T alpha, const T* a, std::int64_t lda, const T* b, std::int64_t ldb,
               T beta, T* c, std::int64_t ldc) {
  if (m == 0 || n == 0) return;
  if (k == 0) {
    scale_matrix(m, n, beta, c, ldc);
    return;
  }
  blas(CblasRowMajor, transpose_a ? CblasTrans : CblasNoTrans,
       transpose_b ? CblasTrans : CblasNoTrans, blas_int(m, "m"), blas_int(n, "n"),
       blas_int(k, "k"), alpha, a, blas_int(lda, "lda"), b, blas_int(ldb, "ldb"), beta, c,
       blas_int(ldc, "ldc"));
}

}  // namespace

void gemm(bool transpose_a, bool transpose_b, std::int64_t m, std::int64_t n, std::int64_t k,
          float alpha, const float* a, std::int64_t lda, const float* b, std::int64_t ldb,
          float beta, float* c, std::int64_t ldc) {
  gemm_with(cblas_sgemm, transpose_a, transpose_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

void gemm(bool transpose_a, bool transpose_b, std::int64_t m, std::int64_t n, std::int64_t k,
          double alpha, const double* a, std::int64_t lda, const double* b, std::int64_t ldb,
          double beta, double* c, std::int64_t ldc) {
  gemm_with(cblas_dgemm, transpose_a, transpose_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

// Note [OpenBLAS's kernels]: a DYNAMIC_ARCH OpenBLAS picks its kernels by the CPU's model
// number when it loads. A model it does not know gets its generic SSE3 "Prescott" ones: Debian
// 12's 0.3.21 does so on Intel's family 6 model 207 (Emerald Rapids), which has AVX-512
// (OpenBLAS#4267, fixed in 0.3.25), and its SGEMM then runs 3x slower than with its SkylakeX
// kernels (CenterNet's convolutions: 150 ms against 50). OPENBLAS_CORETYPE=SkylakeX (or Haswell)
// in the environment picks the right ones, but OpenBLAS reads it before any kiln code runs, and
// a library must not change its host program's environment, nor re-run it, behind its back. So
// kiln says so, here (kiln --version, the benchmarks) and in the README, and leaves the choice to
// whoever starts the program.
std::string blas_core_advice() {
#if defined(__x86_64__) && defined(__GNUC__)
  static const char* const generic[] = {"Prescott", "Core2",       "Penryn", "Dunnington",
                                        "Nehalem",  "Sandybridge", "Atom"};
  const std::string core = openblas_get_corename();
  const bool old = std::find(std::begin(generic), std::end(generic), core) != std::end(generic);
  __builtin_cpu_init();
  if (old && __builtin_cpu_supports("avx512f")) {
    return "; this CPU has AVX-512 but OpenBLAS runs its " + core +
           " kernels (a model it does not know): OPENBLAS_CORETYPE=SkylakeX picks faster ones";
  }
  if (old && __builtin_cpu_supports("avx2")) {
    return "; this CPU has AVX2 but OpenBLAS runs its " + core +
           " kernels (a model it does not know): OPENBLAS_CORETYPE=Haswell picks faster ones";
  }
#endif
  return "";
}

std::string blas_description() {
  const int parallel = openblas_get_parallel();
  const char* threading = parallel == 2   ? "OpenMP threads"
                          : parallel == 1 ? "pthreads"
                                          : "sequential";
  return std::string(openblas_get_config()) + " (" + threading + ")" + blas_core_advice();
}

}  // namespace cpu

void CpuBackend::gemm(bool transpose_a, bool transpose_b, double alpha, const Tensor& a,
                      const Tensor& b, double beta, Tensor& c) {
  KILN_CHECK(a.rank() == 2 && b.rank() == 2 && c.rank() == 2,
             "cpu gemm: expected 2-D matrices, found ranks {}, {}, {}", a.rank(), b.rank(),
             c.rank());
  const std::int64_t m = c.dim(0), n = c.dim(1);
  const std::int64_t k = transpose_a ? a.dim(0) : a.dim(1);
  // BLAS reads out of bounds on a mismatch, so this one is checked even here.
  KILN_CHECK((transpose_a ? a.dim(1) : a.dim(0)) == m && (transpose_b ? b.dim(1) : b.dim(0)) == k &&
                 (transpose_b ? b.dim(0) : b.dim(1)) == n,
             "cpu gemm: a {}{} and b {}{} do not multiply into c {}", shape_str(a.shape()),
             transpose_a ? " transposed" : "", shape_str(b.shape()),
             transpose_b ? " transposed" : "", shape_str(c.shape()));
  cpu::dispatch_floating(c.dtype(), "gemm", [&]<class T>(T) {
    cpu::gemm(transpose_a, transpose_b, m, n, k, static_cast<T>(alpha), a.data<T>(), a.dim(1),
              b.data<T>(), b.dim(1), static_cast<T>(beta), c.data<T>(), n);
  });
}

void CpuBackend::add_bias(Tensor& y, const Tensor& bias) {
  const cpu::RowView view = cpu::row_view(y);
  cpu::dispatch_floating(y.dtype(), "add_bias", [&]<class T>(T) {
    T* out = y.data<T>();
    const T* b = bias.data<T>();
    const std::int64_t cols = view.cols;
#pragma omp parallel for if (view.rows * cols > cpu::kParallelThreshold)
    for (std::int64_t r = 0; r < view.rows; ++r) {
      T* row = out + r * cols;
      for (std::int64_t j = 0; j < cols; ++j) row[j] += b[j];
    }
  });
}

void CpuBackend::bias_backward(const Tensor& dy, Tensor& dbias) {
  const cpu::RowView view = cpu::row_view(dy);
  cpu::dispatch_floating(dy.dtype(), "bias_backward", [&]<class T>(T) {
    const T* grad = dy.data<T>();
    std::vector<double> sums(static_cast<std::size_t>(view.cols), 0.0);
    cpu::add_column_sums(view.rows, view.cols, sums.data(), [&](std::int64_t r, double* slot) {
      cpu::add_row(grad + r * view.cols, view.cols, slot);
    });
    std::copy(sums.begin(), sums.end(), dbias.data<T>());
  });
}

// One pass per row while it is in cache: add the bias, then activate.
void CpuBackend::bias_activation_forward(Tensor& y, const Tensor& bias, Pointwise f) {
  const cpu::RowView view = cpu::row_view(y);
  cpu::dispatch_floating(y.dtype(), "bias_activation_forward", [&]<class T>(T) {
    T* out = y.data<T>();
    const T* b = bias.defined() ? bias.data<T>() : nullptr;
    const std::int64_t cols = view.cols;
#pragma omp parallel for if (view.rows * cols > cpu::kParallelThreshold)
    for (std::int64_t r = 0; r < view.rows; ++r) {
      T* row = out + r * cols;
      if (b != nullptr) {
        for (std::int64_t j = 0; j < cols; ++j) row[j] += b[j];
      }
      cpu::activation_forward(f, row, row, cols);
    }
  });
}

void CpuBackend::bias_activation_backward(Pointwise f, const Tensor& y, const Tensor& dy,
                                          Tensor& dz, Tensor& dbias) {
  const cpu::RowView view = cpu::row_view(dy);
  cpu::dispatch_floating(dz.dtype(), "bias_activation_backward", [&]<class T>(T) {
    const std::int64_t cols = view.cols;
    const T* out = y.data<T>();
    const T* grad = dy.data<T>();
    T* pre = dz.data<T>();
    if (!dbias.defined()) {
      cpu::for_blocks(view.rows * cols, [&](std::int64_t first, std::int64_t count) {
        cpu::activation_backward(f, out + first, grad + first, pre + first, count);
      });
      return;
    }
    std::vector<double> sums(static_cast<std::size_t>(cols), 0.0);
    cpu::add_column_sums(view.rows, cols, sums.data(), [&](std::int64_t r, double* slot) {
      const std::int64_t at = r * cols;
      cpu::activation_backward(f, out + at, grad + at, pre + at, cols);
      cpu::add_row(pre + at, cols, slot);
    });
    std::copy(sums.begin(), sums.end(), dbias.data<T>());
  });
}

}  // namespace kiln::backend
