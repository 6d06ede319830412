// Conv2D layers on cuda:0 take cuDNN's graph API path (Note [Fused convolution plans] in
// cuda/cudnn_graph_conv.cpp) for ReLU and no activation, with and without a bias, and the
// composed legacy path for other activations or when switched off (KILN_CUDNN_GRAPH=0): seen
// through cuda::cudnn_graph_stats(), with both paths against the CPU and each other, plans cached
// per problem, the TF32 setting honoured, and the fused call recorded into a CUDA graph and
// replayed. The op table (op_table_nn.cpp) has the geometries.
#include <cstdlib>
#include <optional>
#include <string>

#include "cuda_test_util.h"

namespace kiln::cuda_test {
namespace {

using backend::Pointwise;

// Keras 'same' with a 2x2 kernel and stride 2 on 7x6: padding only at the bottom / right.
backend::Conv2dGeometry asymmetric_same(std::int64_t n) {
  backend::Conv2dGeometry g;
  g.n = n, g.h = 7, g.w = 6, g.c = 3, g.kh = 2, g.kw = 2, g.o = 5;
  g.stride_h = 2, g.stride_w = 2, g.oh = 4, g.ow = 3, g.pad_top = 0, g.pad_left = 0;
  return g;
}

struct Inputs {
  Tensor x, w, bias;
};

Inputs inputs_on(Device d, const backend::Conv2dGeometry& g) {
  return {random({g.n, g.h, g.w, g.c}, 140).to(d), random({g.kh, g.kw, g.c, g.o}, 141).to(d),
          random({g.o}, 142).to(d)};
}

Tensor forward(backend::Backend& be, const backend::Conv2dGeometry& g, const Inputs& in,
               std::optional<Pointwise> f, bool with_bias = true) {
  Tensor y = Tensor::empty({g.n, g.oh, g.ow, g.o}, DType::f32, in.x.device());
  be.conv2d_forward_fused(g, in.x, in.w, with_bias ? in.bias : Tensor(), f, y);
  return y;
}

TEST(CudaConvFused, ReluAndNoneRunInOneGraphApiCall) {
  KILN_SKIP_WITHOUT_GPU();
  const Tf32Scope strict(false);
  const CudnnGraphScope on(true);
  const backend::Conv2dGeometry g = asymmetric_same(3);
  const Inputs on_cuda = inputs_on(cuda0(), g);
  const Inputs on_cpu = inputs_on(Device::cpu(), g);
  for (const std::optional<Pointwise> f :
       {std::optional<Pointwise>(Pointwise::relu), std::optional<Pointwise>()}) {
    for (bool with_bias : {true, false}) {
      const cuda::CudnnGraphStats before = cuda::cudnn_graph_stats();
      const Tensor y = forward(gpu(), g, on_cuda, f, with_bias);
      EXPECT_EQ(cuda::cudnn_graph_stats().executions, before.executions + 1);
      EXPECT_CLOSE(y, forward(cpu(), g, on_cpu, f, with_bias), kStrict);
    }
  }
  const cuda::CudnnGraphStats before = cuda::cudnn_graph_stats();
  const Tensor y = forward(gpu(), g, on_cuda, Pointwise::tanh);
  EXPECT_EQ(cuda::cudnn_graph_stats().executions, before.executions) << "tanh is composed";
  EXPECT_CLOSE(y, forward(cpu(), g, on_cpu, Pointwise::tanh), kStrict);
}

TEST(CudaConvFused, TheLegacyPathAgreesWithTheGraphPath) {
  KILN_SKIP_WITHOUT_GPU();
  const Tf32Scope strict(false);
  const backend::Conv2dGeometry g = asymmetric_same(2);
  const Inputs in = inputs_on(cuda0(), g);
  Tensor fused;
  {
    const CudnnGraphScope on(true);
    fused = forward(gpu(), g, in, Pointwise::relu);
  }
  const CudnnGraphScope off(false);
  const cuda::CudnnGraphStats before = cuda::cudnn_graph_stats();
  const Tensor legacy = forward(gpu(), g, in, Pointwise::relu);
  EXPECT_EQ(cuda::cudnn_graph_stats().executions, before.executions) << "switched off";
  EXPECT_CLOSE(legacy, fused, kStrict);
}

TEST(CudaConvFused, PlansAreBuiltOncePerProblem) {
  KILN_SKIP_WITHOUT_GPU();
  const Tf32Scope strict(false);
  const CudnnGraphScope on(true);
  const backend::Conv2dGeometry g = asymmetric_same(4);
  const Inputs in = inputs_on(cuda0(), g);
  forward(gpu(), g, in, Pointwise::relu);
  const cuda::CudnnGraphStats warm = cuda::cudnn_graph_stats();
  forward(gpu(), g, inputs_on(cuda0(), g), Pointwise::relu);
  EXPECT_EQ(cuda::cudnn_graph_stats().plans_built, warm.plans_built) << "cached";
  EXPECT_EQ(cuda::cudnn_graph_stats().executions, warm.executions + 1);
  // A partial batch is another problem: a plan of its own, built without a Find.
  const backend::Conv2dGeometry partial = asymmetric_same(1);
  const Inputs few = inputs_on(cuda0(), partial);
  const SyncStats syncs = sync_stats(cuda0());
  const Tensor y = forward(gpu(), partial, few, Pointwise::relu);
  EXPECT_EQ(sync_stats(cuda0()).waits, syncs.waits) << "heuristics mode A do not synchronise";
  EXPECT_EQ(cuda::cudnn_graph_stats().plans_built, warm.plans_built + 1);
  EXPECT_CLOSE(y, forward(cpu(), partial, inputs_on(Device::cpu(), partial), Pointwise::relu),
               kStrict);
}

// Note [Graph API and TF32] in cuda/cudnn_graph_conv.cpp. The emulation's engine 0 rounds to
// TF32 and carries the tensor-core note (Note [Emulated engines]): it runs only when allowed.
TEST(CudaConvFused, TheTf32SettingIsHonoured) {
  KILN_SKIP_WITHOUT_GPU();
  const CudnnGraphScope on(true);
  const backend::Conv2dGeometry g = asymmetric_same(2);
  const Inputs on_cuda = inputs_on(cuda0(), g);
  const Tensor reference = forward(cpu(), g, inputs_on(Device::cpu(), g), Pointwise::relu);
  Tensor strict;
  {
    const Tf32Scope off(false);
    strict = forward(gpu(), g, on_cuda, Pointwise::relu);
    EXPECT_CLOSE(strict, reference, kStrict);
  }
  const Tf32Scope allowed(true);
  const Tensor tf32 = forward(gpu(), g, on_cuda, Pointwise::relu);
  EXPECT_CLOSE(tf32, reference, kTf32);
  if (cuda_emulated()) {
    EXPECT_FALSE(close(tf32, strict, 1e-6)) << "the tensor-core engine ran with TF32 on";
  }
}

// Note [Fused convolution plans]: a problem cuDNN offers no plan for is said once, remembered,
// and left to the legacy path. The emulation's heuristics offer no engine while
// KILN_CUDA_EMULATION_GRAPH_ENGINES=0 (Note [Emulated engines]).
TEST(CudaConvFused, AProblemWithoutAPlanFallsBackOnceAndForAll) {
  KILN_SKIP_WITHOUT_GPU();
  if (!cuda_emulated()) GTEST_SKIP() << "which graphs a GPU's engines support is its own";
  const Tf32Scope strict(false);
  const CudnnGraphScope on(true);
  const backend::Conv2dGeometry g = asymmetric_same(5);  // a problem no other test builds
  const Inputs in = inputs_on(cuda0(), g);
  const Tensor reference = forward(cpu(), g, inputs_on(Device::cpu(), g), Pointwise::relu);
  const cuda::CudnnGraphStats before = cuda::cudnn_graph_stats();
  ASSERT_EQ(setenv("KILN_CUDA_EMULATION_GRAPH_ENGINES", "0", 1), 0);
  ::testing::internal::CaptureStderr();
  const Tensor first = forward(gpu(), g, in, Pointwise::relu);
  const Tensor second = forward(gpu(), g, in, Pointwise::relu);
  const std::string said = ::testing::internal::GetCapturedStderr();
  ASSERT_EQ(unsetenv("KILN_CUDA_EMULATION_GRAPH_ENGINES"), 0);
  EXPECT_CLOSE(first, reference, kStrict);
  EXPECT_CLOSE(second, reference, kStrict);
  const std::string message = "offers no fused conv2d plan";
  const std::size_t at = said.find(message);
  EXPECT_NE(at, std::string::npos) << said;
  EXPECT_EQ(said.find(message, at + 1), std::string::npos) << "said once: " << said;
  EXPECT_EQ(cuda::cudnn_graph_stats().plans_refused, before.plans_refused + 1);
  // Remembered: with engines offered again the problem stays on the legacy path.
  EXPECT_CLOSE(forward(gpu(), g, in, Pointwise::relu), reference, kStrict);
  EXPECT_EQ(cuda::cudnn_graph_stats().executions, before.executions);
}

TEST(CudaConvFused, TheFusedCallIsCapturedAndReplayed) {
  KILN_SKIP_WITHOUT_GPU();
  const Tf32Scope strict(false);
  const CudnnGraphScope on(true);
  const backend::Conv2dGeometry g = asymmetric_same(2);
  const Inputs in = inputs_on(cuda0(), g);
  const Tensor eager = forward(gpu(), g, in, Pointwise::relu);  // warm-up: the plan
  Tensor y = Tensor::empty(eager.shape(), DType::f32, cuda0());
  const cuda::CudnnGraphStats before = cuda::cudnn_graph_stats();
  const backend::Backend::Capture captured = gpu().capture(
      [&] { gpu().conv2d_forward_fused(g, in.x, in.w, in.bias, Pointwise::relu, y); });
  ASSERT_NE(captured.graph, nullptr) << captured.failure;
  EXPECT_EQ(cuda::cudnn_graph_stats().executions, before.executions + 1) << "recorded";
  EXPECT_EQ(cuda::cudnn_graph_stats().plans_built, before.plans_built);
  for (int replay = 0; replay < 2; ++replay) {
    captured.graph->replay();
    EXPECT_CLOSE(y, eager, 0.0);
  }
}

}  // namespace
}  // namespace kiln::cuda_test
