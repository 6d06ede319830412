// Note [Choosing algorithms] in cuda/cudnn_conv_algorithms.cpp: cuDNN convolution algorithms are
// benchmarked once per geometry at the largest batch seen, adopted without a benchmark (so without
// waiting for the device) by every smaller batch of that geometry, and benchmarked in a workspace
// that never enters the caching pool. The waits are counted by kiln::sync_stats (a Find is one).
#include <cstdint>
#include <string>

#include "cuda_test_util.h"
#include "kiln/allocator.h"

namespace kiln::cuda_test {
namespace {

std::uint64_t gpu_waits() { return sync_stats(cuda0()).waits; }

// A 'same' 3x3 convolution of (n, h, w, c) into o channels, stride 1.
backend::Conv2dGeometry same_3x3(std::int64_t n, std::int64_t h, std::int64_t w, std::int64_t c,
                                 std::int64_t o) {
  backend::Conv2dGeometry g;
  g.n = n, g.h = h, g.w = w, g.c = c, g.kh = 3, g.kw = 3, g.o = o, g.oh = h, g.ow = w;
  g.pad_top = 1, g.pad_left = 1;
  return g;
}

struct ConvRun {
  std::uint64_t waits = 0;       // host waits the three directions caused
  Tensor y, dx, dw;              // on cuda:0
  Tensor y_ref, dx_ref, dw_ref;  // the CPU backend's
};

// Forward, backward-data and backward-filter of `g` on cuda:0 and on the CPU backend.
ConvRun run_conv(const backend::Conv2dGeometry& g, std::uint64_t seed) {
  const Tensor x = random({g.n, g.h, g.w, g.c}, seed);
  const Tensor w = random({g.kh, g.kw, g.c, g.o}, seed + 1);
  const Tensor dy = random({g.n, g.oh, g.ow, g.o}, seed + 2);
  const Tensor xd = on_gpu(x), wd = on_gpu(w), dyd = on_gpu(dy);
  ConvRun run;
  run.y = Tensor::empty(dy.shape(), DType::f32, cuda0());
  run.dx = Tensor::empty(x.shape(), DType::f32, cuda0());
  run.dw = Tensor::empty(w.shape(), DType::f32, cuda0());
  const std::uint64_t before = gpu_waits();
  gpu().conv2d_forward(g, xd, wd, run.y);
  gpu().conv2d_backward_data(g, dyd, wd, run.dx);
  gpu().conv2d_backward_filter(g, xd, dyd, run.dw);
  run.waits = gpu_waits() - before;
  run.y_ref = Tensor::empty(dy.shape(), DType::f32);
  run.dx_ref = Tensor::empty(x.shape(), DType::f32);
  run.dw_ref = Tensor::empty(w.shape(), DType::f32);
  cpu().conv2d_forward(g, x, w, run.y_ref);
  cpu().conv2d_backward_data(g, dy, w, run.dx_ref);
  cpu().conv2d_backward_filter(g, x, dy, run.dw_ref);
  return run;
}

void expect_close(const ConvRun& run, double tolerance, const std::string& what) {
  EXPECT_CLOSE(run.y, run.y_ref, tolerance) << what;
  EXPECT_CLOSE(run.dx, run.dx_ref, tolerance) << what;
  EXPECT_CLOSE(run.dw, run.dw_ref, tolerance) << what;
}

TEST(CudnnAlgorithms, SmallerBatchesOfABenchmarkedGeometryWaitForNothing) {
  KILN_SKIP_WITHOUT_GPU();
  Tf32Scope exact(false);
  const auto at = [](std::int64_t n) { return same_3x3(n, 11, 9, 3, 5); };  // a geometry of its own
  const ConvRun first = run_conv(at(8), 1);
  EXPECT_EQ(first.waits, 3u);  // one Find per direction
  expect_close(first, kStrict, "n = 8");
  for (const std::int64_t n : {3, 1, 8, 7}) {  // the last partial batch, evaluate, the same again
    const ConvRun adopted = run_conv(at(n), 10 + static_cast<std::uint64_t>(n));
    EXPECT_EQ(adopted.waits, 0u) << "n = " << n;
    expect_close(adopted, kStrict, "adopted at n = " + std::to_string(n));
  }
  const ConvRun larger = run_conv(at(12), 30);  // a larger batch is benchmarked anew
  EXPECT_EQ(larger.waits, 3u);
  expect_close(larger, kStrict, "n = 12");
  EXPECT_EQ(run_conv(at(9), 31).waits, 0u);
}

// Each TF32 setting has choices of its own (they accept different math types).
TEST(CudnnAlgorithms, EachTf32SettingIsBenchmarkedOnce) {
  KILN_SKIP_WITHOUT_GPU();
  const auto at = [](std::int64_t n) { return same_3x3(n, 7, 13, 2, 3); };
  {
    Tf32Scope exact(false);
    EXPECT_EQ(run_conv(at(6), 40).waits, 3u);
  }
  Tf32Scope tf32(true);
  const ConvRun run = run_conv(at(6), 41);
  EXPECT_EQ(run.waits, 3u);
  expect_close(run, kTf32, "TF32");
  EXPECT_EQ(run_conv(at(2), 42).waits, 0u);
}

// The Find workspace (as large as the hungriest algorithm asks) is cudaMalloc'ed and freed around
// the benchmark, never cached by the pool: taken from the pool, a 4.7 MB block would have made it
// reserve a 20 MiB segment and keep it (block_pool.cpp). The emulated algorithms' needs are known
// (Note [Emulated algorithms] in cuda/emulation: the hungriest forward one takes pixels * taps * 4
// bytes); on a GPU they are cuDNN's own, so this runs on the emulation only.
TEST(CudnnAlgorithms, TheFindWorkspaceNeverEntersThePool) {
  KILN_SKIP_WITHOUT_GPU();
  if (!cuda_emulated()) GTEST_SKIP() << "needs the emulated algorithms' workspace sizes";
  Tf32Scope tf32(true);
  const backend::Conv2dGeometry g = same_3x3(8, 32, 32, 16, 4);
  const std::size_t hungriest = static_cast<std::size_t>(g.n * g.oh * g.ow * g.kh * g.kw * g.c) * 4;
  const Tensor x = random({g.n, g.h, g.w, g.c}, 50).to(cuda0());
  const Tensor w = random({g.kh, g.kw, g.c, g.o}, 51).to(cuda0());
  Tensor y = Tensor::empty({g.n, g.oh, g.ow, g.o}, DType::f32, cuda0());
  allocator_for(cuda0()).empty_cache();
  const MemoryStats before = memory_stats(cuda0());
  const std::uint64_t waits = gpu_waits();
  gpu().conv2d_forward(g, x, w, y);
  ASSERT_EQ(gpu_waits(), waits + 1);  // it did benchmark
  const MemoryStats after = memory_stats(cuda0());
  EXPECT_LT(after.reserved - before.reserved, hungriest)
      << "the pool grew by " << after.reserved - before.reserved << " bytes";
  Tensor y_ref = Tensor::empty(y.shape(), DType::f32);
  cpu().conv2d_forward(g, x.to(Device::cpu()), w.to(Device::cpu()), y_ref);
  EXPECT_CLOSE(y, y_ref, kTf32);
}

}  // namespace
}  // namespace kiln::cuda_test
