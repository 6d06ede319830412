// Dense GEMMs with fused epilogues through cuBLASLt (see cublaslt_dense.h): the per-(device,
// thread) handle and workspace, the plans cached per problem, and the two Dense calls.
//
// Note [Dense through cuBLASLt]
// ~~~~~~~~~~~~~~~~~~~~~~~~~~~~~
// Row-major y (n, out) is, as memory, the column-major matrix y^T (out x n) with ld = out; so is
// every row-major matrix its transpose in column-major. Hence, with m, n, k cuBLASLt's:
//   forward   D = y^T (out x n) = A B, A = kernel^T (kernel's memory: out x in, ld out), B = x^T
//             (x's memory: in x n, ld in); m = out, n = batch, k = in. The bias has one value
//             per row of D (cuBLASLt's BIAS_POINTER: "length must match matrix D rows"), which is
//             kiln's one value per output feature: EPILOGUE_BIAS, _RELU_BIAS, _RELU, _DEFAULT.
//   kernel gradient  D = dkernel^T (out x in) = A op(B), A = dz^T (dz's memory: out x n,
//             ld out), op(B) = x (x's memory in x n, transposed); m = out, n = in, k = batch.
//             kiln's dbias (out) is the sum of dz over the batch: the sum of A's rows over k,
//             which is EPILOGUE_BGRADA ("bias size ... the number of rows of D; the reduction
//             happens over the GEMM's k dimension"), written where BIAS_POINTER points.
// The activation's own gradient (dz = dy where y > 0) stays an elementwise kernel: DRELU /
// DRELU_BGRAD apply the mask to a GEMM's result, and within one layer dy is no GEMM's result (it
// would be the next layer's data-gradient GEMM, a fusion across layers that kiln's tape does not
// express). The data gradient dx = dz kernel^T needs no epilogue and stays a cuBLAS GEMM.
//
// Note [cuBLASLt plans]
// ~~~~~~~~~~~~~~~~~~~~~
// A plan holds the matmul descriptor, the three layouts (C is D: beta is 0) and the algorithm
// that cublasLtMatmulAlgoGetHeuristic chose for them, under a preference that allows the
// handle's workspace and promises the operands' actual alignments (the largest power of two, up
// to 256, dividing each address: a view at an odd offset gets an algorithm for 4-byte alignment,
// as PyTorch does). Plans are cached per (device, thread) by the problem and those alignments (a
// model has a handful: one per layer shape and direction, and the partial last batch's);
// the bias pointer is set on the cached descriptor before each call (a host-side write). A
// problem for which the heuristic offers nothing is cached as unsupported and the caller
// composes instead. The workspace is taken once from the device's pool and kept for the handle's
// lifetime, so a captured CUDA graph always sees the same address and cuBLASLt never allocates.
#include "cublaslt_dense.h"

#include <cublasLt.h>

#include <algorithm>
#include <atomic>
#include <compare>
#include <cstddef>
#include <map>
#include <memory>
#include <utility>

#include "cublas_gemm.h"
#include "cuda_api.h"
#include "cuda_check.h"
#include "device_buffer.h"

namespace kiln::cuda {

namespace {

std::atomic<std::uint64_t> matmul_count{0};
std::atomic<std::uint64_t> workspace_matmul_count{0};
std::atomic<std::uint64_t> heuristic_count{0};

// A cuBLASLt object that destroys itself.
template <class Handle, cublasStatus_t (*Destroy)(Handle)>
class LtObject {
 public:
  LtObject() = default;
  ~LtObject() {
    if (handle_ != nullptr) Destroy(handle_);
  }
  LtObject(const LtObject&) = delete;
  LtObject& operator=(const LtObject&) = delete;

  Handle get() const { return handle_; }
  Handle* out() { return &handle_; }

 private:
  Handle handle_ = nullptr;
};

using LtHandleObject = LtObject<cublasLtHandle_t, cublasLtDestroy>;
using MatmulDesc = LtObject<cublasLtMatmulDesc_t, cublasLtMatmulDescDestroy>;
using MatrixLayout = LtObject<cublasLtMatrixLayout_t, cublasLtMatrixLayoutDestroy>;
using Preference = LtObject<cublasLtMatmulPreference_t, cublasLtMatmulPreferenceDestroy>;

template <class T>
void set_attribute(cublasLtMatmulDesc_t desc, cublasLtMatmulDescAttributes_t attribute,
                   const T& value) {
  CHECK_CUBLAS(cublasLtMatmulDescSetAttribute(desc, attribute, &value, sizeof(value)));
}

template <class T>
void set_attribute(cublasLtMatmulPreference_t preference,
                   cublasLtMatmulPreferenceAttributes_t attribute, const T& value) {
  CHECK_CUBLAS(cublasLtMatmulPreferenceSetAttribute(preference, attribute, &value, sizeof(value)));
}

// The largest power of two, at most 256, that divides the address.
std::uint32_t alignment_of(const void* pointer) {
  const auto address = reinterpret_cast<std::uintptr_t>(pointer);
  const std::uintptr_t lowest_bit = address & (~address + 1);
  return static_cast<std::uint32_t>(lowest_bit == 0 ? 256
                                                    : std::min<std::uintptr_t>(lowest_bit, 256));
}

// D (m x n, column-major, ld m) = epilogue(op(A) op(B)), alpha 1, beta 0.
struct Problem {
  bool transpose_a = false, transpose_b = false;
  std::int64_t m = 0, n = 0, k = 0, lda = 0, ldb = 0;
  cublasLtEpilogue_t epilogue = CUBLASLT_EPILOGUE_DEFAULT;
  bool tf32 = false;
  auto operator<=>(const Problem&) const = default;
};

struct Operands {
  const float* a = nullptr;
  const float* b = nullptr;
  float* d = nullptr;
  const float* bias = nullptr;  // the bias, or the bias gradient the epilogue writes
};

// A problem and the alignments of its operands: what the heuristic's answer depends on.
struct PlanKey {
  Problem problem;
  std::uint32_t a = 0, b = 0, d = 0, bias = 0;
  auto operator<=>(const PlanKey&) const = default;
};

PlanKey key_of(const Problem& p, const Operands& o) {
  return {p, alignment_of(o.a), alignment_of(o.b), alignment_of(o.d), alignment_of(o.bias)};
}

// Note [cuBLASLt plans]
struct Plan {
  MatmulDesc desc;
  MatrixLayout a, b, d;
  bool supported = false;
  cublasLtMatmulAlgo_t algorithm{};
  std::size_t workspace_bytes = 0;
};

void create_layout(MatrixLayout& layout, std::int64_t rows, std::int64_t cols, std::int64_t ld) {
  CHECK_CUBLAS(cublasLtMatrixLayoutCreate(layout.out(), CUDA_R_32F,
                                          static_cast<std::uint64_t>(rows),
                                          static_cast<std::uint64_t>(cols), ld));
}

class LtHandle {
 public:
  LtHandle(int device, Allocator& allocator)
      : workspace_(allocator, cublas_workspace_bytes(device)) {
    CHECK_CUBLAS(cublasLtCreate(handle_.out()));
  }

  // Queues the matmul on `stream`; false (nothing queued) when no algorithm fits.
  bool matmul(const Problem& p, const Operands& o, cudaStream_t stream) {
    const Plan& plan = plan_for(p, o);
    if (!plan.supported) return false;
    set_attribute(plan.desc.get(), CUBLASLT_MATMUL_DESC_BIAS_POINTER,
                  static_cast<const void*>(o.bias));
    const float alpha = 1.0f, beta = 0.0f;
    CHECK_CUBLAS(cublasLtMatmul(handle_.get(), plan.desc.get(), &alpha, o.a, plan.a.get(), o.b,
                                plan.b.get(), &beta, o.d, plan.d.get(), o.d, plan.d.get(),
                                &plan.algorithm, workspace_.get(), workspace_.bytes(), stream));
    matmul_count.fetch_add(1, std::memory_order_relaxed);
    if (plan.workspace_bytes > 0) workspace_matmul_count.fetch_add(1, std::memory_order_relaxed);
    return true;
  }

 private:
  const Plan& plan_for(const Problem& p, const Operands& o) {
    std::unique_ptr<Plan>& slot = plans_[key_of(p, o)];
    if (slot == nullptr) slot = make_plan(p, o);
    return *slot;
  }

  std::unique_ptr<Plan> make_plan(const Problem& p, const Operands& o) {
    auto plan = std::make_unique<Plan>();
    CHECK_CUBLAS(cublasLtMatmulDescCreate(
        plan->desc.out(), p.tf32 ? CUBLAS_COMPUTE_32F_FAST_TF32 : CUBLAS_COMPUTE_32F, CUDA_R_32F));
    const cublasLtMatmulDesc_t desc = plan->desc.get();
    set_attribute<std::int32_t>(desc, CUBLASLT_MATMUL_DESC_TRANSA,
                                p.transpose_a ? CUBLAS_OP_T : CUBLAS_OP_N);
    set_attribute<std::int32_t>(desc, CUBLASLT_MATMUL_DESC_TRANSB,
                                p.transpose_b ? CUBLAS_OP_T : CUBLAS_OP_N);
    set_attribute<std::uint32_t>(desc, CUBLASLT_MATMUL_DESC_EPILOGUE, p.epilogue);
    // The heuristic looks at the bias pointer's alignment, which the key holds.
    set_attribute(desc, CUBLASLT_MATMUL_DESC_BIAS_POINTER, static_cast<const void*>(o.bias));
    create_layout(plan->a, p.transpose_a ? p.k : p.m, p.transpose_a ? p.m : p.k, p.lda);
    create_layout(plan->b, p.transpose_b ? p.n : p.k, p.transpose_b ? p.k : p.n, p.ldb);
    create_layout(plan->d, p.m, p.n, p.m);

    Preference preference;
    CHECK_CUBLAS(cublasLtMatmulPreferenceCreate(preference.out()));
    set_attribute<std::uint64_t>(preference.get(), CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES,
                                 workspace_.bytes());
    set_attribute(preference.get(), CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES, alignment_of(o.a));
    set_attribute(preference.get(), CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES, alignment_of(o.b));
    set_attribute(preference.get(), CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES, alignment_of(o.d));
    set_attribute(preference.get(), CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES, alignment_of(o.d));

    cublasLtMatmulHeuristicResult_t result{};
    int found = 0;
    heuristic_count.fetch_add(1, std::memory_order_relaxed);
    const cublasStatus_t status = cublasLtMatmulAlgoGetHeuristic(
        handle_.get(), desc, plan->a.get(), plan->b.get(), plan->d.get(), plan->d.get(),
        preference.get(), 1, &result, &found);
    if (status == CUBLAS_STATUS_NOT_SUPPORTED || (status == CUBLAS_STATUS_SUCCESS && found == 0)) {
      return plan;  // unsupported: the caller composes
    }
    if (status != CUBLAS_STATUS_SUCCESS) {
      throw_cublas_error(status, "cublasLtMatmulAlgoGetHeuristic", __FILE__, __LINE__);
    }
    plan->supported = true;
    plan->algorithm = result.algo;
    plan->workspace_bytes = result.workspaceSize;
    return plan;
  }

  DeviceBuffer workspace_;
  LtHandleObject handle_;
  std::map<PlanKey, std::unique_ptr<Plan>> plans_;
};

// The calling thread's handle for `target.device`.
LtHandle& lt_handle(const LtTarget& target) {
  thread_local std::map<int, std::unique_ptr<LtHandle>> handles;
  auto& slot = handles[target.device];
  if (slot == nullptr) slot = std::make_unique<LtHandle>(target.device, *target.allocator);
  return *slot;
}

bool any_empty(std::int64_t n, std::int64_t in, std::int64_t out) {
  return n == 0 || in == 0 || out == 0;
}

}  // namespace

bool dense_forward_lt(const LtTarget& target, std::int64_t n, std::int64_t in, std::int64_t out,
                      const float* x, const float* kernel, const float* bias, bool relu, float* y) {
  if (any_empty(n, in, out)) return false;
  Problem p;
  p.m = out, p.n = n, p.k = in, p.lda = out, p.ldb = in;
  p.tf32 = target.tf32;
  if (bias != nullptr) {
    p.epilogue = relu ? CUBLASLT_EPILOGUE_RELU_BIAS : CUBLASLT_EPILOGUE_BIAS;
  } else {
    p.epilogue = relu ? CUBLASLT_EPILOGUE_RELU : CUBLASLT_EPILOGUE_DEFAULT;
  }
  return lt_handle(target).matmul(p, {kernel, x, y, bias}, target.stream);
}

bool dense_kernel_gradient_lt(const LtTarget& target, std::int64_t n, std::int64_t in,
                              std::int64_t out, const float* x, const float* dz, float* dkernel,
                              float* dbias) {
  if (any_empty(n, in, out)) return false;
  Problem p;
  p.transpose_b = true;
  p.m = out, p.n = in, p.k = n, p.lda = out, p.ldb = in;
  p.tf32 = target.tf32;
  p.epilogue = dbias != nullptr ? CUBLASLT_EPILOGUE_BGRADA : CUBLASLT_EPILOGUE_DEFAULT;
  return lt_handle(target).matmul(p, {dz, x, dkernel, dbias}, target.stream);
}

CublasLtStats cublaslt_stats() {
  return {matmul_count.load(std::memory_order_relaxed),
          workspace_matmul_count.load(std::memory_order_relaxed),
          heuristic_count.load(std::memory_order_relaxed)};
}

}  // namespace kiln::cuda
