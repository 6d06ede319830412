// Micro benchmarks of the CPU backend's kernels at the seed model's shapes (MNIST CNN:
// conv 28x28x1 -> 26x26x64, pool -> 13x13x64, conv -> 11x11x128, pool -> 5x5x128,
// dense 3200 -> 128 -> 64 -> 10, Adam over its 493,130 parameters), float32.
// The batch is the benchmark argument; counters give GFLOP/s (multiply-add = 2 flops) and
// images/s, so per-image cost at batch 1024 can be read from a smaller batch.
#include <benchmark/benchmark.h>

#include <cmath>
#include <cstdint>
#include <vector>

#include "backend/backend.h"
#include "backend/cpu/cpu_backend.h"
#include "kiln/tensor.h"

namespace {

using kiln::Shape;
using kiln::Tensor;
using kiln::backend::Conv2dGeometry;
using kiln::backend::Pool2dGeometry;
using kiln::backend::PoolMode;

kiln::backend::Backend& cpu() { return kiln::backend::cpu_backend(); }

Tensor random_tensor(const Shape& shape, std::uint64_t seed) {
  return Tensor::uniform(shape, -1.0, 1.0, seed);
}

// A benchmark whose kernel produced a NaN/Inf (or nothing) measured nothing: report it as an error.
void require_finite(benchmark::State& state, const Tensor& result) {
  for (float v : result.to_vector<float>()) {
    if (!std::isfinite(v)) {
      state.SkipWithError("the kernel produced a non-finite value");
      return;
    }
  }
}

void set_images(benchmark::State& state, std::int64_t images) {
  state.counters["images/s"] = benchmark::Counter(static_cast<double>(images),
                                                  benchmark::Counter::kIsIterationInvariantRate);
}

void set_counters(benchmark::State& state, double flops, std::int64_t images) {
  state.counters["GFLOP/s"] =
      benchmark::Counter(flops * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
  set_images(state, images);
}

// The seed model's two convolutions ('valid', stride 1, 3x3).
Conv2dGeometry conv_layer(int layer, std::int64_t batch) {
  Conv2dGeometry g;
  g.n = batch;
  g.kh = g.kw = 3;
  if (layer == 1) {
    g.h = g.w = 28, g.c = 1, g.o = 64;
  } else {
    g.h = g.w = 13, g.c = 64, g.o = 128;
  }
  g.oh = g.h - 2, g.ow = g.w - 2;
  return g;
}

double conv_flops(const Conv2dGeometry& g) {
  return 2.0 * static_cast<double>(g.n * g.oh * g.ow * g.o * g.kh * g.kw * g.c);
}

enum class ConvPass { forward, backward_data, backward_filter };

void bench_conv(benchmark::State& state, int layer, ConvPass pass) {
  const Conv2dGeometry g = conv_layer(layer, state.range(0));
  const Tensor x = random_tensor({g.n, g.h, g.w, g.c}, 1);
  const Tensor w = random_tensor({g.kh, g.kw, g.c, g.o}, 2);
  const Tensor dy = random_tensor({g.n, g.oh, g.ow, g.o}, 3);
  Tensor y = Tensor::empty({g.n, g.oh, g.ow, g.o});
  Tensor dx = Tensor::empty({g.n, g.h, g.w, g.c});
  Tensor dw = Tensor::empty({g.kh, g.kw, g.c, g.o});
  for (auto _ : state) {
    switch (pass) {
      case ConvPass::forward:
        cpu().conv2d_forward(g, x, w, y);
        break;
      case ConvPass::backward_data:
        cpu().conv2d_backward_data(g, dy, w, dx);
        break;
      case ConvPass::backward_filter:
        cpu().conv2d_backward_filter(g, x, dy, dw);
        break;
    }
  }
  require_finite(state, pass == ConvPass::forward ? y : pass == ConvPass::backward_data ? dx : dw);
  set_counters(state, conv_flops(g), g.n);
}

// The seed model's 2x2 / stride 2 max pools ('valid').
Pool2dGeometry pool_layer(int layer, std::int64_t batch) {
  Pool2dGeometry g;
  g.n = batch;
  g.ph = g.pw = 2, g.stride_h = g.stride_w = 2;
  if (layer == 1) {
    g.h = g.w = 26, g.c = 64;
  } else {
    g.h = g.w = 11, g.c = 128;
  }
  g.oh = g.h / 2, g.ow = g.w / 2;
  return g;
}

void bench_pool(benchmark::State& state, int layer, PoolMode mode, bool backward) {
  const Pool2dGeometry g = pool_layer(layer, state.range(0));
  const Tensor x = random_tensor({g.n, g.h, g.w, g.c}, 4);
  const Tensor dy = random_tensor({g.n, g.oh, g.ow, g.c}, 5);
  Tensor y = Tensor::empty({g.n, g.oh, g.ow, g.c});
  Tensor dx = Tensor::empty({g.n, g.h, g.w, g.c});
  cpu().pool2d_forward(mode, g, x, y);
  for (auto _ : state) {
    if (backward) {
      cpu().pool2d_backward(mode, g, x, y, dy, dx);
    } else {
      cpu().pool2d_forward(mode, g, x, y);
    }
  }
  require_finite(state, backward ? dx : y);
  state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(x.nbytes() + y.nbytes()));
  set_counters(state, static_cast<double>(g.n * g.oh * g.ow * g.c * g.ph * g.pw), g.n);
}

enum class DensePass { forward, backward_data, backward_filter };

// y (n, out) = x (n, in) · w (in, out); dx = dy · w^T; dw = x^T · dy.
void bench_dense(benchmark::State& state, std::int64_t in, std::int64_t out, DensePass pass) {
  const std::int64_t n = state.range(0);
  const Tensor x = random_tensor({n, in}, 6);
  const Tensor w = random_tensor({in, out}, 7);
  const Tensor dy = random_tensor({n, out}, 8);
  Tensor y = Tensor::empty({n, out});
  Tensor dx = Tensor::empty({n, in});
  Tensor dw = Tensor::empty({in, out});
  for (auto _ : state) {
    switch (pass) {
      case DensePass::forward:
        cpu().gemm(false, false, 1.0, x, w, 0.0, y);
        break;
      case DensePass::backward_data:
        cpu().gemm(false, true, 1.0, dy, w, 0.0, dx);
        break;
      case DensePass::backward_filter:
        cpu().gemm(true, false, 1.0, x, dy, 0.0, dw);
        break;
    }
  }
  require_finite(state, pass == DensePass::forward ? y : pass == DensePass::backward_data ? dx : dw);
  set_counters(state, 2.0 * static_cast<double>(n * in * out), n);
}

void bench_softmax_cross_entropy(benchmark::State& state) {
  const std::int64_t n = state.range(0), classes = 10;
  const Tensor logits = random_tensor({n, classes}, 9);
  std::vector<std::int32_t> label_values(static_cast<std::size_t>(n));
  for (std::int64_t i = 0; i < n; ++i)
    label_values[static_cast<std::size_t>(i)] = static_cast<std::int32_t>(i % classes);
  const Tensor labels = Tensor::from_vector(label_values, {n});
  const Tensor dloss = Tensor::full({n}, 1.0 / static_cast<double>(n));
  Tensor probs = Tensor::empty({n, classes});
  Tensor loss = Tensor::empty({n});
  Tensor dlogits = Tensor::empty({n, classes});
  for (auto _ : state) {
    cpu().softmax_cross_entropy_forward(logits, labels, probs, loss);
    cpu().softmax_cross_entropy_backward(probs, labels, dloss, dlogits);
  }
  require_finite(state, loss);
  require_finite(state, dlogits);
  set_images(state, n);
}

// The seed model's parameter tensors: 493,130 values in all.
void bench_adam(benchmark::State& state) {
  const std::vector<Shape> shapes = {{3, 3, 1, 64}, {64},  {3, 3, 64, 128}, {128},
                                     {3200, 128},   {128}, {128, 64},       {64},
                                     {64, 10},      {10}};
  std::vector<Tensor> params, grads, m, v;
  std::int64_t total = 0;
  for (std::size_t i = 0; i < shapes.size(); ++i) {
    params.push_back(random_tensor(shapes[i], 10 + i));
    grads.push_back(random_tensor(shapes[i], 30 + i));
    m.push_back(Tensor::zeros(shapes[i]));
    v.push_back(Tensor::zeros(shapes[i]));
    total += params.back().numel();
  }
  kiln::backend::AdamStep step;
  for (auto _ : state) {
    cpu().adam_update(params, grads, m, v, step);
    step.step += 1;
  }
  for (const Tensor& p : params) require_finite(state, p);
  state.counters["params"] = static_cast<double>(total);
  state.counters["Gparam/s"] = benchmark::Counter(static_cast<double>(total) * 1e-9,
                                                  benchmark::Counter::kIsIterationInvariantRate);
}

// Registers a benchmark (over one batch size unless batch is 0), timed by the wall clock: the
// kernels run on several threads, so the main thread's CPU time would flatter them.
template <class... Args>
void add(const char* name, std::int64_t batch, benchmark::TimeUnit unit,
         void (*run)(benchmark::State&, Args...), Args... args) {
  benchmark::internal::Benchmark* entry = benchmark::RegisterBenchmark(name, run, args...);
  if (batch > 0) entry->Arg(batch);
  entry->UseRealTime()->Unit(unit);
}

void register_all() {
  constexpr std::int64_t batch = 128;
  constexpr auto ms = benchmark::kMillisecond;
  constexpr auto us = benchmark::kMicrosecond;
  add("conv1_forward", batch, ms, bench_conv, 1, ConvPass::forward);
  add("conv1_backward_data", batch, ms, bench_conv, 1, ConvPass::backward_data);
  add("conv1_backward_filter", batch, ms, bench_conv, 1, ConvPass::backward_filter);
  add("conv2_forward", batch, ms, bench_conv, 2, ConvPass::forward);
  add("conv2_backward_data", batch, ms, bench_conv, 2, ConvPass::backward_data);
  add("conv2_backward_filter", batch, ms, bench_conv, 2, ConvPass::backward_filter);
  add("pool1_max_forward", batch, ms, bench_pool, 1, PoolMode::max, false);
  add("pool1_max_backward", batch, ms, bench_pool, 1, PoolMode::max, true);
  add("pool2_max_forward", batch, ms, bench_pool, 2, PoolMode::max, false);
  add("pool2_max_backward", batch, ms, bench_pool, 2, PoolMode::max, true);
  add("pool1_avg_backward", batch, ms, bench_pool, 1, PoolMode::avg, true);
  add("dense1_forward", 1024, ms, bench_dense, std::int64_t{3200}, std::int64_t{128},
      DensePass::forward);
  add("dense1_backward_data", 1024, ms, bench_dense, std::int64_t{3200}, std::int64_t{128},
      DensePass::backward_data);
  add("dense1_backward_filter", 1024, ms, bench_dense, std::int64_t{3200}, std::int64_t{128},
      DensePass::backward_filter);
  add("dense2_forward", 1024, us, bench_dense, std::int64_t{128}, std::int64_t{64},
      DensePass::forward);
  add("dense3_forward", 1024, us, bench_dense, std::int64_t{64}, std::int64_t{10},
      DensePass::forward);
  add("softmax_cross_entropy", 1024, us, bench_softmax_cross_entropy);
  add("adam_493130_params", 0, us, bench_adam);
}

}  // namespace

int main(int argc, char** argv) {
  register_all();
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
