// Stands in for cublasLtMatmul (cublaslt_objects.h). Checks, in order: the handle
// (NOT_INITIALIZED), the descriptors and the problem they describe (cublaslt_problem.cpp:
// INVALID_VALUE or NOT_SUPPORTED), alpha and beta (host floats), the algorithm (one the heuristic
// returned; NULL asks the implicit heuristic with default preferences), the scalars the bias
// gradients need (Note [Epilogues]), the workspace size — "CUBLAS_STATUS_INVALID_VALUE ... when
// workspaceSizeInBytes is less than workspace required by configured algo" — then the memory:
// every matrix, the bias and the bit-mask as the epilogue uses them, and the workspace must be
// device memory covering what is read or written, aligned as the algorithm needs (INVALID_VALUE
// with the fault a GPU would raise); C == D needs ldc == ldd; D, the bias gradient and a mask
// written must not overlap the inputs; the workspace overlaps nothing. Last, the stream
// (EXECUTION_FAILED when it does not exist). The run then happens at the call, or is recorded
// with its values and pointers when the stream captures (Note [Stream capture] in
// stream_capture.cpp). m == 0 or n == 0 does nothing; k == 0 reads neither A nor B; beta == 0
// never reads C.
#include <fmt/format.h>

#include <cstdint>
#include <string>
#include <vector>

#include "cublaslt_objects.h"
#include "emulator.h"

namespace kiln::emu::cublaslt {

namespace {

// cuBLAS requires its workspaces to be 256-byte aligned (as cublasSetWorkspace does).
constexpr std::size_t kWorkspaceAlignment = 256;

struct Span {
  const char* name;
  const void* ptr;
  std::size_t bytes;
};

std::size_t matrix_bytes(int64_t rows, int64_t cols, int64_t ld) {
  return static_cast<std::size_t>((cols - 1) * ld + rows) * sizeof(float);
}

bool overlap(const Span& a, const Span& b) {
  const auto first = reinterpret_cast<std::uintptr_t>(a.ptr);
  const auto second = reinterpret_cast<std::uintptr_t>(b.ptr);
  return a.bytes > 0 && b.bytes > 0 && first < second + b.bytes && second < first + a.bytes;
}

void require_apart(const Span& output, const Span& other) {
  require_value(!overlap(output, other),
                fmt::format("{} overlaps {} (cublasLtMatmul does not work in place there)",
                            output.name, other.name));
}

// The checked ranges, for a replay to check again.
class Operands {
 public:
  Span add(const char* name, const void* ptr, std::size_t bytes, std::size_t alignment) {
    require_device_range(CUBLAS_STATUS_INVALID_VALUE, name, ptr, bytes, alignment);
    ranges_.push_back(checked_range(name, ptr, bytes));
    return {name, ptr, bytes};
  }
  const std::vector<CheckedRange>& ranges() const { return ranges_; }

 private:
  std::vector<CheckedRange> ranges_;
};

void require_gradient_scalars(const Problem& p, double alpha, double beta) {
  const bool input_gradient =
      p.epilogue == CUBLASLT_EPILOGUE_BGRADA || p.epilogue == CUBLASLT_EPILOGUE_BGRADB;
  require_supported(!input_gradient || alpha == 1.0,
                    fmt::format("EPILOGUE {} with alpha {}: whether alpha scales the bias "
                                "gradient is not documented, so only alpha == 1 is emulated",
                                p.epilogue, alpha));
  require_supported(p.epilogue != CUBLASLT_EPILOGUE_DRELU_BGRAD || beta == 0.0,
                    fmt::format("EPILOGUE_DRELU_BGRAD with beta {}: whether beta C joins the "
                                "bias gradient is not documented, so only beta == 0 is emulated",
                                beta));
}

struct Pointers {
  const void* a;
  const void* b;
  const void* c;
  void* d;
  void* workspace;
  std::size_t workspace_size;
};

std::vector<CheckedRange> check_memory(const Problem& p, Algorithm algorithm, double beta,
                                       const Pointers& ptr) {
  Operands operands;
  const std::size_t align = operand_alignment(algorithm);
  const Span d = operands.add("D", ptr.d, matrix_bytes(p.m, p.n, p.ldd), align);
  std::vector<Span> inputs;
  if (p.k > 0) {
    inputs.push_back(operands.add(
        "A", ptr.a, p.transpose_a ? matrix_bytes(p.k, p.m, p.lda) : matrix_bytes(p.m, p.k, p.lda),
        align));
    inputs.push_back(operands.add(
        "B", ptr.b, p.transpose_b ? matrix_bytes(p.n, p.k, p.ldb) : matrix_bytes(p.k, p.n, p.ldb),
        align));
  }
  if (beta != 0.0) {
    require_value(
        ptr.c != ptr.d || p.ldc == p.ldd,
        fmt::format("C == D (in place) needs ldc == ldd, but they are {} and {}", p.ldc, p.ldd));
    const Span c = operands.add("C", ptr.c, matrix_bytes(p.m, p.n, p.ldc), align);
    if (ptr.c != ptr.d) inputs.push_back(c);
  }
  std::vector<Span> outputs{d};
  if (adds_bias(p.epilogue) || writes_bias_gradient(p.epilogue)) {
    require_value(p.bias != nullptr, fmt::format("EPILOGUE {} needs BIAS_POINTER", p.epilogue));
    const Span bias =
        operands.add("BIAS_POINTER", p.bias, bias_length(p) * sizeof(float), alignof(float));
    (writes_bias_gradient(p.epilogue) ? outputs : inputs).push_back(bias);
  }
  if (writes_mask(p.epilogue) || reads_mask(p.epilogue)) {
    require_value(p.aux != nullptr,
                  fmt::format("EPILOGUE {} needs EPILOGUE_AUX_POINTER", p.epilogue));
    const Span mask = operands.add("EPILOGUE_AUX_POINTER", p.aux, mask_bytes(p), kMaskAlignment);
    (writes_mask(p.epilogue) ? outputs : inputs).push_back(mask);
  }
  for (std::size_t o = 0; o < outputs.size(); ++o) {
    for (const Span& input : inputs) require_apart(outputs[o], input);
    for (std::size_t other = o + 1; other < outputs.size(); ++other) {
      require_apart(outputs[o], outputs[other]);
    }
  }
  if (ptr.workspace_size > 0) {
    const Span workspace =
        operands.add("workspace", ptr.workspace, ptr.workspace_size, kWorkspaceAlignment);
    for (const Span& other : inputs) require_apart(workspace, other);
    for (const Span& other : outputs) require_apart(workspace, other);
  }
  return operands.ranges();
}

}  // namespace

}  // namespace kiln::emu::cublaslt

using namespace kiln::emu;
using namespace kiln::emu::cublaslt;

cublasStatus_t cublasLtMatmul(cublasLtHandle_t lightHandle, cublasLtMatmulDesc_t computeDesc,
                              const void* alpha, const void* A, cublasLtMatrixLayout_t Adesc,
                              const void* B, cublasLtMatrixLayout_t Bdesc, const void* beta,
                              const void* C, cublasLtMatrixLayout_t Cdesc, void* D,
                              cublasLtMatrixLayout_t Ddesc, const cublasLtMatmulAlgo_t* algo,
                              void* workspace, size_t workspaceSizeInBytes, cudaStream_t stream) {
  constexpr const char* kCall = "cublasLtMatmul";
  return cublas::run_cublas(kCall, [&] {
    live_handle(lightHandle);
    MatmulRun run;
    run.problem = describe_matmul(live_desc("computeDesc", computeDesc),
                                  live_layout("Adesc", Adesc), live_layout("Bdesc", Bdesc),
                                  live_layout("Cdesc", Cdesc), live_layout("Ddesc", Ddesc));
    const Problem& p = run.problem;
    run.alpha = cublas::host_scalar("alpha", alpha);
    run.beta = cublas::host_scalar("beta", beta);
    run.algorithm = algo == nullptr ? Algorithm::direct : decode(*algo);
    require_gradient_scalars(p, run.alpha, run.beta);
    const std::size_t needed = workspace_bytes(run.algorithm, p);
    require_value(workspaceSizeInBytes >= needed,
                  fmt::format("workspaceSizeInBytes {} is less than the {} bytes the algorithm "
                              "needs",
                              workspaceSizeInBytes, needed));
    if (p.m == 0 || p.n == 0) return;
    const std::vector<CheckedRange> ranges =
        check_memory(p, run.algorithm, run.beta, {A, B, C, D, workspace, workspaceSizeInBytes});
    require(stream_is_valid(stream), CUBLAS_STATUS_EXECUTION_FAILED,
            "stream does not exist (destroyed?)");
    run.a = static_cast<const float*>(A);
    run.b = static_cast<const float*>(B);
    run.c = static_cast<const float*>(C);
    run.d = static_cast<float*>(D);
    run.workspace = workspace;
    queue_or_fail(CUBLAS_STATUS_EXECUTION_FAILED, stream, kCall, [run, ranges, kCall] {
      if (!ranges_still_live(kCall, ranges)) return;
      run_matmul(run);
      check_redzones_after(kCall);
    });
  });
}
