// Stands in for the part of cuBLAS kiln calls: handles (cublasCreate, cublasDestroy,
// cublasSetStream, cublasGetStream, cublasSetWorkspace), cublasGemmEx on f32 matrices,
// cublasGetProperty and the status texts. cublas_v2.h maps the handle calls to their exported
// _v2 names (cublasCreate_v2, ...), which these definitions therefore carry.
//
// Note [GEMM]
// ~~~~~~~~~~~
// C = alpha op(A) op(B) + beta C, column-major as in cuBLAS: op(A) is m x k, op(B) is k x n, C is
// m x n, with leading dimensions lda, ldb, ldc; CUBLAS_OP_C is CUBLAS_OP_T for real data. Sums
// are in double. CUBLAS_COMPUTE_32F and _32F_PEDANTIC are exact; CUBLAS_COMPUTE_32F_FAST_TF32
// rounds every element of A and B to TF32 first, as tensor cores read them. m == 0 or n == 0 does
// nothing; k == 0 gives C = beta C without reading A or B; beta == 0 never reads C. The pointer
// mode is host (cublasSetPointerMode is not emulated): alpha and beta are host floats.
//
// Note [Status strings]
// ~~~~~~~~~~~~~~~~~~~~~
// cuBLAS has no error-message call, so, as the emulated cudaGetErrorString does (Note [Errors] in
// runtime.cpp), cublasGetStatusString of the calling thread's last failing status gives the
// standard text plus what was wrong; kiln's CHECK_CUBLAS message then names the argument.
#include <cublas_v2.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <new>
#include <string>

#include "emulator.h"
#include "library_support.h"

struct cublasContext {
  cudaStream_t stream = nullptr;
  void* workspace = nullptr;
  std::size_t workspace_bytes = 0;
};

namespace kiln::emu::cublas {

namespace {

using CublasFailure = Failure<cublasStatus_t>;

thread_local cublasStatus_t last_status = CUBLAS_STATUS_SUCCESS;  // Note [Status strings]
thread_local std::string last_text;

ObjectRegistry<cublasContext>& handles() {
  static auto* registry = new ObjectRegistry<cublasContext>;  // never destroyed
  return *registry;
}

const char* standard_text(cublasStatus_t status) {
  switch (status) {
    case CUBLAS_STATUS_SUCCESS: return "the operation completed successfully";
    case CUBLAS_STATUS_NOT_INITIALIZED: return "the library was not initialized";
    case CUBLAS_STATUS_ALLOC_FAILED: return "the resource allocation failed";
    case CUBLAS_STATUS_INVALID_VALUE: return "an invalid numeric value was used as an argument";
    case CUBLAS_STATUS_ARCH_MISMATCH: return "an absent device architectural feature is required";
    case CUBLAS_STATUS_MAPPING_ERROR: return "an access to GPU memory space failed";
    case CUBLAS_STATUS_EXECUTION_FAILED: return "the GPU program failed to execute";
    case CUBLAS_STATUS_INTERNAL_ERROR: return "an internal operation failed";
    case CUBLAS_STATUS_NOT_SUPPORTED: return "the functionality requested is not supported";
    case CUBLAS_STATUS_LICENSE_ERROR: return "an error was detected when checking the license";
  }
  return "unknown cuBLAS status";
}

cublasStatus_t report(const char* call, const CublasFailure& failure) {
  const std::string message = std::string(call) + ": " + failure.message;
  if (failure.fault != cudaSuccess) record_fault(failure.fault, message);
  last_status = failure.status;
  last_text = std::string(standard_text(failure.status)) + " (" + message + ")";
  return failure.status;
}

// Runs `body`, the work of the entry point `call` (Note [Failures] in library_support.h).
template <class Body>
cublasStatus_t run_cublas(const char* call, Body&& body) {
  try {
    body();
    return CUBLAS_STATUS_SUCCESS;
  } catch (const CublasFailure& failure) {
    return report(call, failure);
  } catch (const std::bad_alloc&) {
    return report(call, CublasFailure{CUBLAS_STATUS_ALLOC_FAILED, "host memory exhausted"});
  }
}

void require_value(bool condition, const std::string& message) {
  require(condition, CUBLAS_STATUS_INVALID_VALUE, message);
}

// As documented, a handle that is not live is CUBLAS_STATUS_NOT_INITIALIZED.
cublasContext& live_handle(cublasHandle_t handle) {
  require(handle != nullptr && handles().is_live(handle), CUBLAS_STATUS_NOT_INITIALIZED,
          "handle is not a live cuBLAS handle (NULL, destroyed, or never created)");
  return *handle;
}

float host_scalar(const char* name, const void* value) {
  require_value(value != nullptr, std::string(name) + " is NULL");
  require_value(!is_device_pointer(value), std::string(name) +
                                               " points to device memory, but the pointer mode "
                                               "is CUBLAS_POINTER_MODE_HOST");
  float scalar = 0.0f;
  std::memcpy(&scalar, value, sizeof(scalar));
  return scalar;
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
    multiply(g);
    check_redzones_after(kCall);
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

const char* cublasGetStatusName(cublasStatus_t status) {
  switch (status) {
    case CUBLAS_STATUS_SUCCESS: return "CUBLAS_STATUS_SUCCESS";
    case CUBLAS_STATUS_NOT_INITIALIZED: return "CUBLAS_STATUS_NOT_INITIALIZED";
    case CUBLAS_STATUS_ALLOC_FAILED: return "CUBLAS_STATUS_ALLOC_FAILED";
    case CUBLAS_STATUS_INVALID_VALUE: return "CUBLAS_STATUS_INVALID_VALUE";
    case CUBLAS_STATUS_ARCH_MISMATCH: return "CUBLAS_STATUS_ARCH_MISMATCH";
    case CUBLAS_STATUS_MAPPING_ERROR: return "CUBLAS_STATUS_MAPPING_ERROR";
    case CUBLAS_STATUS_EXECUTION_FAILED: return "CUBLAS_STATUS_EXECUTION_FAILED";
    case CUBLAS_STATUS_INTERNAL_ERROR: return "CUBLAS_STATUS_INTERNAL_ERROR";
    case CUBLAS_STATUS_NOT_SUPPORTED: return "CUBLAS_STATUS_NOT_SUPPORTED";
    case CUBLAS_STATUS_LICENSE_ERROR: return "CUBLAS_STATUS_LICENSE_ERROR";
  }
  return "CUBLAS_STATUS_UNKNOWN";
}

// Note [Status strings].
const char* cublasGetStatusString(cublasStatus_t status) {
  if (status != CUBLAS_STATUS_SUCCESS && status == last_status) return last_text.c_str();
  return standard_text(status);
}
