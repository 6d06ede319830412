// What a stream capture forbids (Note [Stream capture] in cuda/emulation/stream_capture.cpp):
// each call is refused with the documented error, says so on stderr naming the call, and
// invalidates the capture, which then ends with cudaErrorStreamCaptureInvalidated and no graph.
#include <cuda_runtime_api.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "graph_test_support.h"
#include "planted_kernels.h"

namespace kiln::emu_test {
namespace {

class ForbiddenDuringCapture : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(cudaStreamBeginCapture(stream_.get(), cudaStreamCaptureModeGlobal), cudaSuccess);
    testing::internal::CaptureStderr();
  }
  void TearDown() override {
    if (capture_status(stream_.get()) != cudaStreamCaptureStatusNone) {
      cudaGraph_t graph = nullptr;
      cudaStreamEndCapture(stream_.get(), &graph);
      if (graph != nullptr) cudaGraphDestroy(graph);
    }
    cudaGetLastError();
  }

  // The call's error was `code`, its stderr line names `call`, and the capture is invalidated.
  void expect_refused(cudaError_t returned, cudaError_t code, const char* call) {
    const std::string printed = testing::internal::GetCapturedStderr();
    EXPECT_EQ(returned, code);
    EXPECT_EQ(cudaGetLastError(), code);
    EXPECT_CONTAINS(printed, call);
    expect_invalidated_end(stream_.get());
  }

  Stream stream_;  // non-blocking
  DeviceBuffer<float> device_{64};
  std::vector<float> host_ = std::vector<float>(64, 1.0f);
};

TEST_F(ForbiddenDuringCapture, SynchronisingTheCapturingStream) {
  expect_refused(cudaStreamSynchronize(stream_.get()), cudaErrorStreamCaptureUnsupported,
                 "cudaStreamSynchronize");
}

TEST_F(ForbiddenDuringCapture, SynchronisingTheDevice) {
  expect_refused(cudaDeviceSynchronize(), cudaErrorStreamCaptureUnsupported,
                 "cudaDeviceSynchronize");
}

TEST_F(ForbiddenDuringCapture, ASynchronousCopy) {
  expect_refused(cudaMemcpy(host_.data(), device_.get(), device_.bytes(), cudaMemcpyDeviceToHost),
                 cudaErrorStreamCaptureUnsupported, "cudaMemcpy");
}

TEST_F(ForbiddenDuringCapture, AnAsynchronousCopyFromPageableHostMemory) {
  expect_refused(cudaMemcpyAsync(device_.get(), host_.data(), device_.bytes(),
                                 cudaMemcpyHostToDevice, stream_.get()),
                 cudaErrorStreamCaptureUnsupported, "pageable host memory");
}

TEST_F(ForbiddenDuringCapture, AnAsynchronousCopyToPageableHostMemory) {
  expect_refused(cudaMemcpyAsync(host_.data(), device_.get(), device_.bytes(), cudaMemcpyDefault,
                                 stream_.get()),
                 cudaErrorStreamCaptureUnsupported, "cudaMemcpyAsync (default)");
}

TEST_F(ForbiddenDuringCapture, CudaMallocInGlobalMode) {
  void* memory = nullptr;
  expect_refused(cudaMalloc(&memory, 256), cudaErrorStreamCaptureUnsupported, "cudaMalloc");
  EXPECT_EQ(memory, nullptr);
}

TEST_F(ForbiddenDuringCapture, CudaFreeInGlobalMode) {
  void* memory = nullptr;
  testing::internal::GetCapturedStderr();
  cudaStreamCaptureMode mode = cudaStreamCaptureModeRelaxed;  // allocate it without a refusal
  ASSERT_EQ(cudaThreadExchangeStreamCaptureMode(&mode), cudaSuccess);
  ASSERT_EQ(cudaMalloc(&memory, 256), cudaSuccess);
  ASSERT_EQ(cudaThreadExchangeStreamCaptureMode(&mode), cudaSuccess);
  EXPECT_EQ(mode, cudaStreamCaptureModeRelaxed) << "the exchange gives back the previous mode";
  testing::internal::CaptureStderr();
  expect_refused(cudaFree(memory), cudaErrorStreamCaptureUnsupported, "cudaFree");
  EXPECT_EQ(cudaFree(memory), cudaSuccess) << "the refused cudaFree freed nothing";
}

TEST_F(ForbiddenDuringCapture, DestroyingTheCapturingStream) {
  expect_refused(cudaStreamDestroy(stream_.get()), cudaErrorStreamCaptureUnsupported,
                 "cudaStreamDestroy");
}

// The legacy stream is usable while only non-blocking streams capture: the work runs at once.
TEST_F(ForbiddenDuringCapture, TheLegacyStreamStillWorksWhileANonBlockingStreamCaptures) {
  EXPECT_EQ(launch_with(dim3(2), dim3(32), 0, device_.get(), nullptr), cudaSuccess);
  EXPECT_EQ(cudaMemset(device_.get(), 0, 4), cudaSuccess);
  cudaStreamCaptureStatus status = cudaStreamCaptureStatusActive;
  EXPECT_EQ(cudaStreamIsCapturing(nullptr, &status), cudaSuccess);
  EXPECT_EQ(status, cudaStreamCaptureStatusNone);
  testing::internal::GetCapturedStderr();
  EXPECT_EQ(capture_status(stream_.get()), cudaStreamCaptureStatusActive);
  std::vector<float> expected(64, 1.0f);
  expected[0] = 0.0f;
  cudaGraph_t graph = nullptr;
  ASSERT_EQ(cudaStreamEndCapture(stream_.get(), &graph), cudaSuccess);
  EXPECT_EQ(cudaGraphDestroy(graph), cudaSuccess);
  EXPECT_EQ(device_.download(), expected);
}

// While a blocking stream captures, any use of the legacy stream would depend on the capture.
class LegacyStreamDuringBlockingCapture : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(cudaStreamBeginCapture(blocking_.get(), cudaStreamCaptureModeRelaxed), cudaSuccess);
    testing::internal::CaptureStderr();
  }
  void TearDown() override {
    testing::internal::GetCapturedStderr();
    cudaGetLastError();
  }
  void expect_implicit(cudaError_t returned) {
    EXPECT_EQ(returned, cudaErrorStreamCaptureImplicit);
    expect_invalidated_end(blocking_.get());
  }

  Stream blocking_{cudaStreamDefault};
  DeviceBuffer<float> device_{64};
};

TEST_F(LegacyStreamDuringBlockingCapture, AKernelOnTheLegacyStream) {
  expect_implicit(launch_with(dim3(2), dim3(32), 0, device_.get(), nullptr));
}

TEST_F(LegacyStreamDuringBlockingCapture, ASynchronousMemsetAndCopy) {
  expect_implicit(cudaMemset(device_.get(), 0, device_.bytes()));
  std::vector<float> host(64);
  ASSERT_EQ(cudaStreamBeginCapture(blocking_.get(), cudaStreamCaptureModeRelaxed), cudaSuccess);
  expect_implicit(cudaMemcpy(host.data(), device_.get(), device_.bytes(), cudaMemcpyDeviceToHost));
}

TEST_F(LegacyStreamDuringBlockingCapture, QueryingTheLegacyStreamIsAnErrorButNoInvalidation) {
  cudaStreamCaptureStatus status = cudaStreamCaptureStatusNone;
  EXPECT_EQ(cudaStreamIsCapturing(cudaStreamLegacy, &status), cudaErrorStreamCaptureImplicit);
  EXPECT_EQ(capture_status(blocking_.get()), cudaStreamCaptureStatusActive);
  cudaGraph_t graph = nullptr;
  ASSERT_EQ(cudaStreamEndCapture(blocking_.get(), &graph), cudaSuccess);
  EXPECT_EQ(cudaGraphDestroy(graph), cudaSuccess);
}

TEST_F(LegacyStreamDuringBlockingCapture, SynchronisingTheLegacyStream) {
  expect_implicit(cudaStreamSynchronize(nullptr));
}

}  // namespace
}  // namespace kiln::emu_test
