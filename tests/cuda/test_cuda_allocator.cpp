// The caching device allocator on a real GPU (its bookkeeping is tested without one in
// tests/unit/test_caching_allocator.cpp): reuse without cudaMalloc, split and merge inside a
// segment, an impossible request that raises and leaves tensors intact, a model whose batch does
// not fit (OutOfMemoryError naming the layer, then a smaller batch trains), and a fixed-shape
// training loop whose reserved memory stops growing after the first steps. The same loop, run for
// a few steps on both backends, must agree with the CPU.
#include <cmath>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "cuda/caching_allocator.h"
#include "cuda/cuda_api.h"
#include "cuda_test_util.h"
#include "kiln/model.h"

namespace kiln::cuda_test {
namespace {

#define KILN_SKIP_WITHOUT_CACHING()                                            \
  do {                                                                         \
    if (!::kiln::cuda::caching_enabled_by_environment()) {                     \
      GTEST_SKIP() << "the pool's caching is off (KILN_CUDA_NO_CACHE is set)"; \
    }                                                                          \
  } while (false)

TEST(CudaAllocator, FreedBlockIsReusedWithoutCudaMalloc) {
  KILN_SKIP_WITHOUT_GPU();
  KILN_SKIP_WITHOUT_CACHING();
  { Tensor warm = Tensor::empty({1 << 18}, DType::f32, cuda0()); }
  const MemoryStats before = memory_stats(cuda0());
  { Tensor again = Tensor::empty({1 << 18}, DType::f32, cuda0()); }
  const MemoryStats after = memory_stats(cuda0());
  EXPECT_EQ(after.system_allocations, before.system_allocations);
  EXPECT_EQ(after.cache_hits, before.cache_hits + 1);
  EXPECT_EQ(after.allocations, before.allocations + 1);
  EXPECT_EQ(after.allocated, before.allocated);
}

// A pool of its own, so blocks that earlier tests left cached in cuda:0's pool cannot serve
// these requests (the test then depended on the order tests ran in).
TEST(CudaAllocator, SmallBlocksSplitOneSegmentAndMergeBack) {
  KILN_SKIP_WITHOUT_GPU();
  KILN_SKIP_WITHOUT_CACHING();
  const std::unique_ptr<Allocator> pool = cuda::make_device_allocator(0);
  {
    void* a = pool->allocate(4000);  // -> a 4096 B block
    void* b = pool->allocate(4000);
    EXPECT_EQ(static_cast<const char*>(b) - static_cast<const char*>(a), 4096);  // one segment
    const MemoryStats mid = pool->stats();
    EXPECT_EQ(mid.reserved, 2u << 20);
    EXPECT_EQ(mid.allocated, 8192u);
    EXPECT_EQ(mid.system_allocations, 1u);
    pool->deallocate(b, 4000);
    pool->deallocate(a, 4000);
  }
  EXPECT_EQ(pool->stats().allocated, 0u);
  pool->empty_cache();  // a and b merged back: the segment is wholly free
  EXPECT_EQ(pool->stats().reserved, 0u);
}

TEST(CudaAllocator, ImpossibleRequestRaisesAndKeepsExistingTensors) {
  KILN_SKIP_WITHOUT_GPU();
  const Tensor keep = on_gpu(random({1000}, 60));
  const std::vector<float> before = keep.to_vector<float>();
  const MemoryStats stats_before = memory_stats(cuda0());
  try {
    Tensor huge = Tensor::empty({std::int64_t{1} << 50}, DType::u8, cuda0());
    FAIL() << "a 2^50-byte tensor was allocated";
  } catch (const OutOfMemoryError& e) {
    const std::string message = e.what();
    EXPECT_EQ(e.requested_bytes(), std::size_t{1} << 50);
    EXPECT_NE(message.find("out of memory on cuda:0"), std::string::npos) << message;
    EXPECT_NE(message.find("1125899906842624 bytes"), std::string::npos) << message;
    EXPECT_NE(message.find("reserved"), std::string::npos) << message;
  }
  EXPECT_EQ(keep.to_vector<float>(), before);
  const MemoryStats stats_after = memory_stats(cuda0());
  EXPECT_EQ(stats_after.allocated, stats_before.allocated);
  if (cuda::caching_enabled_by_environment()) {
    EXPECT_EQ(stats_after.oom_retries, stats_before.oom_retries + 1);
  }
  const Tensor more = on_gpu(random({1000}, 61));  // the device still works
  EXPECT_EQ(more.to_vector<float>(), random({1000}, 61).to_vector<float>());
}

// Conv2D with 2^16 filters: a 2.3 MiB kernel, but an output of 26 x 26 x 2^16 floats (177 MB) per
// image, so a batch of 2048 needs 363 GB (more than any GPU holds) and a batch of 2 only 354 MB.
// On the CUDA emulation (4 GiB of device memory, everything computed on the CPU) 2^10 filters
// make the same point: 5.7 GB for the large batch, 5.5 MB for the small one.
std::int64_t wide_filters() {
  return gpu_or_emulated(std::int64_t{1} << 16, std::int64_t{1} << 10);
}
constexpr std::int64_t kTooLargeBatch = 2048;

std::unique_ptr<Sequential> wide_conv_model() {
  clear_session();
  auto model = std::make_unique<Sequential>(
      std::vector<LayerRef>{InputLayer({28, 28, 1}),
                            Conv2D(wide_filters(), 3, {.activation = "relu", .name = "wide_conv"}),
                            MaxPooling2D(26), Flatten(), Dense(10, {.activation = "softmax"})});
  model->to(cuda0());
  model->compile(std::make_shared<Adam>(), "sparse_categorical_crossentropy");
  return model;
}

// One epoch of fit over `n` images in one batch; returns its loss.
double fit_one_batch(Model& model, std::int64_t n) {
  std::vector<std::int32_t> labels(static_cast<std::size_t>(n));
  for (std::size_t i = 0; i < labels.size(); ++i) labels[i] = static_cast<std::int32_t>(i % 10);
  FitOptions options;
  options.batch_size = n;
  options.verbose = 0;
  const History history =
      model.fit(random({n, 28, 28, 1}, 62, 0.0, 1.0), Tensor::from_vector(labels, {n}), options);
  return history.values.at("loss").at(0);
}

TEST(CudaAllocator, BatchTooLargeNamesLayerThenSmallerBatchTrains) {
  KILN_SKIP_WITHOUT_GPU();
  auto model = wide_conv_model();
  const std::size_t requested =
      static_cast<std::size_t>(kTooLargeBatch * 26 * 26 * wide_filters()) * sizeof(float);
  const MemoryStats before = memory_stats(cuda0());
  try {
    fit_one_batch(*model, kTooLargeBatch);
    FAIL() << "a " << requested << "-byte activation was allocated";
  } catch (const OutOfMemoryError& e) {
    const std::string message = e.what();
    EXPECT_EQ(e.requested_bytes(), requested);
    EXPECT_EQ(e.layer(), "wide_conv");
    EXPECT_NE(message.find("out of memory on cuda:0: tried to allocate " +
                           std::to_string(requested) + " bytes"),
              std::string::npos)
        << message;
    EXPECT_NE(message.find("reserved by kiln"), std::string::npos) << message;
    EXPECT_NE(message.find("while running the forward pass of layer 'wide_conv' (Conv2D)"),
              std::string::npos)
        << message;
  }
  gpu().synchronize();
  const MemoryStats after = memory_stats(cuda0());
  EXPECT_EQ(after.allocated, before.allocated);
  if (cuda::caching_enabled_by_environment()) {
    EXPECT_EQ(after.oom_retries, before.oom_retries + 1);
  }
  EXPECT_TRUE(std::isfinite(fit_one_batch(*model, 2)));  // the process carries on
}

TEST(CudaAllocator, ZeroByteTensorsAreDistinct) {
  KILN_SKIP_WITHOUT_GPU();
  Tensor a = Tensor::empty({0}, DType::f32, cuda0());
  Tensor b = Tensor::empty({0}, DType::f32, cuda0());
  EXPECT_NE(a.raw_data(), nullptr);
  EXPECT_NE(a.raw_data(), b.raw_data());
}

// A two-layer dense classifier, one full step per call (forward, softmax cross-entropy,
// backward, Adam), with fresh temporaries every step as a training loop makes them.
struct DenseModel {
  Device device;
  std::vector<Tensor> params;  // w1 (64, 32), b1 (32), w2 (32, 10), b2 (10)
  std::vector<Tensor> m, v;
  backend::AdamStep adam;

  explicit DenseModel(Device where) : device(where), adam(backend::AdamStep::on(where)) {
    params = {random({64, 32}, 70, -0.3, 0.3).to(where), Tensor::zeros({32}, DType::f32, where),
              random({32, 10}, 71, -0.3, 0.3).to(where), Tensor::zeros({10}, DType::f32, where)};
    for (const Tensor& p : params) {
      m.push_back(Tensor::zeros(p.shape(), DType::f32, where));
      v.push_back(Tensor::zeros(p.shape(), DType::f32, where));
    }
  }

  void train_step(const Tensor& x, const Tensor& labels) {
    backend::Backend& be = device.is_cpu() ? cpu() : gpu();
    const std::int64_t n = x.dim(0);
    const auto empty = [&](const Shape& s) { return Tensor::empty(s, DType::f32, device); };
    Tensor h = empty({n, 32});
    be.gemm(false, false, 1.0, x, params[0], 0.0, h);
    be.add_bias(h, params[1]);
    Tensor a = empty({n, 32});
    be.pointwise_forward(backend::Pointwise::relu, h, a);
    Tensor logits = empty({n, 10});
    be.gemm(false, false, 1.0, a, params[2], 0.0, logits);
    be.add_bias(logits, params[3]);
    Tensor probs = empty({n, 10});
    Tensor loss = empty({n});
    be.softmax_cross_entropy_forward(logits, labels, probs, loss);
    Tensor dloss = Tensor::full({n}, 1.0 / static_cast<double>(n), DType::f32, device);
    Tensor dlogits = empty({n, 10});
    be.softmax_cross_entropy_backward(probs, labels, dloss, dlogits);
    std::vector<Tensor> grads = {empty({64, 32}), empty({32}), empty({32, 10}), empty({10})};
    be.gemm(true, false, 1.0, a, dlogits, 0.0, grads[2]);
    be.bias_backward(dlogits, grads[3]);
    Tensor da = empty({n, 32});
    be.gemm(false, true, 1.0, dlogits, params[2], 0.0, da);
    Tensor dh = empty({n, 32});
    be.pointwise_backward(backend::Pointwise::relu, a, da, dh);
    be.gemm(true, false, 1.0, x, dh, 0.0, grads[0]);
    be.bias_backward(dh, grads[1]);
    be.adam_update(params, grads, m, v, adam);
  }
};

Tensor batch_labels(std::int64_t n) {
  std::vector<std::int32_t> labels(static_cast<std::size_t>(n));
  for (std::int64_t i = 0; i < n; ++i) {
    labels[static_cast<std::size_t>(i)] = static_cast<std::int32_t>((i * 7) % 10);
  }
  return Tensor::from_vector(labels, {n});
}

TEST(CudaAllocator, FixedShapeTrainingLoopStopsGrowing) {
  KILN_SKIP_WITHOUT_GPU();
  KILN_SKIP_WITHOUT_CACHING();
  DenseModel model(cuda0());
  const Tensor x = on_gpu(random({128, 64}, 72));
  const Tensor labels = on_gpu(batch_labels(128));
  for (int i = 0; i < 10; ++i) model.train_step(x, labels);
  gpu().synchronize();
  const MemoryStats settled = memory_stats(cuda0());
  const int steps = static_cast<int>(gpu_or_emulated(990, 40));
  for (int i = 0; i < steps; ++i) model.train_step(x, labels);
  gpu().synchronize();
  const MemoryStats after = memory_stats(cuda0());
  EXPECT_EQ(after.reserved, settled.reserved);
  EXPECT_EQ(after.system_allocations, settled.system_allocations);
  EXPECT_EQ(after.allocated, settled.allocated);
  EXPECT_LE(after.allocated, after.reserved);
}

TEST(CudaTraining, FiveDenseAdamStepsAgreeWithTheCpu) {
  KILN_SKIP_WITHOUT_GPU();
  Tf32Scope strict(false);
  DenseModel on_cpu(Device::cpu());
  DenseModel on_cuda(cuda0());
  const Tensor x = random({128, 64}, 72);
  const Tensor labels = batch_labels(128);
  const Tensor xg = on_gpu(x);
  const Tensor labels_g = on_gpu(labels);
  for (int i = 0; i < 5; ++i) {
    on_cpu.train_step(x, labels);
    on_cuda.train_step(xg, labels_g);
  }
  for (std::size_t i = 0; i < on_cpu.params.size(); ++i) {
    EXPECT_CLOSE(on_cuda.params[i], on_cpu.params[i], kStrict) << "parameter " << i;
  }
}

}  // namespace
}  // namespace kiln::cuda_test
