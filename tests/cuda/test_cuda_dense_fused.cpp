// Dense layers on cuda:0 take cuBLASLt's fused path (Note [Dense through cuBLASLt] in
// cuda/cublaslt_dense.cpp) where it applies and the composed one elsewhere: seen through
// cuda::cublaslt_stats(), with the results against the CPU (the op table, op_table_nn.cpp, has
// the shapes), the emulation's two algorithms, plans cached per shape, and the fused calls
// recorded into a CUDA graph and replayed.
#include <optional>

#include "cuda_test_util.h"
#include "op_table.h"

namespace kiln::cuda_test {
namespace {

using backend::Pointwise;

struct Layer {
  Tensor x, kernel, bias, dy;
};

Layer layer_on(Device d, std::int64_t n, std::int64_t in, std::int64_t out) {
  return {random({n, in}, 120).to(d), random({in, out}, 121).to(d), random({out}, 122).to(d),
          random({n, out}, 123).to(d)};
}

struct Results {
  Tensor y, dx, dkernel, dbias;
};

Results allocate_results(const Layer& l) {
  const Device d = l.x.device();
  return {Tensor::empty({l.x.dim(0), l.kernel.dim(1)}, DType::f32, d),
          Tensor::empty(l.x.shape(), DType::f32, d), Tensor::empty(l.kernel.shape(), DType::f32, d),
          Tensor::empty(l.bias.shape(), DType::f32, d)};
}

void run_layer(backend::Backend& be, const Layer& l, std::optional<Pointwise> f, Results& r) {
  be.dense_forward_fused(l.x, l.kernel, l.bias, f, r.y);
  be.dense_backward_fused(l.x, l.kernel, r.y, l.dy, f, r.dx, r.dkernel, r.dbias);
}

Results run_layer(backend::Backend& be, const Layer& l, std::optional<Pointwise> f) {
  Results r = allocate_results(l);
  run_layer(be, l, f, r);
  return r;
}

void expect_close_to(const Results& actual, const Results& expected, double tolerance) {
  EXPECT_CLOSE(actual.y, expected.y, tolerance) << "y";
  EXPECT_CLOSE(actual.dx, expected.dx, tolerance) << "dx";
  EXPECT_CLOSE(actual.dkernel, expected.dkernel, tolerance) << "dkernel";
  EXPECT_CLOSE(actual.dbias, expected.dbias, tolerance) << "dbias";
}

TEST(CudaDenseFused, ReluAndBiasRunInCublasLtEpilogues) {
  KILN_SKIP_WITHOUT_GPU();
  const Tf32Scope strict(false);
  const Layer on_cuda = layer_on(cuda0(), 8, 12, 6);
  Results r = allocate_results(on_cuda);
  const cuda::CublasLtStats before = cuda::cublaslt_stats();
  gpu().dense_forward_fused(on_cuda.x, on_cuda.kernel, on_cuda.bias, Pointwise::relu, r.y);
  EXPECT_EQ(cuda::cublaslt_stats().matmuls, before.matmuls + 1) << "y = relu(x kernel + bias)";
  gpu().dense_backward_fused(on_cuda.x, on_cuda.kernel, r.y, on_cuda.dy, Pointwise::relu, r.dx,
                             r.dkernel, r.dbias);
  EXPECT_EQ(cuda::cublaslt_stats().matmuls, before.matmuls + 2)
      << "dkernel and dbias in one call (dx is a plain cuBLAS GEMM)";
  expect_close_to(r, run_layer(cpu(), layer_on(Device::cpu(), 8, 12, 6), Pointwise::relu), kStrict);

  // Without an activation: the bias epilogue forward, the bias gradient epilogue backward.
  const cuda::CublasLtStats linear_before = cuda::cublaslt_stats();
  const Results linear = run_layer(gpu(), on_cuda, std::nullopt);
  EXPECT_EQ(cuda::cublaslt_stats().matmuls, linear_before.matmuls + 2);
  expect_close_to(linear, run_layer(cpu(), layer_on(Device::cpu(), 8, 12, 6), std::nullopt),
                  kStrict);
}

TEST(CudaDenseFused, OtherActivationsTakeTheComposedPath) {
  KILN_SKIP_WITHOUT_GPU();
  const Tf32Scope strict(false);
  for (const Pointwise f : {Pointwise::sigmoid, Pointwise::tanh}) {
    const cuda::CublasLtStats before = cuda::cublaslt_stats();
    const Results r = run_layer(gpu(), layer_on(cuda0(), 5, 7, 3), f);
    EXPECT_EQ(cuda::cublaslt_stats().matmuls, before.matmuls);
    expect_close_to(r, run_layer(cpu(), layer_on(Device::cpu(), 5, 7, 3), f), kStrict);
  }
}

TEST(CudaDenseFused, PlansAreCachedPerShapeAndAlignment) {
  KILN_SKIP_WITHOUT_GPU();
  const Tf32Scope strict(false);
  const Layer l = layer_on(cuda0(), 6, 10, 4);
  Results r = allocate_results(l);
  run_layer(gpu(), l, Pointwise::relu, r);
  const cuda::CublasLtStats warm = cuda::cublaslt_stats();
  run_layer(gpu(), layer_on(cuda0(), 6, 10, 4), Pointwise::relu, r);
  EXPECT_EQ(cuda::cublaslt_stats().heuristic_queries, warm.heuristic_queries);
  EXPECT_EQ(cuda::cublaslt_stats().matmuls, warm.matmuls + 2);
  const Tf32Scope tf32(true);  // another compute type: new plans
  run_layer(gpu(), l, Pointwise::relu, r);
  EXPECT_EQ(cuda::cublaslt_stats().heuristic_queries, warm.heuristic_queries + 2);
}

// Note [Emulated algorithms] in cuda/emulation/cublaslt_problem.cpp: the one with a workspace
// needs 16-byte-aligned operands, so an input at an odd float offset gets the other.
TEST(CudaDenseFused, TheEmulationsTwoAlgorithmsBothRun) {
  KILN_SKIP_WITHOUT_GPU();
  if (!cuda_emulated()) GTEST_SKIP() << "which algorithms a GPU offers is its own choice";
  const Tf32Scope strict(false);
  const Layer aligned = layer_on(cuda0(), 3, 5, 4);
  Layer misaligned = aligned;
  misaligned.x = offset_copy(random({3, 5}, 120), cuda0(), 1);
  const Results reference = run_layer(cpu(), layer_on(Device::cpu(), 3, 5, 4), Pointwise::relu);

  cuda::CublasLtStats before = cuda::cublaslt_stats();
  expect_close_to(run_layer(gpu(), aligned, Pointwise::relu), reference, kStrict);
  EXPECT_EQ(cuda::cublaslt_stats().matmuls, before.matmuls + 2);
  EXPECT_EQ(cuda::cublaslt_stats().matmuls_with_workspace, before.matmuls_with_workspace + 2);

  before = cuda::cublaslt_stats();
  expect_close_to(run_layer(gpu(), misaligned, Pointwise::relu), reference, kStrict);
  EXPECT_EQ(cuda::cublaslt_stats().matmuls, before.matmuls + 2);
  EXPECT_EQ(cuda::cublaslt_stats().matmuls_with_workspace, before.matmuls_with_workspace);
}

TEST(CudaDenseFused, TheFusedCallsAreCapturedAndReplayed) {
  KILN_SKIP_WITHOUT_GPU();
  const Tf32Scope strict(false);
  const Layer l = layer_on(cuda0(), 16, 9, 7);
  const Results eager = run_layer(gpu(), l, Pointwise::relu);  // warm-up: handle, plans
  Results r = allocate_results(l);
  const cuda::CublasLtStats before = cuda::cublaslt_stats();
  const backend::Backend::Capture captured =
      gpu().capture([&] { run_layer(gpu(), l, Pointwise::relu, r); });
  ASSERT_NE(captured.graph, nullptr) << captured.failure;
  EXPECT_EQ(cuda::cublaslt_stats().matmuls, before.matmuls + 2) << "recorded, not skipped";
  EXPECT_EQ(cuda::cublaslt_stats().heuristic_queries, before.heuristic_queries);
  for (int replay = 0; replay < 2; ++replay) {
    captured.graph->replay();
    expect_close_to(r, eager, 0.0);
  }
}

}  // namespace
}  // namespace kiln::cuda_test
