// The cuBLASLt stand-in's objects (the handle, matmul descriptors, matrix layouts, preferences),
// the checked matmul problem, its emulated algorithms and its arithmetic. Files:
// cublaslt_descriptors.cpp (create / destroy / attributes), cublaslt_problem.cpp (the problem's
// checks, the algorithms, cublasLtMatmulAlgoGetHeuristic), cublaslt_matmul.cpp (cublasLtMatmul's
// operand checks), cublaslt_arithmetic.cpp (the GEMM and its epilogues: Note [Epilogues]).
// Covered: f32 column-major matrices, batch count 1, CUBLAS_COMPUTE_32F (and _PEDANTIC) exact,
// CUBLAS_COMPUTE_32F_FAST_TF32 with inputs rounded to TF32, host alpha / beta, the ReLU and
// bias epilogues and their gradients; anything else is NOT_SUPPORTED, never a guess.
#pragma once

#include <cublasLt.h>

#include <cstddef>
#include <cstdint>
#include <string>

#include "cublas_status.h"
#include "library_support.h"

// cublasLtHandle_t points to this; cublasLtMatmul takes its stream as an argument, so the handle
// holds nothing.
struct cublasLtContext {};

namespace kiln::emu::cublaslt {

using cublas::require_supported;
using cublas::require_value;

// CUBLASLT_MATMUL_DESC_* attributes the stand-in models, with cuBLASLt's defaults.
struct MatmulDesc {
  int32_t compute_type = CUBLAS_COMPUTE_32F;
  int32_t scale_type = CUDA_R_32F;
  int32_t pointer_mode = CUBLASLT_POINTER_MODE_HOST;
  int32_t transa = CUBLAS_OP_N;
  int32_t transb = CUBLAS_OP_N;
  uint32_t epilogue = CUBLASLT_EPILOGUE_DEFAULT;
  const void* bias = nullptr;  // bias, or the bias gradient the epilogue writes
  int32_t bias_type = -1;      // -1: the type of D
  void* aux = nullptr;         // the ReLU bit-mask
  int64_t aux_ld = 0;          // in elements, i.e. bits
};

// CUBLASLT_MATRIX_LAYOUT_* attributes.
struct Layout {
  uint32_t type = CUDA_R_32F;
  int32_t order = CUBLASLT_ORDER_COL;
  uint64_t rows = 0;
  uint64_t cols = 0;
  int64_t ld = 0;
  int32_t batch_count = 1;
  int64_t batch_stride = 0;  // unused with one matrix per batch
};

// CUBLASLT_MATMUL_PREF_* attributes.
struct Preference {
  uint32_t search_mode = CUBLASLT_SEARCH_BEST_FIT;
  uint64_t max_workspace = 0;
  uint32_t min_alignment[4] = {256, 256, 256, 256};  // A, B, C, D in bytes
};

// The objects behind the handles: the semi-opaque struct cublasLt.h declares comes first, so the
// handle (a pointer to it) is the object's address.
struct MatmulDescObject {
  cublasLtMatmulDescOpaque_t opaque{};
  MatmulDesc desc;
};
struct LayoutObject {
  cublasLtMatrixLayoutOpaque_t opaque{};
  Layout layout;
};
struct PreferenceObject {
  cublasLtMatmulPreferenceOpaque_t opaque{};
  Preference preference;
};

template <class Object>
ObjectRegistry<Object>& registry() {
  static auto* instance = new ObjectRegistry<Object>;  // never destroyed
  return *instance;
}

// The live handle (NOT_INITIALIZED otherwise, as documented).
cublasLtContext& live_handle(cublasLtHandle_t handle);
// The live descriptors behind handles (INVALID_VALUE, naming `name`, when NULL or destroyed).
MatmulDesc& live_desc(const char* name, cublasLtMatmulDesc_t handle);
Layout& live_layout(const char* name, cublasLtMatrixLayout_t handle);
Preference& live_preference(const char* name, cublasLtMatmulPreference_t handle);

// One checked matmul: D (m x n) = epilogue(alpha op(A) op(B) + beta C), op(A) m x k, op(B) k x n,
// column-major with leading dimensions lda .. ldd.
struct Problem {
  bool transpose_a = false, transpose_b = false;
  int m = 0, n = 0, k = 0;
  int64_t lda = 0, ldb = 0, ldc = 0, ldd = 0;
  uint32_t epilogue = CUBLASLT_EPILOGUE_DEFAULT;
  bool tf32 = false;
  const void* bias = nullptr;
  void* aux = nullptr;
  int64_t aux_ld = 0;
};

// The problem, or INVALID_VALUE / NOT_SUPPORTED naming what is wrong (cublaslt_problem.cpp).
Problem describe_matmul(const MatmulDesc& desc, const Layout& a, const Layout& b, const Layout& c,
                        const Layout& d);

// What the epilogue does besides writing D (Note [Epilogues] in cublaslt_arithmetic.cpp).
bool applies_relu(uint32_t epilogue);  // RELU, RELU_BIAS, RELU_AUX, RELU_AUX_BIAS
bool adds_bias(uint32_t epilogue);
bool writes_mask(uint32_t epilogue);           // RELU_AUX, RELU_AUX_BIAS
bool reads_mask(uint32_t epilogue);            // DRELU, DRELU_BGRAD
bool writes_bias_gradient(uint32_t epilogue);  // DRELU_BGRAD, BGRADA, BGRADB
// Elements of the bias (or bias gradient) vector: n for BGRADB, m otherwise.
int bias_length(const Problem& p);
// Bytes of the bit-mask: aux_ld bits per column of D.
std::size_t mask_bytes(const Problem& p);
// The bit-mask's pointer alignment (Note [Epilogues]).
constexpr std::size_t kMaskAlignment = 16;

// ---- the emulated algorithms (Note [Emulated algorithms] in cublaslt_problem.cpp)
enum class Algorithm : int { split_k = 0, direct = 1 };
std::size_t workspace_bytes(Algorithm algorithm, const Problem& p);
std::size_t operand_alignment(Algorithm algorithm);  // of A, B, C, D
cublasLtMatmulAlgo_t encode(Algorithm algorithm);
// The algorithm of `algo`, or INVALID_VALUE when no heuristic query returned it.
Algorithm decode(const cublasLtMatmulAlgo_t& algo);

// One run (cublaslt_arithmetic.cpp); pointers checked, C not read when beta == 0.
struct MatmulRun {
  Problem problem;
  Algorithm algorithm = Algorithm::direct;
  double alpha = 1.0, beta = 0.0;
  const float* a = nullptr;
  const float* b = nullptr;
  const float* c = nullptr;
  float* d = nullptr;
  void* workspace = nullptr;
};
void run_matmul(const MatmulRun& run);

}  // namespace kiln::emu::cublaslt
