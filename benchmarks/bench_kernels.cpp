// Micro benchmarks of the backend kernels at the seed model's shapes and batch 1024 (MNIST CNN:
// conv 28x28x1 -> 26x26x64, pool -> 13x13x64, conv -> 11x11x128, pool -> 5x5x128,
// dense 3200 -> 128 -> 64 -> 10, Adam over its 493,130 parameters), float32, on the CPU and, when
// a GPU is usable, on cuda:0 too (names end in /cpu or /cuda). Counters give GFLOP/s (multiply-add
// = 2 flops), GB/s where memory is the limit, and images/s. The *_bias_relu / *_backward_relu
// entries are the fused passes the Conv2D(activation="relu") layers run; the plain passes are the
// building blocks. A CUDA iteration ends with a device synchronize, so it times finished work.
#include <benchmark/benchmark.h>

#include <cmath>
#include <cstdint>
#include <vector>

#include <string>
#include <utility>

#include "backend/backend.h"
#include "kiln/device.h"
#include "kiln/tensor.h"

namespace {

using kiln::Shape;
using kiln::Tensor;
using kiln::backend::Conv2dGeometry;
using kiln::backend::Pool2dGeometry;
using kiln::backend::PoolMode;

using kiln::Device;
using kiln::backend::Pointwise;

kiln::backend::Backend& on(Device device) { return kiln::backend::backend_for(device); }

Tensor random_tensor(const Shape& shape, std::uint64_t seed, Device device) {
  return Tensor::uniform(shape, -1.0, 1.0, seed).to(device);
}

Tensor empty(const Shape& shape, Device device) { return Tensor::empty(shape).to(device); }

// Waits for the iteration's kernels (a no-op on the CPU).
void finish(Device device) { on(device).synchronize(); }

// A benchmark whose kernel produced a NaN/Inf (or nothing) measured nothing: report it as an error.
void require_finite(benchmark::State& state, const Tensor& result) {
  for (float v : result.to(Device::cpu()).to_vector<float>()) {
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

enum class ConvPass { forward, backward_data, backward_filter, forward_bias_relu, backward_relu };

// The fused backward of a Conv2D(relu) layer: the first layer's input needs no gradient.
void conv_backward_relu(Device device, const Conv2dGeometry& g, int layer, const Tensor& x,
                        const Tensor& w, const Tensor& y, const Tensor& dy, Tensor& dx, Tensor& dw,
                        Tensor& db) {
  Tensor none;
  on(device).conv2d_backward_fused(g, x, w, y, dy, Pointwise::relu, layer == 1 ? none : dx, dw, db);
}

void bench_conv(benchmark::State& state, Device device, int layer, ConvPass pass) {
  const Conv2dGeometry g = conv_layer(layer, state.range(0));
  const Tensor x = random_tensor({g.n, g.h, g.w, g.c}, 1, device);
  const Tensor w = random_tensor({g.kh, g.kw, g.c, g.o}, 2, device);
  const Tensor bias = random_tensor({g.o}, 3, device);
  const Tensor dy = random_tensor({g.n, g.oh, g.ow, g.o}, 4, device);
  Tensor y = empty({g.n, g.oh, g.ow, g.o}, device);
  Tensor dx = empty({g.n, g.h, g.w, g.c}, device);
  Tensor dw = empty({g.kh, g.kw, g.c, g.o}, device);
  Tensor db = empty({g.o}, device);
  kiln::backend::Backend& be = on(device);
  if (pass == ConvPass::backward_relu) be.conv2d_forward_fused(g, x, w, bias, Pointwise::relu, y);
  for (auto _ : state) {
    switch (pass) {
      case ConvPass::forward: be.conv2d_forward(g, x, w, y); break;
      case ConvPass::backward_data: be.conv2d_backward_data(g, dy, w, dx); break;
      case ConvPass::backward_filter: be.conv2d_backward_filter(g, x, dy, dw); break;
      case ConvPass::forward_bias_relu:
        be.conv2d_forward_fused(g, x, w, bias, Pointwise::relu, y);
        break;
      case ConvPass::backward_relu:
        conv_backward_relu(device, g, layer, x, w, y, dy, dx, dw, db);
        break;
    }
    finish(device);
  }
  const bool forward = pass == ConvPass::forward || pass == ConvPass::forward_bias_relu;
  require_finite(state, forward ? y : pass == ConvPass::backward_data ? dx : dw);
  // The fused backward does the filter GEMM and, past the first layer, the data GEMM.
  const double passes = pass == ConvPass::backward_relu ? (layer == 1 ? 1.0 : 2.0) : 1.0;
  set_counters(state, passes * conv_flops(g), g.n);
}

// The seed model's 2x2 / stride 2 pools ('valid').
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

// forward: the training pass, which stores max / min winners; forward_inference: no winners
// (on CUDA, cuDNN's max pooling where it applies); backward: from the stored winners.
enum class PoolPass { forward, forward_inference, backward };

void bench_pool(benchmark::State& state, Device device, int layer, PoolMode mode, PoolPass pass) {
  const Pool2dGeometry g = pool_layer(layer, state.range(0));
  const Tensor x = random_tensor({g.n, g.h, g.w, g.c}, 4, device);
  const Tensor dy = random_tensor({g.n, g.oh, g.ow, g.c}, 5, device);
  Tensor y = empty({g.n, g.oh, g.ow, g.c}, device);
  Tensor dx = empty({g.n, g.h, g.w, g.c}, device);
  Tensor winners;
  if (mode != PoolMode::avg) {
    winners = Tensor::empty({g.n, g.oh, g.ow, g.c}, kiln::DType::i32, device);
  }
  Tensor no_winners;
  kiln::backend::Backend& be = on(device);
  be.pool2d_forward(mode, g, x, y, winners);
  for (auto _ : state) {
    switch (pass) {
      case PoolPass::forward: be.pool2d_forward(mode, g, x, y, winners); break;
      case PoolPass::forward_inference: be.pool2d_forward(mode, g, x, y, no_winners); break;
      case PoolPass::backward: be.pool2d_backward(mode, g, winners, dy, dx); break;
    }
    finish(device);
  }
  require_finite(state, pass == PoolPass::backward ? dx : y);
  state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(x.nbytes() + y.nbytes()));
  set_counters(state, static_cast<double>(g.n * g.oh * g.ow * g.c * g.ph * g.pw), g.n);
}

enum class DensePass { forward, backward_data, backward_filter };

// y (n, out) = x (n, in) · w (in, out); dx = dy · w^T; dw = x^T · dy.
void bench_dense(benchmark::State& state, Device device, std::int64_t in, std::int64_t out,
                 DensePass pass) {
  const std::int64_t n = state.range(0);
  const Tensor x = random_tensor({n, in}, 6, device);
  const Tensor w = random_tensor({in, out}, 7, device);
  const Tensor dy = random_tensor({n, out}, 8, device);
  Tensor y = empty({n, out}, device);
  Tensor dx = empty({n, in}, device);
  Tensor dw = empty({in, out}, device);
  kiln::backend::Backend& be = on(device);
  for (auto _ : state) {
    switch (pass) {
      case DensePass::forward: be.gemm(false, false, 1.0, x, w, 0.0, y); break;
      case DensePass::backward_data: be.gemm(false, true, 1.0, dy, w, 0.0, dx); break;
      case DensePass::backward_filter: be.gemm(true, false, 1.0, x, dy, 0.0, dw); break;
    }
    finish(device);
  }
  require_finite(state, pass == DensePass::forward         ? y
                        : pass == DensePass::backward_data ? dx
                                                           : dw);
  set_counters(state, 2.0 * static_cast<double>(n * in * out), n);
}

void bench_softmax_cross_entropy(benchmark::State& state, Device device) {
  const std::int64_t n = state.range(0), classes = 10;
  const Tensor logits = random_tensor({n, classes}, 9, device);
  std::vector<std::int32_t> label_values(static_cast<std::size_t>(n));
  for (std::int64_t i = 0; i < n; ++i)
    label_values[static_cast<std::size_t>(i)] = static_cast<std::int32_t>(i % classes);
  const Tensor labels = Tensor::from_vector(label_values, {n}, device);
  const Tensor dloss = Tensor::full({n}, 1.0 / static_cast<double>(n)).to(device);
  Tensor probs = empty({n, classes}, device);
  Tensor loss = empty({n}, device);
  Tensor dlogits = empty({n, classes}, device);
  kiln::backend::Backend& be = on(device);
  for (auto _ : state) {
    be.softmax_cross_entropy_forward(logits, labels, probs, loss);
    be.softmax_cross_entropy_backward(probs, labels, dloss, dlogits);
    finish(device);
  }
  require_finite(state, loss);
  require_finite(state, dlogits);
  // Forward reads the logits and writes probabilities and losses; backward reads the
  // probabilities and writes the logits' gradient (labels and dloss are small).
  const auto bytes = static_cast<std::int64_t>(logits.nbytes() * 4 + loss.nbytes());
  state.SetBytesProcessed(state.iterations() * bytes);
  set_images(state, n);
}

// The seed model's parameter tensors: 493,130 values in all.
void bench_adam(benchmark::State& state, Device device) {
  const std::vector<Shape> shapes = {{3, 3, 1, 64}, {64},  {3, 3, 64, 128}, {128},
                                     {3200, 128},   {128}, {128, 64},       {64},
                                     {64, 10},      {10}};
  std::vector<Tensor> params, grads, m, v;
  std::int64_t total = 0;
  for (std::size_t i = 0; i < shapes.size(); ++i) {
    params.push_back(random_tensor(shapes[i], 10 + i, device));
    grads.push_back(random_tensor(shapes[i], 30 + i, device));
    m.push_back(Tensor::zeros(shapes[i], kiln::DType::f32, device));
    v.push_back(Tensor::zeros(shapes[i], kiln::DType::f32, device));
    total += params.back().numel();
  }
  const kiln::backend::AdamStep step = kiln::backend::AdamStep::on(device);
  kiln::backend::Backend& be = on(device);
  for (auto _ : state) {
    be.adam_update(params, grads, m, v, step);  // advances the step counter on the device
    finish(device);
  }
  for (const Tensor& p : params) require_finite(state, p);
  // Per parameter: read p, g, m, v and write p, m, v (float32).
  state.SetBytesProcessed(state.iterations() * total * 7 * 4);
  state.counters["params"] = static_cast<double>(total);
  state.counters["Gparam/s"] = benchmark::Counter(static_cast<double>(total) * 1e-9,
                                                  benchmark::Counter::kIsIterationInvariantRate);
}

// Registers a benchmark on `device` (over one batch size unless batch is 0), timed by the wall
// clock: the kernels run on several threads, so the main thread's CPU time would flatter them.
template <class... Args>
void add(const std::string& name, Device device, std::int64_t batch, benchmark::TimeUnit unit,
         void (*run)(benchmark::State&, Device, Args...), Args... args) {
  const std::string full = name + (device.is_cuda() ? "/cuda" : "/cpu");
  benchmark::internal::Benchmark* entry =
      benchmark::RegisterBenchmark(full.c_str(), run, device, args...);
  if (batch > 0) entry->Arg(batch);
  entry->UseRealTime()->Unit(unit);
}

void register_device(Device d) {
  constexpr std::int64_t batch = 1024;
  constexpr auto ms = benchmark::kMillisecond;
  constexpr auto us = benchmark::kMicrosecond;
  for (int layer : {1, 2}) {
    const std::string conv = "conv" + std::to_string(layer);
    add(conv + "_forward", d, batch, ms, bench_conv, layer, ConvPass::forward);
    add(conv + "_forward_bias_relu", d, batch, ms, bench_conv, layer, ConvPass::forward_bias_relu);
    add(conv + "_backward_data", d, batch, ms, bench_conv, layer, ConvPass::backward_data);
    add(conv + "_backward_filter", d, batch, ms, bench_conv, layer, ConvPass::backward_filter);
    add(conv + "_backward_relu", d, batch, ms, bench_conv, layer, ConvPass::backward_relu);
  }
  const std::pair<const char*, PoolMode> modes[] = {
      {"max", PoolMode::max}, {"min", PoolMode::min}, {"avg", PoolMode::avg}};
  for (int layer : {1, 2}) {
    for (const auto& [mode_name, mode] : modes) {
      const std::string pool = "pool" + std::to_string(layer) + "_" + mode_name;
      add(pool + "_forward", d, batch, ms, bench_pool, layer, mode, PoolPass::forward);
      if (mode != PoolMode::avg) {
        add(pool + "_forward_inference", d, batch, ms, bench_pool, layer, mode,
            PoolPass::forward_inference);
      }
      add(pool + "_backward", d, batch, ms, bench_pool, layer, mode, PoolPass::backward);
    }
  }
  add("dense1_forward", d, batch, ms, bench_dense, std::int64_t{3200}, std::int64_t{128},
      DensePass::forward);
  add("dense1_backward_data", d, batch, ms, bench_dense, std::int64_t{3200}, std::int64_t{128},
      DensePass::backward_data);
  add("dense1_backward_filter", d, batch, ms, bench_dense, std::int64_t{3200}, std::int64_t{128},
      DensePass::backward_filter);
  add("dense2_forward", d, batch, us, bench_dense, std::int64_t{128}, std::int64_t{64},
      DensePass::forward);
  add("dense3_forward", d, batch, us, bench_dense, std::int64_t{64}, std::int64_t{10},
      DensePass::forward);
  add("softmax_cross_entropy", d, batch, us, bench_softmax_cross_entropy);
  add("adam_493130_params", d, 0, us, bench_adam);
}

void register_all() {
  register_device(Device::cpu());
  if (kiln::cuda_available()) register_device(Device::cuda(0));
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
