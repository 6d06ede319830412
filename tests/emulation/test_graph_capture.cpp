// Stream capture and graph replay (cuda/emulation/stream_capture.cpp, graphs.cpp): work queued on
// a capturing stream does not run; every launch of the graph runs all of it, in order, on the
// device memory as it is then — checked against the same work run eagerly and against the
// closed form of what it computes.
#include <cuda_runtime_api.h>
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "emulator.h"
#include "graph_test_support.h"
#include "planted_kernels.h"

namespace kiln::emu_test {
namespace {

constexpr int kN = 48;

class GraphCapture : public ::testing::Test {
 protected:
  void TearDown() override {
    EXPECT_EQ(cudaGetLastError(), cudaSuccess) << "a test left an error unchecked";
  }
};

std::vector<float> initial_values() {
  std::vector<float> values(kN);
  for (int i = 0; i < kN; ++i) values[static_cast<std::size_t>(i)] = 0.25f * static_cast<float>(i);
  return values;
}

struct StepBuffers {
  DeviceBuffer<int> step{1};
  DeviceBuffer<float> values{initial_values()};
  DeviceBuffer<float> copy{kN};
  DeviceBuffer<float> scratch{kN};
  StepBuffers() { EXPECT_EQ(cudaMemset(step.get(), 0, sizeof(int)), cudaSuccess); }
};

// The step of a training run, in small: clear a scratch buffer, advance the step counter read from
// device memory, scale, and copy the values out.
void queue_step(StepBuffers& b, cudaStream_t stream) {
  ASSERT_EQ(cudaMemsetAsync(b.scratch.get(), 0, b.scratch.bytes(), stream), cudaSuccess);
  ASSERT_EQ(advance_step(b.step.get(), b.values.get(), kN, stream), cudaSuccess);
  ASSERT_EQ(scale(b.values.get(), 2.0f, kN, stream), cudaSuccess);
  ASSERT_EQ(cudaMemcpyAsync(b.copy.get(), b.values.get(), b.values.bytes(),
                            cudaMemcpyDeviceToDevice, stream),
            cudaSuccess);
}

// A graph of one advance_step on `values`, captured on `stream` (global mode).
cudaGraph_t capture_advance_step(int* step, float* values, cudaStream_t stream) {
  EXPECT_EQ(cudaStreamBeginCapture(stream, cudaStreamCaptureModeGlobal), cudaSuccess);
  EXPECT_EQ(advance_step(step, values, kN, stream), cudaSuccess);
  cudaGraph_t graph = nullptr;
  EXPECT_EQ(cudaStreamEndCapture(stream, &graph), cudaSuccess);
  return graph;
}

// values after `steps` steps: v <- (v + step + 1) * 2, the step read before it advances.
std::vector<float> expected_values(int steps) {
  std::vector<float> values = initial_values();
  for (int s = 0; s < steps; ++s) {
    for (float& v : values) v = (v + static_cast<float>(s + 1)) * 2.0f;
  }
  return values;
}

TEST_F(GraphCapture, NothingRunsWhileCapturingAndEveryReplayRunsAllTheWorkInOrder) {
  Stream stream;
  StepBuffers captured;
  const std::uint64_t kernels_before = emu::kernels_launched();
  ASSERT_EQ(cudaStreamBeginCapture(stream.get(), cudaStreamCaptureModeGlobal), cudaSuccess);
  EXPECT_EQ(capture_status(stream.get()), cudaStreamCaptureStatusActive);
  EXPECT_TRUE(emu::stream_is_capturing(stream.get()));
  queue_step(captured, stream.get());
  Graph graph;
  ASSERT_EQ(cudaStreamEndCapture(stream.get(), graph.out()), cudaSuccess);
  ASSERT_NE(graph.get(), nullptr);
  EXPECT_EQ(capture_status(stream.get()), cudaStreamCaptureStatusNone);
  EXPECT_FALSE(emu::stream_is_capturing(stream.get()));

  EXPECT_EQ(emu::kernels_launched(), kernels_before) << "a captured kernel ran";
  EXPECT_EQ(captured.step.download(), std::vector<int>{0});
  EXPECT_EQ(captured.values.download(), initial_values());
  const std::vector<float> copy = captured.copy.download();
  for (const float v : copy) EXPECT_TRUE(std::isnan(v)) << "the captured copy ran";
  for (const float v : captured.scratch.download()) EXPECT_TRUE(std::isnan(v));

  GraphExec exec(graph.get());
  StepBuffers eager;
  for (int replay = 1; replay <= 3; ++replay) {
    SCOPED_TRACE(testing::Message() << "replay " << replay);
    ASSERT_EQ(cudaGraphLaunch(exec.get(), stream.get()), cudaSuccess);
    ASSERT_EQ(cudaStreamSynchronize(stream.get()), cudaSuccess);
    queue_step(eager, stream.get());
    EXPECT_EQ(captured.step.download(), std::vector<int>{replay});
    EXPECT_EQ(captured.values.download(), expected_values(replay));
    EXPECT_EQ(captured.values.download(), eager.values.download());
    EXPECT_EQ(captured.copy.download(), eager.copy.download());
    EXPECT_EQ(captured.scratch.download(), std::vector<float>(kN, 0.0f));
  }
  EXPECT_EQ(emu::kernels_launched(), kernels_before + 3 * 2 + 3 * 2);
}

TEST_F(GraphCapture, AGraphReplaysOnAnyStreamIncludingTheLegacyOneAndAfterItsGraphIsDestroyed) {
  Stream capturing;
  StepBuffers b;
  Graph graph(capture_advance_step(b.step.get(), b.values.get(), capturing.get()));
  GraphExec exec(graph.get());
  ASSERT_EQ(cudaGraphDestroy(graph.release()), cudaSuccess);
  ASSERT_EQ(cudaGraphLaunch(exec.get(), nullptr), cudaSuccess);
  Stream other(cudaStreamDefault);
  ASSERT_EQ(cudaGraphLaunch(exec.get(), other.get()), cudaSuccess);
  ASSERT_EQ(cudaGraphLaunch(exec.get(), cudaStreamPerThread), cudaSuccess);
  EXPECT_EQ(b.step.download(), std::vector<int>{3});
}

TEST_F(GraphCapture, AGraphLaunchOnACapturingStreamIsRecordedAsAChildGraph) {
  Stream stream;
  StepBuffers b;
  Graph inner(capture_advance_step(b.step.get(), b.values.get(), stream.get()));
  GraphExec inner_exec(inner.get());

  ASSERT_EQ(cudaStreamBeginCapture(stream.get(), cudaStreamCaptureModeGlobal), cudaSuccess);
  ASSERT_EQ(cudaGraphLaunch(inner_exec.get(), stream.get()), cudaSuccess);
  ASSERT_EQ(cudaGraphLaunch(inner_exec.get(), stream.get()), cudaSuccess);
  Graph outer;
  ASSERT_EQ(cudaStreamEndCapture(stream.get(), outer.out()), cudaSuccess);
  EXPECT_EQ(b.step.download(), std::vector<int>{0});
  GraphExec outer_exec(outer.get());
  ASSERT_EQ(cudaGraphLaunch(outer_exec.get(), stream.get()), cudaSuccess);
  EXPECT_EQ(b.step.download(), std::vector<int>{2});
  EXPECT_EQ(b.values.download(), [] {
    std::vector<float> v = initial_values();
    for (float& x : v) x += 1.0f + 2.0f;
    return v;
  }());
}

TEST_F(GraphCapture, BeginEndAndStatusErrors) {
  Stream stream;
  cudaGraph_t graph = nullptr;
  EXPECT_EQ(cudaStreamEndCapture(stream.get(), &graph), cudaErrorIllegalState);
  EXPECT_EQ(cudaGetLastError(), cudaErrorIllegalState);
  EXPECT_EQ(cudaStreamBeginCapture(nullptr, cudaStreamCaptureModeGlobal),
            cudaErrorStreamCaptureUnsupported);
  EXPECT_EQ(cudaStreamBeginCapture(cudaStreamLegacy, cudaStreamCaptureModeGlobal),
            cudaErrorStreamCaptureUnsupported);
  cudaGetLastError();

  ASSERT_EQ(cudaStreamBeginCapture(stream.get(), cudaStreamCaptureModeThreadLocal), cudaSuccess);
  EXPECT_EQ(cudaStreamBeginCapture(stream.get(), cudaStreamCaptureModeGlobal),
            cudaErrorIllegalState);
  cudaStreamCaptureStatus status = cudaStreamCaptureStatusNone;
  unsigned long long id = 0;
  ASSERT_EQ(cudaStreamGetCaptureInfo(stream.get(), &status, &id), cudaSuccess);
  EXPECT_EQ(status, cudaStreamCaptureStatusActive);
  EXPECT_NE(id, 0u);
  cudaGraph_t being_built = nullptr;
  EXPECT_EQ(cudaStreamGetCaptureInfo(stream.get(), &status, &id, &being_built),
            cudaErrorNotSupported);
  EXPECT_EQ(cudaStreamGetCaptureInfo(stream.get(), nullptr), cudaErrorInvalidValue);
  EXPECT_EQ(cudaStreamIsCapturing(stream.get(), nullptr), cudaErrorInvalidValue);
  EXPECT_EQ(cudaStreamEndCapture(stream.get(), nullptr), cudaErrorInvalidValue);
  EXPECT_EQ(capture_status(stream.get()), cudaStreamCaptureStatusActive)
      << "argument errors of the capture calls do not invalidate the capture";
  ASSERT_EQ(cudaStreamEndCapture(stream.get(), &graph), cudaSuccess);
  ASSERT_EQ(cudaStreamBeginCapture(stream.get(), cudaStreamCaptureModeGlobal), cudaSuccess);
  unsigned long long second_id = 0;
  ASSERT_EQ(cudaStreamGetCaptureInfo(stream.get(), &status, &second_id), cudaSuccess);
  EXPECT_NE(second_id, id) << "capture ids are unique";
  cudaGraph_t empty = nullptr;
  ASSERT_EQ(cudaStreamEndCapture(stream.get(), &empty), cudaSuccess);
  EXPECT_EQ(cudaGraphDestroy(graph), cudaSuccess);
  EXPECT_EQ(cudaGraphDestroy(empty), cudaSuccess);
  cudaGetLastError();
}

TEST_F(GraphCapture, DestroyedAndInvalidGraphsAndExecutablesAreRefused) {
  Stream stream;
  StepBuffers b;
  cudaGraph_t graph = capture_advance_step(b.step.get(), b.values.get(), stream.get());
  ASSERT_NE(graph, nullptr);
  cudaGraphExec_t exec = nullptr;
  EXPECT_EQ(cudaGraphInstantiate(nullptr, graph, 0), cudaErrorInvalidValue);
  EXPECT_EQ(cudaGraphInstantiate(&exec, nullptr, 0), cudaErrorInvalidValue);
  EXPECT_EQ(cudaGraphInstantiate(&exec, graph, cudaGraphInstantiateFlagUpload),
            cudaErrorInvalidValue);
  EXPECT_EQ(cudaGraphInstantiate(&exec, graph, cudaGraphInstantiateFlagDeviceLaunch),
            cudaErrorNotSupported);
  EXPECT_EQ(cudaGraphInstantiate(&exec, graph, 1ull << 40), cudaErrorInvalidValue);
  ASSERT_EQ(cudaGraphInstantiate(&exec, graph, cudaGraphInstantiateFlagAutoFreeOnLaunch),
            cudaSuccess);
  ASSERT_EQ(cudaGraphDestroy(graph), cudaSuccess);
  EXPECT_EQ(cudaGraphDestroy(graph), cudaErrorInvalidValue);
  cudaGraphExec_t second = nullptr;
  EXPECT_EQ(cudaGraphInstantiate(&second, graph, 0), cudaErrorInvalidValue);

  cudaStream_t made = nullptr;
  ASSERT_EQ(cudaStreamCreate(&made), cudaSuccess);
  ASSERT_EQ(cudaStreamDestroy(made), cudaSuccess);
  EXPECT_EQ(cudaGraphLaunch(exec, made), cudaErrorInvalidResourceHandle);
  ASSERT_EQ(cudaGraphLaunch(exec, stream.get()), cudaSuccess);
  ASSERT_EQ(cudaGraphExecDestroy(exec), cudaSuccess);
  EXPECT_EQ(cudaGraphLaunch(exec, stream.get()), cudaErrorInvalidValue);
  EXPECT_EQ(cudaGraphExecDestroy(exec), cudaErrorInvalidValue);
  EXPECT_EQ(b.step.download(), std::vector<int>{1}) << "only the valid launch ran";
  cudaGetLastError();
}

// A replay reads device memory as it is then: memory freed since the capture is a fault naming
// the work and the argument, and the nodes after it do not run, as on a GPU.
TEST_F(GraphCapture, MemoryFreedAfterTheCaptureIsAFaultAtReplay) {
  Stream stream;
  StepBuffers b;
  auto doomed = std::make_unique<DeviceBuffer<float>>(static_cast<std::size_t>(kN));
  ASSERT_EQ(cudaStreamBeginCapture(stream.get(), cudaStreamCaptureModeGlobal), cudaSuccess);
  ASSERT_EQ(advance_step(b.step.get(), doomed->get(), kN, stream.get()), cudaSuccess);
  ASSERT_EQ(cudaMemsetAsync(b.scratch.get(), 0, b.scratch.bytes(), stream.get()), cudaSuccess);
  testing::internal::CaptureStderr();
  const cudaError_t fault = replay_after_freeing(stream.get(), doomed);
  const std::string printed = testing::internal::GetCapturedStderr();
  EXPECT_EQ(fault, cudaErrorIllegalAddress);
  const std::string text = cudaGetErrorString(fault);
  EXPECT_CONTAINS(text, "argument 2 of kernel advance_step_kernel");
  EXPECT_CONTAINS(text, "freed since");
  EXPECT_CONTAINS(printed, "graph launch stopped at node 1 of 2");
  EXPECT_EQ(b.step.download(), std::vector<int>{0});
  for (const float v : b.scratch.download()) EXPECT_TRUE(std::isnan(v)) << "node 2 ran";
  cudaGetLastError();
}

TEST_F(GraphCapture, ACopyIntoMemoryFreedAfterTheCaptureIsAFaultNamingTheCopy) {
  Stream stream;
  DeviceBuffer<float> source(std::vector<float>(kN, 3.0f));
  auto target = std::make_unique<DeviceBuffer<float>>(static_cast<std::size_t>(kN));
  ASSERT_EQ(cudaStreamBeginCapture(stream.get(), cudaStreamCaptureModeGlobal), cudaSuccess);
  ASSERT_EQ(cudaMemcpyAsync(target->get(), source.get(), source.bytes(), cudaMemcpyDeviceToDevice,
                            stream.get()),
            cudaSuccess);
  testing::internal::CaptureStderr();
  const cudaError_t fault = replay_after_freeing(stream.get(), target);
  testing::internal::GetCapturedStderr();
  EXPECT_EQ(fault, cudaErrorIllegalAddress);
  EXPECT_CONTAINS(cudaGetErrorString(fault), "cudaMemcpyAsync replayed from a graph: argument dst");
  cudaGetLastError();
}

// Redzones are checked after every replayed kernel, as after a direct launch.
TEST_F(GraphCapture, AReplayedKernelWritingPastItsAllocationIsCaughtByTheRedzoneCheck) {
#if defined(KILN_EMU_ASAN)
  GTEST_SKIP() << "under AddressSanitizer device memory is exact-size and ASan itself reports "
                  "this write (heap-buffer-overflow) and stops the process";
#endif
  Stream stream;
  DeviceBuffer<float> out(1000);
  ASSERT_EQ(cudaStreamBeginCapture(stream.get(), cudaStreamCaptureModeGlobal), cudaSuccess);
  ASSERT_EQ(write_one_past_the_end(out.get(), 1000, stream.get()), cudaSuccess)
      << "nothing runs, so nothing is caught, at the capture";
  Graph graph;
  ASSERT_EQ(cudaStreamEndCapture(stream.get(), graph.out()), cudaSuccess);
  GraphExec exec(graph.get());
  testing::internal::CaptureStderr();
  ASSERT_EQ(cudaGraphLaunch(exec.get(), stream.get()), cudaSuccess);
  const std::string printed = testing::internal::GetCapturedStderr();
  const cudaError_t fault = cudaStreamSynchronize(stream.get());
  EXPECT_EQ(fault, cudaErrorIllegalAddress);
  EXPECT_CONTAINS(cudaGetErrorString(fault), "after kernel write_one_past_the_end_kernel");
  EXPECT_CONTAINS(printed, "past the end of a 4000-byte device allocation");
  EXPECT_CONTAINS(printed, "graph launch stopped at node 1 of 1");
  testing::internal::CaptureStderr();
  out.free_now();  // the damaged redzone is reported once more, at the free
  testing::internal::GetCapturedStderr();
  EXPECT_EQ(cudaGetLastError(), cudaErrorIllegalAddress);
}

// A launch error during capture is the launch's error, as on a GPU, and invalidates the capture.
TEST_F(GraphCapture, ABadLaunchConfigurationFailsAtTheLaunchAndInvalidatesTheCapture) {
  Stream stream;
  DeviceBuffer<float> out(64);
  ASSERT_EQ(cudaStreamBeginCapture(stream.get(), cudaStreamCaptureModeGlobal), cudaSuccess);
  testing::internal::CaptureStderr();
  EXPECT_EQ(launch_with(dim3(1), dim3(2048), 0, out.get(), stream.get()),
            cudaErrorInvalidConfiguration);
  EXPECT_EQ(launch_with(dim3(1), dim3(32), 0, out.get(), stream.get()),
            cudaErrorStreamCaptureInvalidated)
      << "further use of the stream fails until the capture ends";
  const std::string printed = testing::internal::GetCapturedStderr();
  EXPECT_CONTAINS(printed, "is invalidated by a failed call");
  expect_invalidated_end(stream.get());
  EXPECT_EQ(launch_with(dim3(1), dim3(32), 0, out.get(), stream.get()), cudaSuccess);
  EXPECT_EQ(out.download()[0], 1.0f);
}

TEST_F(GraphCapture, AHostPointerArgumentFailsAtTheLaunchAndInvalidatesTheCapture) {
  Stream stream;
  std::vector<float> host(64);
  ASSERT_EQ(cudaStreamBeginCapture(stream.get(), cudaStreamCaptureModeGlobal), cudaSuccess);
  EXPECT_EQ(launch_with(dim3(1), dim3(32), 0, host.data(), stream.get()), cudaErrorIllegalAddress);
  testing::internal::CaptureStderr();
  expect_invalidated_end(stream.get());
  testing::internal::GetCapturedStderr();
}

}  // namespace
}  // namespace kiln::emu_test
