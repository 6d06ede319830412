// The arithmetic of the cuBLASLt stand-in (cublaslt_objects.h): the GEMM of its two algorithms
// (Note [Emulated algorithms] in cublaslt_problem.cpp), in double, and the epilogues.
//
// Note [Epilogues]
// ~~~~~~~~~~~~~~~~
// As cublasLt.h documents cublasLtEpilogue_t and the CUBLASLT_MATMUL_DESC_* attributes, with
// t = alpha op(A) op(B) + beta C for each element (i, j) of D (m x n, column-major):
//   DEFAULT        D = t
//   BIAS           D = t + bias[i]: "Bias vector length must match matrix D rows, it must be
//                  packed ... broadcasted to all columns and added before applying final
//                  postprocessing"
//   RELU           D = max(t, 0);  RELU_BIAS: D = max(t + bias[i], 0)
//   RELU_AUX, RELU_AUX_BIAS   as RELU, RELU_BIAS, and the ReLU bit-mask records where the ReLU
//                  passed its input (input > 0)
//   DRELU          D = t where the mask bit (i, j) is set, else 0 ("ReLu gradient")
//   DRELU_BGRAD    as DRELU, and bias[i] = sum over j of D(i, j) — the bias gradient, one per row
//                  of D, written where BIAS_POINTER points
//   BGRADA         D = t, and bias[i] = sum over p of op(A)(i, p): "The bias size corresponds to
//                  the number of rows of the matrix D. The reduction happens over the GEMM's k
//                  dimension."
//   BGRADB         D = t, and bias[j] = sum over p of op(B)(p, j): "the number of columns of the
//                  matrix D", reduced over k
// The bit-mask is a column-major bit matrix whose leading dimension EPILOGUE_AUX_LD is "in
// elements (i.e. bits) ... divisible by 128 and ... no less than the number of rows in the output
// matrix": bit (i, j) is bit b % 8 of byte b / 8, b = i + j * ld (least significant bit first,
// the order of a GPU's little-endian 32-bit words); the bits of rows m .. ld-1 are left as they
// are. cublasLt.h gives the mask pointer no alignment; the emulation requires 16 bytes, the
// alignment a leading dimension of a multiple of 128 bits gives every column, and checks it.
// Where the documentation is silent the stand-in refuses rather than guesses (NOT_SUPPORTED):
// BGRADA / BGRADB need alpha == 1 (does alpha scale the gradient?) and DRELU_BGRAD needs
// beta == 0 (does beta C join the gradient?). The bias gradients of BGRADA / BGRADB sum the
// inputs as stored (not rounded to TF32). A NaN reaching the ReLU stays NaN (mask bit 0), so
// memory read before it was written still shows.
#include <cmath>
#include <cstdint>
#include <cstring>
#include <vector>

#include "cublaslt_objects.h"
#include "emulator.h"

namespace kiln::emu::cublaslt {

namespace {

// op(M)(row, col) of a column-major matrix, rounded to TF32 when asked.
double element(const float* matrix, int64_t ld, bool transpose, int row, int col, bool tf32) {
  const int64_t index = transpose ? col + int64_t{row} * ld : row + int64_t{col} * ld;
  return tf32 ? round_to_tf32(matrix[index]) : matrix[index];
}

// The sum over p in [first, last) of op(A)(i, p) op(B)(p, j).
double partial_sum(const MatmulRun& run, int i, int j, int first, int last) {
  const Problem& p = run.problem;
  double sum = 0.0;
  for (int q = first; q < last; ++q) {
    sum += element(run.a, p.lda, p.transpose_a, i, q, p.tf32) *
           element(run.b, p.ldb, p.transpose_b, q, j, p.tf32);
  }
  return sum;
}

double workspace_at(const void* workspace, int64_t index) {
  double value = 0.0;
  std::memcpy(&value, static_cast<const unsigned char*>(workspace) + index * sizeof(double),
              sizeof(double));
  return value;
}

void store_workspace(void* workspace, int64_t index, double value) {
  std::memcpy(static_cast<unsigned char*>(workspace) + index * sizeof(double), &value,
              sizeof(double));
}

// split_k: the two halves of k accumulated in the workspace, one pass each.
void accumulate_split_k(const MatmulRun& run) {
  const Problem& p = run.problem;
  const int half = p.k / 2;
  for (int j = 0; j < p.n; ++j) {
    for (int i = 0; i < p.m; ++i) {
      store_workspace(run.workspace, i + int64_t{j} * p.m, partial_sum(run, i, j, 0, half));
    }
  }
  for (int j = 0; j < p.n; ++j) {
    for (int i = 0; i < p.m; ++i) {
      const int64_t index = i + int64_t{j} * p.m;
      store_workspace(run.workspace, index,
                      workspace_at(run.workspace, index) + partial_sum(run, i, j, half, p.k));
    }
  }
}

bool mask_bit(const void* mask, int64_t ld, int i, int j) {
  const int64_t bit = i + j * ld;
  return ((static_cast<const unsigned char*>(mask)[bit / 8] >> (bit % 8)) & 1u) != 0;
}

void set_mask_bit(void* mask, int64_t ld, int i, int j, bool on) {
  const int64_t bit = i + j * ld;
  unsigned char& byte = static_cast<unsigned char*>(mask)[bit / 8];
  const auto flag = static_cast<unsigned char>(1u << (bit % 8));
  byte = on ? static_cast<unsigned char>(byte | flag) : static_cast<unsigned char>(byte & ~flag);
}

// D(i, j) from t (Note [Epilogues]); writes the mask bit when the epilogue does.
float epilogue(const MatmulRun& run, int i, int j, double t) {
  const Problem& p = run.problem;
  if (adds_bias(p.epilogue)) t += static_cast<const float*>(p.bias)[i];
  if (applies_relu(p.epilogue)) {
    const bool passed = t > 0.0;
    if (writes_mask(p.epilogue)) set_mask_bit(p.aux, p.aux_ld, i, j, passed);
    if (!passed && !std::isnan(t)) t = 0.0;
  }
  if (reads_mask(p.epilogue) && !mask_bit(p.aux, p.aux_ld, i, j)) t = 0.0;
  return static_cast<float>(t);
}

// BGRADA / BGRADB: the sums of op(A)'s rows or op(B)'s columns over k, as stored.
std::vector<double> input_bias_gradient(const MatmulRun& run) {
  const Problem& p = run.problem;
  const bool of_a = p.epilogue == CUBLASLT_EPILOGUE_BGRADA;
  std::vector<double> gradient(static_cast<std::size_t>(bias_length(p)), 0.0);
  for (std::size_t v = 0; v < gradient.size(); ++v) {
    for (int q = 0; q < p.k; ++q) {
      const int index = static_cast<int>(v);
      gradient[v] += of_a ? element(run.a, p.lda, p.transpose_a, index, q, false)
                          : element(run.b, p.ldb, p.transpose_b, q, index, false);
    }
  }
  return gradient;
}

}  // namespace

void run_matmul(const MatmulRun& run) {
  const Problem& p = run.problem;
  const bool split_k = run.algorithm == Algorithm::split_k;
  if (split_k) accumulate_split_k(run);
  std::vector<double> row_sums(static_cast<std::size_t>(p.m), 0.0);  // for DRELU_BGRAD
  for (int j = 0; j < p.n; ++j) {
    for (int i = 0; i < p.m; ++i) {
      const double sum = split_k ? workspace_at(run.workspace, i + int64_t{j} * p.m)
                                 : partial_sum(run, i, j, 0, p.k);
      double t = run.alpha * sum;
      if (run.beta != 0.0) t += run.beta * run.c[i + j * p.ldc];
      const float value = epilogue(run, i, j, t);
      run.d[i + j * p.ldd] = value;
      row_sums[static_cast<std::size_t>(i)] += value;
    }
  }
  if (!writes_bias_gradient(p.epilogue)) return;
  const std::vector<double> gradient =
      p.epilogue == CUBLASLT_EPILOGUE_DRELU_BGRAD ? row_sums : input_bias_gradient(run);
  auto* out = static_cast<float*>(const_cast<void*>(p.bias));
  for (std::size_t v = 0; v < gradient.size(); ++v) out[v] = static_cast<float>(gradient[v]);
}

}  // namespace kiln::emu::cublaslt
