// Stands in for the part of cuBLAS kiln calls: handles (cublasCreate, cublasDestroy,
// cublasSetStream, cublasGetStream, cublasSetWorkspace), cublasGemmEx on f32 matrices and
// cublasGetProperty. cublas_v2.h maps the handle calls to their exported
// _v2 names (cublasCreate_v2, ...), which these definitions therefore carry.
//
// Note [GEMM]
// ~~~~~~~~~~~
// C = alpha op(A) op(B) + beta C, column-major as in cuBLAS: op(A) is m x k, op(B) is k x n, C is
// m x n, with leading dimensions lda, ldb, ldc; CUBLAS_OP_C is CUBLAS_OP_T for real data. Sums
// are in double. CUBLAS_COMPUTE_32F and _32F_PEDANTIC are exact; CUBLAS_COMPUTE_32F_FAST_TF32
// rounds every element of A and B to TF32 first, as tensor cores read them. m == 0 or n == 0 does
// nothing; k == 0 gives C = beta C without reading A or B; beta == 0 never reads C. The pointer
// mode is host (cublasSetPointerMode is not emulated): alpha and beta are host floats. On a
// handle whose stream captures, the GEMM is recorded with its scalars and pointers (Note [Stream
// capture] in stream_capture.cpp). The status texts are cublas_status.cpp's.
#include <cublas_v2.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <new>
#include <string>
#include <vector>

#include "cublas_status.h"
#include "emulator.h"
#include "library_support.h"

struct cublasContext {
  cudaStream_t stream = nullptr;
  void* workspace = nullptr;
  std::size_t workspace_bytes = 0;
};

namespace kiln::emu::cublas {

namespace {

ObjectRegistry<cublasContext>& handles() {
  static auto* registry = new ObjectRegistry<cublasContext>;  // never destroyed
  return *registry;
}

// As documented, a handle that is not live is CUBLAS_STATUS_NOT_INITIALIZED.
cublasContext& live_handle(cublasHandle_t handle) {
  require(handle != nullptr && handles().is_live(handle), CUBLAS_STATUS_NOT_INITIALIZED,
          "handle is not a live cuBLAS handle (NULL, destroyed, or never created)");
  return *handle;
}

bool transposed(cublasOperation_t op) { return op != CUBLAS_OP_N; }

// One operand of the GEMM: a column-major matrix of `rows` x `cols` stored elements.
struct Matrix {
  const char* name;
  int rows, cols, ld;
};

void require_leading_dimension(const Matrix& m) {
  require_value(m.ld >= std::max(1, m.rows), std::string("ld") + m.name + " = " +
                                                 std::to_string(m.ld) + " is less than max(1, " +
                                                 std::to_string(m.rows) + ")");
}

std::size_t matrix_bytes(const Matrix& m) {
  return (static_cast<std::size_t>(m.cols - 1) * m.ld + m.rows) * sizeof(float);
}

void require_types(cudaDataType a, cudaDataType b, cudaDataType c, cublasComputeType_t compute,
                   cublasGemmAlgo_t algo) {
  require(a == CUDA_R_32F && b == CUDA_R_32F && c == CUDA_R_32F, CUBLAS_STATUS_NOT_SUPPORTED,
          "Atype / Btype / Ctype = " + std::to_string(a) + " / " + std::to_string(b) + " / " +
              std::to_string(c) + ": the emulation has only CUDA_R_32F");
  require(compute == CUBLAS_COMPUTE_32F || compute == CUBLAS_COMPUTE_32F_PEDANTIC ||
              compute == CUBLAS_COMPUTE_32F_FAST_TF32,
          CUBLAS_STATUS_NOT_SUPPORTED,
          "computeType " + std::to_string(compute) +
              " is not emulated (only CUBLAS_COMPUTE_32F, _32F_PEDANTIC, _32F_FAST_TF32)");
  require(algo == CUBLAS_GEMM_DEFAULT || algo == CUBLAS_GEMM_DEFAULT_TENSOR_OP,
          CUBLAS_STATUS_NOT_SUPPORTED,
          "algo " + std::to_string(algo) + " is not emulated (only CUBLAS_GEMM_DEFAULT)");
}

struct Gemm {
  bool transpose_a = false, transpose_b = false;
  int m = 0, n = 0, k = 0;
  const float* a = nullptr;
  const float* b = nullptr;
  float* c = nullptr;
  int lda = 0, ldb = 0, ldc = 0;
  double alpha = 1.0, beta = 0.0;
  bool tf32 = false;
};

// op(M)[row, col] of a column-major matrix, rounded to TF32 when asked.
double element(const float* matrix, int ld, bool transpose, int row, int col, bool tf32) {
  const std::int64_t index =
      transpose ? col + std::int64_t{row} * ld : row + std::int64_t{col} * ld;
  return tf32 ? round_to_tf32(matrix[index]) : matrix[index];
}

void multiply(const Gemm& g) {
  for (int j = 0; j < g.n; ++j) {
    for (int i = 0; i < g.m; ++i) {
      double sum = 0.0;
      for (int p = 0; p < g.k; ++p) {
        sum += element(g.a, g.lda, g.transpose_a, i, p, g.tf32) *
               element(g.b, g.ldb, g.transpose_b, p, j, g.tf32);
      }
      float& out = g.c[i + std::int64_t{j} * g.ldc];
      double value = g.alpha * sum;
      if (g.beta != 0.0) value += g.beta * out;
      out = static_cast<float>(value);
    }
  }
}

}  // namespace

}  // namespace kiln::emu::cublas

using namespace kiln::emu;
using namespace kiln::emu::cublas;

cublasStatus_t cublasCreate(cublasHandle_t* handle) {
  return run_cublas("cublasCreate", [&] {
    require_value(handle != nullptr, "handle is NULL");
    *handle = handles().create();
  });
}

cublasStatus_t cublasDestroy(cublasHandle_t handle) {
  return run_cublas("cublasDestroy", [&] { handles().destroy(&live_handle(handle)); });
}

// Stricter than cuBLAS, which accepts any value here: a stream that does not exist is refused.
// As in cuBLAS, setting the stream drops a workspace given by cublasSetWorkspace.
cublasStatus_t cublasSetStream(cublasHandle_t handle, cudaStream_t streamId) {
  return run_cublas("cublasSetStream", [&] {
    cublasContext& context = live_handle(handle);
    require_value(stream_is_valid(streamId),
                  "streamId is not a stream that exists (destroyed, or never created)");
    context.stream = streamId;
    context.workspace = nullptr;
    context.workspace_bytes = 0;
  });
}

cublasStatus_t cublasGetStream(cublasHandle_t handle, cudaStream_t* streamId) {
  return run_cublas("cublasGetStream", [&] {
    const cublasContext& context = live_handle(handle);
    require_value(streamId != nullptr, "streamId is NULL");
    *streamId = context.stream;
  });
}

// The workspace is kept but not needed: the emulated GEMM uses none.
cublasStatus_t cublasSetWorkspace(cublasHandle_t handle, void* workspace,
                                  size_t workspaceSizeInBytes) {
  return run_cublas("cublasSetWorkspace", [&] {
    cublasContext& context = live_handle(handle);
    if (workspaceSizeInBytes > 0) {
      require_device_range(CUBLAS_STATUS_INVALID_VALUE, "workspace", workspace,
                           workspaceSizeInBytes, 256);
    }
    context.workspace = workspace;
    context.workspace_bytes = workspaceSizeInBytes;
  });
}

cublasStatus_t cublasGemmEx(cublasHandle_t handle, cublasOperation_t transa,
                            cublasOperation_t transb, int m, int n, int k, const void* alpha,
                            const void* A, cudaDataType Atype, int lda, const void* B,
                            cudaDataType Btype, int ldb, const void* beta, void* C,
                            cudaDataType Ctype, int ldc, cublasComputeType_t computeType,
                            cublasGemmAlgo_t algo) {
  constexpr const char* kCall = "cublasGemmEx";
  return run_cublas(kCall, [&] {
    const cublasContext& context = live_handle(handle);
    for (const cublasOperation_t op : {transa, transb}) {
      require_value(op == CUBLAS_OP_N || op == CUBLAS_OP_T || op == CUBLAS_OP_C,
                    "transa / transb " + std::to_string(op) + " is not N, T or C");
    }
    require_value(m >= 0 && n >= 0 && k >= 0, "m, n, k = " + std::to_string(m) + ", " +
                                                  std::to_string(n) + ", " + std::to_string(k) +
                                                  " (none may be negative)");
    const Matrix a{"a", transposed(transa) ? k : m, transposed(transa) ? m : k, lda};
    const Matrix b{"b", transposed(transb) ? n : k, transposed(transb) ? k : n, ldb};
    const Matrix c{"c", m, n, ldc};
    for (const Matrix& matrix : {a, b, c}) require_leading_dimension(matrix);
    Gemm g{transposed(transa), transposed(transb), m, n, k};
    g.alpha = host_scalar("alpha", alpha);
    g.beta = host_scalar("beta", beta);
    require_types(Atype, Btype, Ctype, computeType, algo);
    if (m == 0 || n == 0) return;
    if (k > 0) {
      require_device_range(CUBLAS_STATUS_INVALID_VALUE, "A", A, matrix_bytes(a), sizeof(float));
      require_device_range(CUBLAS_STATUS_INVALID_VALUE, "B", B, matrix_bytes(b), sizeof(float));
    }
    require_device_range(CUBLAS_STATUS_INVALID_VALUE, "C", C, matrix_bytes(c), sizeof(float));
    require(stream_is_valid(context.stream), CUBLAS_STATUS_EXECUTION_FAILED,
            "the handle's stream no longer exists (destroyed after cublasSetStream?)");
    g.a = static_cast<const float*>(A);
    g.b = static_cast<const float*>(B);
    g.c = static_cast<float*>(C);
    g.lda = lda, g.ldb = ldb, g.ldc = ldc;
    g.tf32 = computeType == CUBLAS_COMPUTE_32F_FAST_TF32;
    std::vector<CheckedRange> ranges{checked_range("C", C, matrix_bytes(c))};
    if (k > 0) {
      ranges.push_back(checked_range("A", A, matrix_bytes(a)));
      ranges.push_back(checked_range("B", B, matrix_bytes(b)));
    }
    queue_or_fail(CUBLAS_STATUS_EXECUTION_FAILED, context.stream, kCall, [g, ranges, kCall] {
      if (!ranges_still_live(kCall, ranges)) return;
      multiply(g);
      check_redzones_after(kCall);
    });
  });
}

cublasStatus_t cublasGetProperty(libraryPropertyType type, int* value) {
  return run_cublas("cublasGetProperty", [&] {
    require_value(value != nullptr, "value is NULL");
    switch (type) {
      case MAJOR_VERSION: *value = CUBLAS_VER_MAJOR; return;
      case MINOR_VERSION: *value = CUBLAS_VER_MINOR; return;
      case PATCH_LEVEL: *value = CUBLAS_VER_PATCH; return;
    }
    require_value(false, "type " + std::to_string(type) + " is not a libraryPropertyType");
  });
}
