// Tensor, shape and device basics.
#include <gtest/gtest.h>

#include <cstdlib>

#include "backend/block_pool.h"
#include "kiln/error.h"
#include "kiln/tensor.h"

namespace kiln {
namespace {

TEST(Shape, NumelAndText) {
  EXPECT_EQ(shape_numel({2, 28, 28, 1}), 1568);
  EXPECT_EQ(shape_numel({}), 1);
  EXPECT_EQ(shape_str({2, 3}), "(2, 3)");
  EXPECT_EQ(shape_str({5}), "(5,)");
  EXPECT_EQ(batch_shape_str({26, 26, 64}), "(None, 26, 26, 64)");
  EXPECT_THROW(shape_numel({-1, 2}), Error);
  EXPECT_THROW(shape_numel({1ll << 40, 1ll << 40}), Error);
}

TEST(Tensor, FromVectorRoundTrip) {
  Tensor t = Tensor::from_vector<float>({1, 2, 3, 4, 5, 6}, {2, 3});
  EXPECT_EQ(t.shape(), (Shape{2, 3}));
  EXPECT_EQ(t.dtype(), DType::f32);
  EXPECT_EQ(t.to_vector<float>(), (std::vector<float>{1, 2, 3, 4, 5, 6}));
  EXPECT_THROW(t.to_vector<double>(), Error);
  EXPECT_THROW(Tensor::from_vector<float>({1, 2}, {3}), Error);
}

TEST(Tensor, ViewSharesStorageAndChecksCount) {
  Tensor t = Tensor::from_vector<float>({1, 2, 3, 4, 5, 6}, {2, 3});
  Tensor v = t.view({3, -1});
  EXPECT_EQ(v.shape(), (Shape{3, 2}));
  v.data<float>()[0] = 42.0f;
  EXPECT_EQ(t.to_vector<float>()[0], 42.0f);
  EXPECT_THROW(t.view({4, 2}), Error);
  EXPECT_THROW(t.view({-1, -1}), Error);
}

TEST(Tensor, CloneAstypeFull) {
  Tensor t = Tensor::full({4}, 2.5, DType::f64);
  Tensor c = t.clone();
  c.data<double>()[0] = 0.0;
  EXPECT_EQ(t.to_vector<double>()[0], 2.5);
  Tensor i = t.astype(DType::i32);
  EXPECT_EQ(i.to_vector<std::int32_t>(), (std::vector<std::int32_t>{2, 2, 2, 2}));
  EXPECT_DOUBLE_EQ(Tensor::full({1}, 3.0).item(), 3.0);
  EXPECT_THROW(t.item(), Error);
}

TEST(Tensor, UniformIsSeededAndInRange) {
  Tensor a = Tensor::uniform({1000}, -0.5, 0.5, 7);
  Tensor b = Tensor::uniform({1000}, -0.5, 0.5, 7);
  Tensor c = Tensor::uniform({1000}, -0.5, 0.5, 8);
  EXPECT_EQ(a.to_vector<float>(), b.to_vector<float>());
  EXPECT_NE(a.to_vector<float>(), c.to_vector<float>());
  double mean = 0;
  for (float v : a.to_vector<float>()) {
    EXPECT_GE(v, -0.5f);
    EXPECT_LT(v, 0.5f);
    mean += v / 1000.0;
  }
  EXPECT_NEAR(mean, 0.0, 0.05);
}

TEST(Device, ParseAndDefault) {
  EXPECT_EQ(parse_device("cpu"), Device::cpu());
  EXPECT_EQ(Device::cuda(1).str(), "cuda:1");
  EXPECT_THROW(parse_device("tpu"), Error);
  if (!cuda_available()) {
    EXPECT_THROW(parse_device("cuda"), Error);
    EXPECT_EQ(default_device(), Device::cpu());
  }
}

TEST(Memory, CpuStatsTrackAllocations) {
  const MemoryStats before = memory_stats(Device::cpu());
  {
    Tensor t = Tensor::empty({1024}, DType::f32);
    const MemoryStats during = memory_stats(Device::cpu());
    EXPECT_EQ(during.allocated, before.allocated + 4096);  // 512-byte multiples are exact
    EXPECT_EQ(during.allocations, before.allocations + 1);
  }
  EXPECT_EQ(memory_stats(Device::cpu()).allocated, before.allocated);
}

// CPU tensors come from the pool (backend/cpu/cpu_allocator.h): a freed block serves the next
// request that fits, split when the rest is worth keeping. The pool's exact numbers on a private
// allocator: tests/unit/test_cpu_allocator.cpp.
TEST(Memory, CpuTensorsReuseThePoolsBlocks) {
  if (!backend::caching_enabled_by_environment("KILN_CPU_NO_CACHE")) {
    GTEST_SKIP() << "KILN_CPU_NO_CACHE=1 turns the CPU pool's caching off";
  }
  allocator_for(Device::cpu()).empty_cache();
  const MemoryStats before = memory_stats(Device::cpu());
  const void* first = nullptr;
  {
    Tensor a = Tensor::empty({1 << 20});  // 4 MiB
    first = a.raw_data();
    // The block that serves it: 4 MiB, or up to 1 MiB more when it comes from a cached block
    // whose rest is too small to split off (Note [Splitting] in block_pool.cpp).
    const std::size_t block = memory_stats(Device::cpu()).allocated - before.allocated;
    EXPECT_GE(block, 4u << 20);
    EXPECT_LE(block, 5u << 20);
  }
  {
    Tensor b = Tensor::empty({1 << 20});
    EXPECT_EQ(b.raw_data(), first);
  }
  { Tensor smaller = Tensor::empty({1 << 19}); }  // 2 MiB: cut from a cached block
  const MemoryStats after = memory_stats(Device::cpu());
  EXPECT_EQ(after.allocations, before.allocations + 3);
  EXPECT_GE(after.cache_hits, before.cache_hits + 2);
  EXPECT_LE(after.system_allocations, before.system_allocations + 1);
  EXPECT_EQ(after.allocated, before.allocated);
  allocator_for(Device::cpu()).empty_cache();
  EXPECT_EQ(memory_stats(Device::cpu()).reserved, before.reserved);
}

}  // namespace
}  // namespace kiln
