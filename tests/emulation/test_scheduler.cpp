// The CUDA emulation's own tests: correct kernels give the known answers in every thread order,
// and each kind of planted bug (planted_kernels.cu) is caught — reported through the CUDA runtime
// as a GPU would report it, with a message that says what went wrong and where.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <numeric>
#include <string>
#include <vector>

#include "emulation_test_support.h"
#include "emulator.h"
#include "planted_kernels.h"

namespace kiln::emu_test {
namespace {

// Runs the test body once per thread order.
class EveryOrder : public ::testing::TestWithParam<emu::Order> {
 protected:
  void SetUp() override { emu::set_order(GetParam(), 12345); }
  void TearDown() override {
    emu::set_order(emu::Order::forward);
    cudaGetLastError();
  }
};

std::string last_error_text(cudaError_t code) { return cudaGetErrorString(code); }

TEST_P(EveryOrder, BlockSumsThroughSharedMemoryAndShuffles) {
  std::vector<float> in(5 * 256);
  for (std::size_t i = 0; i < in.size(); ++i) in[i] = static_cast<float>(i % 97) * 0.25f;
  DeviceBuffer<float> x(in);
  DeviceBuffer<float> sums(5);
  const std::uint64_t before = emu::kernels_launched();
  ASSERT_EQ(block_sums(x.get(), sums.get(), 5, nullptr), cudaSuccess);
  EXPECT_EQ(emu::kernels_launched(), before + 1);
  const std::vector<float> got = sums.download();
  for (int b = 0; b < 5; ++b) {
    const float expected = std::accumulate(in.begin() + b * 256, in.begin() + (b + 1) * 256, 0.0f);
    EXPECT_FLOAT_EQ(got[static_cast<std::size_t>(b)], expected) << "block " << b;
  }
}

TEST_P(EveryOrder, ShuffleKindsFollowCudaRules) {
  std::vector<int> in(32);
  std::iota(in.begin(), in.end(), 100);
  DeviceBuffer<int> x(in), a(32), up(32), down(32), idx(32);
  ASSERT_EQ(warp_shuffles(x.get(), a.get(), up.get(), down.get(), idx.get(), nullptr), cudaSuccess);
  const std::vector<int> xor_values = a.download(), up_values = up.download(),
                         down_values = down.download(), idx_values = idx.download();
  for (int lane = 0; lane < 32; ++lane) {
    const auto l = static_cast<std::size_t>(lane);
    EXPECT_EQ(xor_values[l], 100 + (lane ^ 1));
    EXPECT_EQ(up_values[l], 100 + (lane == 0 ? 0 : lane - 1));  // lane 0 keeps its own value
    EXPECT_EQ(down_values[l], 100 + (lane == 31 ? 31 : lane + 1));
    EXPECT_EQ(idx_values[l], 100 + 31 - lane);
  }
}

TEST_P(EveryOrder, VotesAtomicsAndIndices) {
  std::vector<int> predicates(32, 0);
  predicates[3] = predicates[30] = 1;
  DeviceBuffer<int> p(predicates), all(1), any(1);
  DeviceBuffer<unsigned> ballot(1);
  ASSERT_EQ(warp_votes(p.get(), ballot.get(), all.get(), any.get(), nullptr), cudaSuccess);
  EXPECT_EQ(ballot.download()[0], (1u << 3) | (1u << 30));
  EXPECT_EQ(all.download()[0], 0);
  EXPECT_EQ(any.download()[0], 1);

  DeviceBuffer<int> counter(std::vector<int>{7});
  ASSERT_EQ(count_with_atomics(counter.get(), 1000, nullptr), cudaSuccess);
  EXPECT_EQ(counter.download()[0], 1007);

  DeviceBuffer<int> indices(512);
  ASSERT_EQ(thread_indices(indices.get(), nullptr), cudaSuccess);
  const std::vector<int> got = indices.download();
  EXPECT_EQ(got[0], 0);
  EXPECT_EQ(got[17], 100 + 1);              // threadIdx (1, 1)
  EXPECT_EQ(got[256 + 255], 10000 + 1515);  // block 1, threadIdx (15, 15)
}

INSTANTIATE_TEST_SUITE_P(Orders, EveryOrder,
                         ::testing::Values(emu::Order::forward, emu::Order::reverse,
                                           emu::Order::shuffle),
                         [](const ::testing::TestParamInfo<emu::Order>& param) {
                           switch (param.param) {
                             case emu::Order::forward: return std::string("forward");
                             case emu::Order::reverse: return std::string("reverse");
                             case emu::Order::shuffle: return std::string("shuffle");
                           }
                           return std::string("unknown");
                         });

class PlantedBug : public ::testing::Test {
 protected:
  void TearDown() override {
    emu::set_order(emu::Order::forward);
    cudaGetLastError();
  }
};

// A missing barrier hides in one order (every thread writes before anyone reads) and shows in
// the other (reads come first and see poison): CI runs two orders for this reason.
TEST_F(PlantedBug, MissingBarrierShowsInOneOfTwoOrders) {
  std::vector<float> in(32 * 32);
  std::iota(in.begin(), in.end(), 0.0f);
  int wrong_orders = 0;
  for (emu::Order order : {emu::Order::forward, emu::Order::reverse}) {
    emu::set_order(order);
    DeviceBuffer<float> x(in), y(in.size());
    ASSERT_EQ(transpose_missing_barrier(x.get(), y.get(), nullptr), cudaSuccess);
    const std::vector<float> got = y.download();
    bool wrong = false;
    for (int r = 0; r < 32; ++r) {
      for (int c = 0; c < 32; ++c) {
        const float v = got[static_cast<std::size_t>(r * 32 + c)];
        if (!(v == in[static_cast<std::size_t>(c * 32 + r)])) wrong = true;
      }
    }
    wrong_orders += wrong ? 1 : 0;
  }
  EXPECT_GE(wrong_orders, 1);
}

TEST_F(PlantedBug, DivergentShuffleIsAFault) {
  DeviceBuffer<float> x(std::vector<float>(32, 1.0f)), y(32);
  const cudaError_t status = divergent_shuffle(x.get(), y.get(), nullptr);
  EXPECT_EQ(status, cudaErrorLaunchFailure);
  EXPECT_CONTAINS(last_error_text(status), "__shfl_xor_sync");
  EXPECT_CONTAINS(last_error_text(status), "one call site");
}

TEST_F(PlantedBug, WriteOnePastTheEndIsCaughtByTheLaunch) {
#if defined(KILN_EMU_ASAN)
  GTEST_SKIP() << "under AddressSanitizer device memory is exact-size and ASan itself reports "
                  "this write (heap-buffer-overflow) and stops the process";
#endif
  DeviceBuffer<float> y(1000);
  const cudaError_t status = write_one_past_the_end(y.get(), 1000, nullptr);
  EXPECT_EQ(status, cudaErrorIllegalAddress);
  EXPECT_CONTAINS(last_error_text(status), "write_one_past_the_end_kernel");
  EXPECT_CONTAINS(last_error_text(status), "past the end of a 4000-byte device allocation");
}

TEST_F(PlantedBug, UnwrittenDeviceAndSharedMemoryReadAsNaN) {
  DeviceBuffer<float> scratch(300), y(300);
  ASSERT_EQ(read_unwritten(scratch.get(), y.get(), 300, nullptr), cudaSuccess);
  for (float v : y.download()) EXPECT_TRUE(std::isnan(v));

  DeviceBuffer<float> z(64);
  ASSERT_EQ(read_unwritten_shared(z.get(), nullptr), cudaSuccess);
  const std::vector<float> got = z.download();
  for (std::size_t i = 0; i < 32; ++i) EXPECT_EQ(got[i], 1.0f);
  for (std::size_t i = 32; i < 64; ++i) EXPECT_TRUE(std::isnan(got[i])) << i;
}

TEST_F(PlantedBug, HostPointerArgumentIsRefusedAtLaunch) {
  std::vector<float> host(256);
  const std::uint64_t before = emu::kernels_launched();
  const cudaError_t status = launch_with(dim3(1), dim3(256), 0, host.data(), nullptr);
  EXPECT_EQ(status, cudaErrorIllegalAddress);
  EXPECT_CONTAINS(last_error_text(status), "argument 1 of kernel fill_kernel");
  EXPECT_CONTAINS(last_error_text(status), "host pointer");
  EXPECT_EQ(emu::kernels_launched(), before);  // nothing ran
}

TEST_F(PlantedBug, BadCopiesAreRefused) {
  DeviceBuffer<float> d(100);
  std::vector<float> host(200);
  EXPECT_EQ(cudaMemcpy(d.get(), host.data(), 200 * sizeof(float), cudaMemcpyHostToDevice),
            cudaErrorInvalidValue);  // runs past the allocation
  EXPECT_CONTAINS(last_error_text(cudaErrorInvalidValue), "not a device range of 800 bytes");
  EXPECT_EQ(cudaMemcpy(host.data(), d.get(), 400, cudaMemcpyHostToDevice),
            cudaErrorInvalidValue);  // directions swapped
  EXPECT_EQ(cudaMemcpy(host.data(), host.data() + 100, 400, cudaMemcpyDeviceToHost),
            cudaErrorInvalidValue);  // no device memory at all
  EXPECT_EQ(cudaMemsetAsync(d.get(), 0, 401, nullptr), cudaErrorInvalidValue);
  EXPECT_EQ(cudaMemcpy(d.get(), host.data(), 400, cudaMemcpyDefault), cudaSuccess);
  cudaGetLastError();
}

TEST_F(PlantedBug, DestroyedStreamIsRefused) {
  cudaStream_t stream = nullptr;
  ASSERT_EQ(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking), cudaSuccess);
  DeviceBuffer<float> y(256);
  EXPECT_EQ(launch_with(dim3(1), dim3(256), 0, y.get(), stream), cudaSuccess);
  ASSERT_EQ(cudaStreamDestroy(stream), cudaSuccess);
  const cudaError_t status = launch_with(dim3(1), dim3(256), 0, y.get(), stream);
  EXPECT_EQ(status, cudaErrorInvalidResourceHandle);
  EXPECT_CONTAINS(last_error_text(status), "stream that does not exist");
  EXPECT_EQ(cudaMemcpyAsync(y.get(), y.get(), 4, cudaMemcpyDeviceToDevice, stream),
            cudaErrorInvalidResourceHandle);
  EXPECT_EQ(cudaStreamDestroy(stream), cudaErrorInvalidResourceHandle);
  cudaGetLastError();
}

TEST_F(PlantedBug, BarrierReachedByPartOfTheBlockIsAFault) {
  DeviceBuffer<float> y(256);
  for (emu::Order order : {emu::Order::forward, emu::Order::reverse}) {
    emu::set_order(order);
    const cudaError_t status = barrier_after_early_exit(y.get(), nullptr);
    EXPECT_EQ(status, cudaErrorLaunchFailure);
    EXPECT_CONTAINS(last_error_text(status), "__syncthreads()");
    EXPECT_CONTAINS(last_error_text(status), "exited");
  }
}

TEST_F(PlantedBug, DivergentBarriersAreAFault) {
  DeviceBuffer<float> y(64);
  const cudaError_t status = divergent_barriers(y.get(), nullptr);
  EXPECT_EQ(status, cudaErrorLaunchFailure);
  EXPECT_CONTAINS(last_error_text(status), "divergent barriers");
}

TEST_F(PlantedBug, ShufflesWithExitedOrMissingLanesAreFaults) {
  DeviceBuffer<float> y(48);
  cudaError_t status = shuffle_with_exited_lane(y.get(), nullptr);
  EXPECT_EQ(status, cudaErrorLaunchFailure);
  EXPECT_CONTAINS(last_error_text(status), "exited");
  status = shuffle_over_missing_lanes(y.get(), nullptr);
  EXPECT_EQ(status, cudaErrorLaunchFailure);
  EXPECT_CONTAINS(last_error_text(status), "which do not exist");
}

TEST_F(PlantedBug, DeadlockSaysWhereEachThreadWaits) {
  DeviceBuffer<float> y(32);
  const cudaError_t status = deadlock(y.get(), nullptr);
  EXPECT_EQ(status, cudaErrorLaunchFailure);
  const std::string text = last_error_text(status);
  EXPECT_CONTAINS(text, "deadlock in block (0,0,0) of kernel deadlock_kernel");
  EXPECT_CONTAINS(text, "31 wait at __syncthreads() at planted_kernels.cu:");
  EXPECT_CONTAINS(text, "1 wait at a warp collective at planted_kernels.cu:");
}

TEST_F(PlantedBug, LaunchConfigurationsAreCheckedAsCudaDoes) {
  DeviceBuffer<float> y(2048);
  EXPECT_EQ(launch_with(dim3(1), dim3(1025), 0, y.get(), nullptr), cudaErrorInvalidConfiguration);
  EXPECT_EQ(launch_with(dim3(1, 65536), dim3(1), 0, y.get(), nullptr),
            cudaErrorInvalidConfiguration);
  EXPECT_EQ(launch_with(dim3(1), dim3(2, 2, 65), 0, y.get(), nullptr),
            cudaErrorInvalidConfiguration);
  EXPECT_EQ(launch_with(dim3(1), dim3(32), 49153, y.get(), nullptr), cudaErrorInvalidConfiguration);
  EXPECT_EQ(launch_with(dim3(0), dim3(32), 0, y.get(), nullptr), cudaErrorInvalidConfiguration);
  EXPECT_EQ(launch_with(dim3(2), dim3(1024), 0, y.get(), nullptr), cudaSuccess);
  const cudaError_t status = too_much_shared(y.get(), nullptr);
  EXPECT_EQ(status, cudaErrorLaunchFailure);
  EXPECT_CONTAINS(last_error_text(status), "over CUDA's 48 KiB");
}

TEST(EmulatedMemory, AllocationsArePoisonedAlignedAndBounded) {
  void* p = nullptr;
  ASSERT_EQ(cudaMalloc(&p, 12), cudaSuccess);
  EXPECT_EQ(reinterpret_cast<std::uintptr_t>(p) % 256, 0u);
  std::vector<unsigned char> bytes(12);
  ASSERT_EQ(cudaMemcpy(bytes.data(), p, 12, cudaMemcpyDeviceToHost), cudaSuccess);
  for (unsigned char b : bytes) EXPECT_EQ(b, 0xFF);
  EXPECT_TRUE(emu::is_device_range(p, 12));
  EXPECT_FALSE(emu::is_device_range(p, 13));
  EXPECT_TRUE(emu::is_device_pointer(static_cast<char*>(p) + 11));
  ASSERT_EQ(cudaFree(p), cudaSuccess);
  EXPECT_FALSE(emu::is_device_pointer(p));
  EXPECT_EQ(cudaFree(p), cudaErrorInvalidValue);  // twice
  cudaGetLastError();

  void* huge = nullptr;
  EXPECT_EQ(cudaMalloc(&huge, emu::device_capacity() + 1), cudaErrorMemoryAllocation);
  EXPECT_EQ(huge, nullptr);
  EXPECT_EQ(cudaGetLastError(), cudaErrorMemoryAllocation);
  EXPECT_EQ(cudaGetLastError(), cudaSuccess);  // not sticky
}

TEST(EmulatedMemory, Tf32RoundsToTenMantissaBits) {
  EXPECT_EQ(emu::round_to_tf32(1.0f), 1.0f);
  EXPECT_EQ(emu::round_to_tf32(1.0f + 0x1p-11f), 1.0f + 0x1p-10f);  // the tie rounds away
  EXPECT_EQ(emu::round_to_tf32(1.0f + 0x1p-12f), 1.0f);
  EXPECT_EQ(emu::round_to_tf32(-1.0f - 0x1p-11f), -1.0f - 0x1p-10f);
  EXPECT_TRUE(std::isnan(emu::round_to_tf32(std::nanf(""))));
}

}  // namespace
}  // namespace kiln::emu_test
