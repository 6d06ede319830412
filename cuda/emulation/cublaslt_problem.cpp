// The cuBLASLt stand-in's matmul problem as its descriptors describe it (types, shapes, the
// epilogue's settings), the emulated algorithms, and cublasLtMatmulAlgoGetHeuristic.
//
// Note [Emulated algorithms]
// ~~~~~~~~~~~~~~~~~~~~~~~~~~
// Two algorithms, so that kiln's heuristic, workspace and alignment plumbing really runs:
//   split_k (id 0)  workspace m * n * 8 bytes: the sums over the first and the second half of k
//                   are accumulated (in double) in the workspace, then the epilogue reads them;
//                   A, B, C and D must be 16-byte aligned.
//   direct (id 1)   no workspace; A, B, C and D need only float alignment.
// The heuristic lists split_k first (it would be the faster), each algorithm only when its
// workspace fits the preference's CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES (default 0) and its
// alignment is at most the preference's CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_{A,B,C,D}_BYTES
// (default 256: the buffers are promised that aligned). As cuBLASLt documents, the heuristic
// also looks at the bias and bit-mask pointers set in the descriptor to learn their alignment:
// a misaligned one (Note [Epilogues]) leaves no algorithm. No algorithm at all is
// CUBLAS_STATUS_NOT_SUPPORTED. An algorithm is the semi-opaque cublasLtMatmulAlgo_t with a tag
// and its id; cublasLtMatmul refuses one that carries no tag (INVALID_VALUE) and, with NULL,
// makes the implicit heuristic query cuBLASLt documents, with default preferences (direct).
#include <fmt/format.h>

#include <algorithm>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "cublaslt_objects.h"

namespace kiln::emu::cublaslt {

namespace {

using cublas::run_cublas;

constexpr uint64_t kAlgoTag = 0x6b696c6e4c543031ull;  // "kilnLT01"

bool is_emulated(uint32_t e) {
  return e == CUBLASLT_EPILOGUE_DEFAULT || e == CUBLASLT_EPILOGUE_BIAS || applies_relu(e) ||
         reads_mask(e) || writes_bias_gradient(e);
}

std::string type_name(int64_t type) { return fmt::format("cudaDataType {}", type); }

void require_f32_layout(const char* name, const Layout& l) {
  require_supported(l.type == CUDA_R_32F, fmt::format("{} holds {}: the emulation has only "
                                                      "CUDA_R_32F",
                                                      name, type_name(l.type)));
  constexpr uint64_t kMax = std::numeric_limits<int32_t>::max();
  require_supported(l.rows <= kMax && l.cols <= kMax,
                    fmt::format("{} is {} x {}: only sizes that fit int32_t are supported", name,
                                l.rows, l.cols));
  const int64_t least = std::max<int64_t>(1, static_cast<int64_t>(l.rows));
  require_value(l.ld >= least,
                fmt::format("{} has ld {}, less than max(1, rows = {})", name, l.ld, l.rows));
}

void require_types(const MatmulDesc& d) {
  require_supported(d.compute_type == CUBLAS_COMPUTE_32F ||
                        d.compute_type == CUBLAS_COMPUTE_32F_PEDANTIC ||
                        d.compute_type == CUBLAS_COMPUTE_32F_FAST_TF32,
                    fmt::format("computeType {} is not emulated (only CUBLAS_COMPUTE_32F, "
                                "_32F_PEDANTIC, _32F_FAST_TF32)",
                                d.compute_type));
  require_supported(d.scale_type == CUDA_R_32F,
                    fmt::format("scaleType is {}: only CUDA_R_32F", type_name(d.scale_type)));
  require_supported(
      d.pointer_mode == CUBLASLT_POINTER_MODE_HOST,
      fmt::format("POINTER_MODE {}: only CUBLASLT_POINTER_MODE_HOST is emulated", d.pointer_mode));
}

std::string shape(const char* name, uint64_t rows, uint64_t cols) {
  return fmt::format("{} is {} x {}", name, rows, cols);
}

void require_epilogue_settings(const MatmulDesc& d, int m) {
  require_supported(
      is_emulated(d.epilogue),
      fmt::format("EPILOGUE {} is not emulated (GELU epilogues are not)", d.epilogue));
  if (adds_bias(d.epilogue) || writes_bias_gradient(d.epilogue)) {
    require_supported(d.bias_type == -1 || d.bias_type == CUDA_R_32F,
                      fmt::format("BIAS_DATA_TYPE is {}: only CUDA_R_32F (the type of D)",
                                  type_name(d.bias_type)));
  }
  if (writes_mask(d.epilogue) || reads_mask(d.epilogue)) {
    require_value(d.aux_ld >= m && d.aux_ld % 128 == 0,
                  fmt::format("EPILOGUE_AUX_LD {} must be a multiple of 128 and at least the {} "
                              "rows of D",
                              d.aux_ld, m));
  }
}

// Whether the descriptor's bias and bit-mask pointers, when the epilogue uses them and they are
// set, have the alignment Note [Epilogues] requires.
bool epilogue_pointers_aligned(const Problem& p) {
  const auto misaligned = [](const void* ptr, std::size_t alignment) {
    return ptr != nullptr && reinterpret_cast<std::uintptr_t>(ptr) % alignment != 0;
  };
  const bool uses_bias = adds_bias(p.epilogue) || writes_bias_gradient(p.epilogue);
  const bool uses_mask = writes_mask(p.epilogue) || reads_mask(p.epilogue);
  return !(uses_bias && misaligned(p.bias, alignof(float))) &&
         !(uses_mask && misaligned(p.aux, kMaskAlignment));
}

std::vector<Algorithm> fitting_algorithms(const Problem& p, const Preference& pref) {
  std::vector<Algorithm> fits;
  if (!epilogue_pointers_aligned(p)) return fits;
  for (const Algorithm algorithm : {Algorithm::split_k, Algorithm::direct}) {
    bool aligned = true;
    for (const uint32_t promised : pref.min_alignment) {
      aligned = aligned && operand_alignment(algorithm) <= promised;
    }
    if (aligned && workspace_bytes(algorithm, p) <= pref.max_workspace) fits.push_back(algorithm);
  }
  return fits;
}

}  // namespace

bool applies_relu(uint32_t e) {
  return e == CUBLASLT_EPILOGUE_RELU || e == CUBLASLT_EPILOGUE_RELU_AUX ||
         e == CUBLASLT_EPILOGUE_RELU_BIAS || e == CUBLASLT_EPILOGUE_RELU_AUX_BIAS;
}

bool adds_bias(uint32_t e) {
  return e == CUBLASLT_EPILOGUE_BIAS || e == CUBLASLT_EPILOGUE_RELU_BIAS ||
         e == CUBLASLT_EPILOGUE_RELU_AUX_BIAS;
}

bool writes_mask(uint32_t e) {
  return e == CUBLASLT_EPILOGUE_RELU_AUX || e == CUBLASLT_EPILOGUE_RELU_AUX_BIAS;
}

bool reads_mask(uint32_t e) {
  return e == CUBLASLT_EPILOGUE_DRELU || e == CUBLASLT_EPILOGUE_DRELU_BGRAD;
}

bool writes_bias_gradient(uint32_t e) {
  return e == CUBLASLT_EPILOGUE_DRELU_BGRAD || e == CUBLASLT_EPILOGUE_BGRADA ||
         e == CUBLASLT_EPILOGUE_BGRADB;
}

int bias_length(const Problem& p) { return p.epilogue == CUBLASLT_EPILOGUE_BGRADB ? p.n : p.m; }

std::size_t mask_bytes(const Problem& p) {
  return static_cast<std::size_t>(p.aux_ld / 8) * static_cast<std::size_t>(p.n);
}

Problem describe_matmul(const MatmulDesc& desc, const Layout& a, const Layout& b, const Layout& c,
                        const Layout& d) {
  require_types(desc);
  require_f32_layout("Adesc", a);
  require_f32_layout("Bdesc", b);
  require_f32_layout("Cdesc", c);
  require_f32_layout("Ddesc", d);
  Problem p;
  p.transpose_a = desc.transa != CUBLAS_OP_N;
  p.transpose_b = desc.transb != CUBLAS_OP_N;
  p.m = static_cast<int>(d.rows);
  p.n = static_cast<int>(d.cols);
  p.k = static_cast<int>(p.transpose_a ? a.rows : a.cols);
  const uint64_t a_rows = p.transpose_a ? a.cols : a.rows;
  const uint64_t b_rows = p.transpose_b ? b.cols : b.rows;
  const uint64_t b_cols = p.transpose_b ? b.rows : b.cols;
  require_value(a_rows == d.rows && b_rows == static_cast<uint64_t>(p.k) && b_cols == d.cols &&
                    c.rows == d.rows && c.cols == d.cols,
                fmt::format("shapes disagree: {}, {}, {}, {} (transa {}, transb {})",
                            shape("A", a.rows, a.cols), shape("B", b.rows, b.cols),
                            shape("C", c.rows, c.cols), shape("D", d.rows, d.cols), desc.transa,
                            desc.transb));
  p.lda = a.ld, p.ldb = b.ld, p.ldc = c.ld, p.ldd = d.ld;
  require_epilogue_settings(desc, p.m);
  p.epilogue = desc.epilogue;
  p.tf32 = desc.compute_type == CUBLAS_COMPUTE_32F_FAST_TF32;
  p.bias = desc.bias;
  p.aux = desc.aux;
  p.aux_ld = desc.aux_ld;
  return p;
}

std::size_t workspace_bytes(Algorithm algorithm, const Problem& p) {
  if (algorithm == Algorithm::direct) return 0;
  return static_cast<std::size_t>(p.m) * static_cast<std::size_t>(p.n) * sizeof(double);
}

std::size_t operand_alignment(Algorithm algorithm) {
  return algorithm == Algorithm::split_k ? 16 : alignof(float);
}

cublasLtMatmulAlgo_t encode(Algorithm algorithm) {
  cublasLtMatmulAlgo_t algo{};
  algo.data[0] = kAlgoTag;
  algo.data[1] = static_cast<uint64_t>(algorithm);
  return algo;
}

Algorithm decode(const cublasLtMatmulAlgo_t& algo) {
  require_value(
      algo.data[0] == kAlgoTag && (algo.data[1] == static_cast<uint64_t>(Algorithm::split_k) ||
                                   algo.data[1] == static_cast<uint64_t>(Algorithm::direct)),
      "algo was not returned by cublasLtMatmulAlgoGetHeuristic");
  return static_cast<Algorithm>(algo.data[1]);
}

}  // namespace kiln::emu::cublaslt

using namespace kiln::emu::cublaslt;
using kiln::emu::cublas::run_cublas;

cublasStatus_t cublasLtMatmulAlgoGetHeuristic(
    cublasLtHandle_t lightHandle, cublasLtMatmulDesc_t operationDesc, cublasLtMatrixLayout_t Adesc,
    cublasLtMatrixLayout_t Bdesc, cublasLtMatrixLayout_t Cdesc, cublasLtMatrixLayout_t Ddesc,
    cublasLtMatmulPreference_t preference, int requestedAlgoCount,
    cublasLtMatmulHeuristicResult_t heuristicResultsArray[], int* returnAlgoCount) {
  return run_cublas("cublasLtMatmulAlgoGetHeuristic", [&] {
    live_handle(lightHandle);
    require_value(requestedAlgoCount > 0,
                  fmt::format("requestedAlgoCount {} is not positive", requestedAlgoCount));
    require_value(heuristicResultsArray != nullptr && returnAlgoCount != nullptr,
                  "heuristicResultsArray or returnAlgoCount is NULL");
    const Problem p = describe_matmul(live_desc("operationDesc", operationDesc),
                                      live_layout("Adesc", Adesc), live_layout("Bdesc", Bdesc),
                                      live_layout("Cdesc", Cdesc), live_layout("Ddesc", Ddesc));
    const std::vector<Algorithm> fits =
        fitting_algorithms(p, live_preference("preference", preference));
    *returnAlgoCount = 0;
    require_supported(!fits.empty(),
                      "no emulated algorithm fits the preference's workspace and alignment and "
                      "the descriptor's bias / bit-mask pointers (Note [Emulated algorithms])");
    for (const Algorithm algorithm : fits) {
      if (*returnAlgoCount == requestedAlgoCount) break;
      cublasLtMatmulHeuristicResult_t result{};
      result.algo = encode(algorithm);
      result.workspaceSize = workspace_bytes(algorithm, p);
      result.state = CUBLAS_STATUS_SUCCESS;
      result.wavesCount = 1.0f;
      heuristicResultsArray[(*returnAlgoCount)++] = result;
    }
  });
}
