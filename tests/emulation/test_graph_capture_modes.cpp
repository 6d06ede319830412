// Capture interaction modes and threads (cudaThreadExchangeStreamCaptureMode; Note [Stream
// capture] in cuda/emulation/stream_capture.cpp): which thread may make a potentially unsafe
// call during which capture, which thread may end a capture, and a second stream that keeps
// working eagerly beside a capture.
#include <cuda_runtime_api.h>
#include <gtest/gtest.h>

#include <cstring>
#include <thread>
#include <vector>

#include "graph_test_support.h"
#include "planted_kernels.h"

namespace kiln::emu_test {
namespace {

// cudaMalloc + cudaFree of 256 bytes on a new thread; the first error, or cudaSuccess.
cudaError_t allocate_on_another_thread(cudaStreamCaptureMode thread_mode) {
  cudaError_t result = cudaSuccess;
  std::thread other([&] {
    cudaStreamCaptureMode mode = thread_mode;
    cudaThreadExchangeStreamCaptureMode(&mode);
    void* memory = nullptr;
    result = cudaMalloc(&memory, 256);
    if (result == cudaSuccess) result = cudaFree(memory);
    cudaGetLastError();
  });
  other.join();
  return result;
}

cudaError_t allocate_here() {
  void* memory = nullptr;
  cudaError_t result = cudaMalloc(&memory, 256);
  if (result == cudaSuccess) result = cudaFree(memory);
  return result;
}

class CaptureModes : public ::testing::Test {
 protected:
  void SetUp() override { testing::internal::CaptureStderr(); }
  void TearDown() override {
    testing::internal::GetCapturedStderr();
    cudaGetLastError();
  }
  void begin(cudaStreamCaptureMode mode) {
    ASSERT_EQ(cudaStreamBeginCapture(stream_.get(), mode), cudaSuccess);
  }
  void end_with_a_graph() {
    cudaGraph_t graph = nullptr;
    ASSERT_EQ(cudaStreamEndCapture(stream_.get(), &graph), cudaSuccess);
    EXPECT_EQ(cudaGraphDestroy(graph), cudaSuccess);
  }

  Stream stream_;
};

TEST_F(CaptureModes, AGlobalCaptureForbidsUnsafeCallsOnEveryGlobalModeThread) {
  begin(cudaStreamCaptureModeGlobal);
  EXPECT_EQ(allocate_on_another_thread(cudaStreamCaptureModeGlobal),
            cudaErrorStreamCaptureUnsupported);
  expect_invalidated_end(stream_.get());
}

TEST_F(CaptureModes, OtherThreadsInThreadLocalOrRelaxedModeIgnoreAGlobalCapture) {
  begin(cudaStreamCaptureModeGlobal);
  EXPECT_EQ(allocate_on_another_thread(cudaStreamCaptureModeThreadLocal), cudaSuccess);
  EXPECT_EQ(allocate_on_another_thread(cudaStreamCaptureModeRelaxed), cudaSuccess);
  end_with_a_graph();
}

TEST_F(CaptureModes, AThreadLocalCaptureForbidsUnsafeCallsOnlyOnItsOwnThread) {
  begin(cudaStreamCaptureModeThreadLocal);
  EXPECT_EQ(allocate_on_another_thread(cudaStreamCaptureModeGlobal), cudaSuccess);
  EXPECT_EQ(capture_status(stream_.get()), cudaStreamCaptureStatusActive);
  EXPECT_EQ(allocate_here(), cudaErrorStreamCaptureUnsupported);
  expect_invalidated_end(stream_.get());
}

TEST_F(CaptureModes, ARelaxedCaptureForbidsNoUnsafeCall) {
  begin(cudaStreamCaptureModeRelaxed);
  EXPECT_EQ(allocate_here(), cudaSuccess);
  EXPECT_EQ(DeviceBuffer<int>(std::vector<int>{5}).download(), std::vector<int>{5})
      << "cudaMalloc, the synchronous cudaMemcpy both ways and cudaFree";
  EXPECT_EQ(allocate_on_another_thread(cudaStreamCaptureModeGlobal), cudaSuccess);
  end_with_a_graph();
}

TEST_F(CaptureModes, ARelaxedThreadMayAllocateDuringItsOwnGlobalCapture) {
  begin(cudaStreamCaptureModeGlobal);
  cudaStreamCaptureMode mode = cudaStreamCaptureModeRelaxed;
  ASSERT_EQ(cudaThreadExchangeStreamCaptureMode(&mode), cudaSuccess);
  EXPECT_EQ(allocate_here(), cudaSuccess);
  ASSERT_EQ(cudaThreadExchangeStreamCaptureMode(&mode), cudaSuccess);
  EXPECT_EQ(allocate_here(), cudaErrorStreamCaptureUnsupported);
  expect_invalidated_end(stream_.get());
  EXPECT_EQ(cudaThreadExchangeStreamCaptureMode(nullptr), cudaErrorInvalidValue);
  const int nine = 9;  // stored, not converted: no enum ever holds the invalid value
  std::memcpy(&mode, &nine, sizeof(mode));
  EXPECT_EQ(cudaThreadExchangeStreamCaptureMode(&mode), cudaErrorInvalidValue);
}

TEST_F(CaptureModes, OnlyTheBeginningThreadEndsANonRelaxedCapture) {
  for (const cudaStreamCaptureMode mode :
       {cudaStreamCaptureModeGlobal, cudaStreamCaptureModeThreadLocal}) {
    begin(mode);
    cudaError_t ended = cudaSuccess;
    std::thread other([&] {
      cudaGraph_t graph = nullptr;
      ended = cudaStreamEndCapture(stream_.get(), &graph);
    });
    other.join();
    EXPECT_EQ(ended, cudaErrorStreamCaptureWrongThread);
    EXPECT_EQ(capture_status(stream_.get()), cudaStreamCaptureStatusActive);
    end_with_a_graph();
  }
  begin(cudaStreamCaptureModeRelaxed);
  cudaGraph_t graph = nullptr;
  std::thread other([&] { EXPECT_EQ(cudaStreamEndCapture(stream_.get(), &graph), cudaSuccess); });
  other.join();
  EXPECT_EQ(cudaGraphDestroy(graph), cudaSuccess);
}

// Capture on one stream while another works eagerly: only the capturing stream's work waits.
TEST_F(CaptureModes, AnotherStreamWorksEagerlyBesideACapture) {
  Stream eager;
  DeviceBuffer<int> step(1), other_step(1);
  DeviceBuffer<float> values(std::vector<float>(32, 0.0f)), other_values(32);
  ASSERT_EQ(cudaMemset(step.get(), 0, sizeof(int)), cudaSuccess);
  ASSERT_EQ(cudaMemset(other_step.get(), 0, sizeof(int)), cudaSuccess);
  begin(cudaStreamCaptureModeThreadLocal);
  ASSERT_EQ(advance_step(step.get(), values.get(), 32, stream_.get()), cudaSuccess);
  ASSERT_EQ(cudaMemsetAsync(other_values.get(), 0, other_values.bytes(), eager.get()), cudaSuccess);
  ASSERT_EQ(advance_step(other_step.get(), other_values.get(), 32, eager.get()), cudaSuccess);
  ASSERT_EQ(cudaStreamSynchronize(eager.get()), cudaSuccess) << "not the capturing stream";
  cudaGraph_t graph = nullptr;
  ASSERT_EQ(cudaStreamEndCapture(stream_.get(), &graph), cudaSuccess);
  // (Downloads are synchronous copies, which the capture forbids: they come after it.)
  EXPECT_EQ(other_step.download(), std::vector<int>{1}) << "the eager stream ran at once";
  EXPECT_EQ(other_values.download(), std::vector<float>(32, 1.0f));
  EXPECT_EQ(step.download(), std::vector<int>{0}) << "the capturing stream did not";
  GraphExec exec(graph);
  ASSERT_EQ(cudaGraphDestroy(graph), cudaSuccess);
  ASSERT_EQ(cudaGraphLaunch(exec.get(), eager.get()), cudaSuccess);
  EXPECT_EQ(step.download(), std::vector<int>{1});
}

}  // namespace
}  // namespace kiln::emu_test
