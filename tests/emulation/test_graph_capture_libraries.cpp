// The cuBLAS and cuDNN stand-ins under stream capture: work on a handle bound to a capturing
// stream is recorded with its scalar values and descriptor contents (the caller may change or
// destroy them after the call, as with the real libraries), and each replay equals the naive
// references; Find, which synchronises, is refused; freed memory is a fault at replay.
#include <cublas_v2.h>
#include <cudnn.h>
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "graph_test_support.h"
#include "library_standins_references.h"
#include "library_standins_support.h"

namespace kiln::emu_test {
namespace {

class LibrariesUnderCapture : public ::testing::Test {
 protected:
  void SetUp() override { testing::internal::CaptureStderr(); }
  void TearDown() override {
    testing::internal::GetCapturedStderr();
    EXPECT_EQ(cudaGetLastError(), cudaSuccess) << "a test left an error unchecked";
  }
  cudaGraph_t end_capture() {
    cudaGraph_t graph = nullptr;
    EXPECT_EQ(cudaStreamEndCapture(stream_.get(), &graph), cudaSuccess);
    return graph;
  }

  Stream stream_;
};

class CublasHandle {
 public:
  explicit CublasHandle(cudaStream_t stream) {
    EXPECT_EQ(cublasCreate(&handle_), CUBLAS_STATUS_SUCCESS);
    EXPECT_EQ(cublasSetStream(handle_, stream), CUBLAS_STATUS_SUCCESS);
  }
  ~CublasHandle() { cublasDestroy(handle_); }
  CublasHandle(const CublasHandle&) = delete;
  CublasHandle& operator=(const CublasHandle&) = delete;
  cublasHandle_t get() const { return handle_; }

 private:
  cublasHandle_t handle_ = nullptr;
};

std::vector<float> to_floats(const std::vector<double>& values) {
  return std::vector<float>(values.begin(), values.end());
}

// C = alpha A B + C, replayed twice: alpha is the value at the call, C the memory of each replay.
TEST_F(LibrariesUnderCapture, ACublasGemmIsRecordedWithItsScalarsAndAccumulatesPerReplay) {
  const int m = 5, n = 4, k = 6;
  const auto a = random_floats(std::size_t(m) * k, 1);
  const auto b = random_floats(std::size_t(k) * n, 2);
  const auto c0 = random_floats(std::size_t(m) * n, 3);
  DeviceFloats da(a), db(b), dc(c0);
  CublasHandle handle(stream_.get());
  float alpha = 1.5f;
  float beta = 1.0f;
  ASSERT_EQ(cudaStreamBeginCapture(stream_.get(), cudaStreamCaptureModeGlobal), cudaSuccess);
  ASSERT_EQ(cublasGemmEx(handle.get(), CUBLAS_OP_N, CUBLAS_OP_N, m, n, k, &alpha, da.get(),
                         CUDA_R_32F, m, db.get(), CUDA_R_32F, k, &beta, dc.get(), CUDA_R_32F, m,
                         CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT),
            CUBLAS_STATUS_SUCCESS);
  Graph graph(end_capture());
  alpha = 99.0f;  // the graph keeps the value it was given
  beta = 0.0f;
  EXPECT_EQ(dc.download(), c0) << "the captured GEMM ran";
  GraphExec exec(graph.get());
  std::vector<float> expected = c0;
  for (int replay = 0; replay < 2; ++replay) {
    ASSERT_EQ(cudaGraphLaunch(exec.get(), stream_.get()), cudaSuccess);
    expected =
        to_floats(reference_gemm(false, false, m, n, k, 1.5, a, m, b, k, 1.0, expected, m, false));
    EXPECT_TRUE(all_close(dc.download(), std::vector<double>(expected.begin(), expected.end())));
  }
}

TEST_F(LibrariesUnderCapture, AGemmOnAFreedBufferIsAFaultAtReplayNamingTheArgument) {
  CublasHandle handle(stream_.get());
  DeviceFloats a(16), b(16);
  auto c = std::make_unique<DeviceFloats>(16);
  const float alpha = 1.0f, beta = 0.0f;
  ASSERT_EQ(cudaStreamBeginCapture(stream_.get(), cudaStreamCaptureModeGlobal), cudaSuccess);
  ASSERT_EQ(cublasGemmEx(handle.get(), CUBLAS_OP_N, CUBLAS_OP_N, 4, 4, 4, &alpha, a.get(),
                         CUDA_R_32F, 4, b.get(), CUDA_R_32F, 4, &beta, c->get(), CUDA_R_32F, 4,
                         CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT),
            CUBLAS_STATUS_SUCCESS);
  const cudaError_t fault = replay_after_freeing(stream_.get(), c);
  EXPECT_EQ(fault, cudaErrorIllegalAddress);
  EXPECT_CONTAINS(cudaGetErrorString(fault), "cublasGemmEx replayed from a graph: argument C");
  cudaGetLastError();
}

TEST_F(LibrariesUnderCapture, AHandleOnTheLegacyStreamDuringABlockingCaptureFails) {
  Stream blocking(cudaStreamDefault);
  CublasHandle handle(nullptr);
  DeviceFloats a(16), b(16), c(16);
  const float alpha = 1.0f, beta = 0.0f;
  ASSERT_EQ(cudaStreamBeginCapture(blocking.get(), cudaStreamCaptureModeGlobal), cudaSuccess);
  EXPECT_EQ(cublasGemmEx(handle.get(), CUBLAS_OP_N, CUBLAS_OP_N, 4, 4, 4, &alpha, a.get(),
                         CUDA_R_32F, 4, b.get(), CUDA_R_32F, 4, &beta, c.get(), CUDA_R_32F, 4,
                         CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT),
            CUBLAS_STATUS_EXECUTION_FAILED);
  EXPECT_CONTAINS(cublasGetStatusString(CUBLAS_STATUS_EXECUTION_FAILED),
                  "cudaErrorStreamCaptureImplicit");
  EXPECT_EQ(cudaGetLastError(), cudaErrorStreamCaptureImplicit);
  expect_invalidated_end(blocking.get());
}

constexpr ConvShape kConv{2, 5, 6, 3, 4, 3, 2, 1, 1, 1, 1};

// The descriptors of kConv: NHWC f32 tensors, FMA math.
struct ConvDescriptors {
  TensorDesc x, y;
  FilterDesc w;
  ConvDesc conv;
  ConvDescriptors() {
    const ConvShape& g = kConv;
    EXPECT_EQ(cudnnSetTensor4dDescriptor(x.get(), CUDNN_TENSOR_NHWC, CUDNN_DATA_FLOAT, g.n, g.c,
                                         g.h, g.w),
              CUDNN_STATUS_SUCCESS);
    EXPECT_EQ(cudnnSetTensor4dDescriptor(y.get(), CUDNN_TENSOR_NHWC, CUDNN_DATA_FLOAT, g.n, g.k,
                                         g.oh(), g.ow()),
              CUDNN_STATUS_SUCCESS);
    EXPECT_EQ(cudnnSetFilter4dDescriptor(w.get(), CUDNN_DATA_FLOAT, CUDNN_TENSOR_NHWC, g.k, g.c,
                                         g.r, g.s),
              CUDNN_STATUS_SUCCESS);
    EXPECT_EQ(cudnnSetConvolution2dDescriptor(conv.get(), g.pad_h, g.pad_w, g.stride_h, g.stride_w,
                                              1, 1, CUDNN_CROSS_CORRELATION, CUDNN_DATA_FLOAT),
              CUDNN_STATUS_SUCCESS);
    EXPECT_EQ(cudnnSetConvolutionMathType(conv.get(), CUDNN_FMA_MATH), CUDNN_STATUS_SUCCESS);
  }
};

// The device memory of one kConv forward convolution: random x and w, y fresh (poisoned).
struct ConvBuffers {
  std::vector<float> x = random_floats(kConv.x_count(), 11);
  std::vector<float> w = random_floats(kConv.w_count(), 12);
  DeviceFloats dx{x}, dw{w}, dy{kConv.y_count()};
};

// y = x (*) w with IMPLICIT_PRECOMP_GEMM (which needs a workspace) on the handle's stream.
cudnnStatus_t convolve_forward(cudnnHandle_t handle, const ConvDescriptors& d, const ConvBuffers& b,
                               const DeviceFloats& workspace) {
  const float alpha = 1.0f, beta = 0.0f;
  return cudnnConvolutionForward(handle, &alpha, d.x.get(), b.dx.get(), d.w.get(), b.dw.get(),
                                 d.conv.get(), CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_PRECOMP_GEMM,
                                 workspace.get(), workspace.bytes(), &beta, d.y.get(), b.dy.get());
}

// The descriptors are destroyed right after the call: the graph holds what they described.
TEST_F(LibrariesUnderCapture, ACudnnConvolutionIsRecordedWithItsDescriptorsContents) {
  ConvBuffers b;
  DeviceFloats workspace(1024);
  Handle handle;
  ASSERT_EQ(cudnnSetStream(handle.get(), stream_.get()), CUDNN_STATUS_SUCCESS);
  auto descriptors = std::make_unique<ConvDescriptors>();
  ASSERT_EQ(cudaStreamBeginCapture(stream_.get(), cudaStreamCaptureModeGlobal), cudaSuccess);
  ASSERT_EQ(convolve_forward(handle.get(), *descriptors, b, workspace), CUDNN_STATUS_SUCCESS)
      << last_cudnn_error();
  Graph graph(end_capture());
  descriptors.reset();
  EXPECT_TRUE(all_bytes_ff(b.dy.download())) << "the captured convolution ran";
  GraphExec exec(graph.get());
  ASSERT_EQ(cudaGraphLaunch(exec.get(), stream_.get()), cudaSuccess);
  EXPECT_TRUE(all_close(b.dy.download(), reference_forward(kConv, b.x, b.w, false)));
}

TEST_F(LibrariesUnderCapture, ACudnnWorkspaceFreedAfterTheCaptureIsAFaultAtReplay) {
  ConvBuffers b;
  auto workspace = std::make_unique<DeviceFloats>(1024);
  Handle handle;
  ASSERT_EQ(cudnnSetStream(handle.get(), stream_.get()), CUDNN_STATUS_SUCCESS);
  const ConvDescriptors descriptors;
  ASSERT_EQ(cudaStreamBeginCapture(stream_.get(), cudaStreamCaptureModeGlobal), cudaSuccess);
  ASSERT_EQ(convolve_forward(handle.get(), descriptors, b, *workspace), CUDNN_STATUS_SUCCESS)
      << last_cudnn_error();
  const cudaError_t fault = replay_after_freeing(stream_.get(), workspace);
  EXPECT_EQ(fault, cudaErrorIllegalAddress);
  EXPECT_CONTAINS(cudaGetErrorString(fault),
                  "cudnnConvolutionForward replayed from a graph: argument workSpace");
  EXPECT_TRUE(all_bytes_ff(b.dy.download())) << "the convolution ran";
  cudaGetLastError();
}

TEST_F(LibrariesUnderCapture, CudnnFindIsRefusedBecauseItSynchronises) {
  ConvBuffers b;
  Handle handle;
  ASSERT_EQ(cudnnSetStream(handle.get(), stream_.get()), CUDNN_STATUS_SUCCESS);
  const ConvDescriptors d;
  ASSERT_EQ(cudaStreamBeginCapture(stream_.get(), cudaStreamCaptureModeGlobal), cudaSuccess);
  int returned = 0;
  cudnnConvolutionFwdAlgoPerf_t results[8];
  EXPECT_EQ(cudnnFindConvolutionForwardAlgorithmEx(handle.get(), d.x.get(), b.dx.get(), d.w.get(),
                                                   b.dw.get(), d.conv.get(), d.y.get(), b.dy.get(),
                                                   8, &returned, results, nullptr, 0),
            CUDNN_STATUS_EXECUTION_FAILED_CUDART);
  EXPECT_CONTAINS(last_cudnn_error(), "cudaErrorStreamCaptureUnsupported");
  EXPECT_EQ(cudaGetLastError(), cudaErrorStreamCaptureUnsupported);
  expect_invalidated_end(stream_.get());
  EXPECT_TRUE(all_bytes_ff(b.dy.download())) << "Find ran nothing";
}

TEST_F(LibrariesUnderCapture, ACudnnPoolingIsRecordedWithItsDescriptorsContents) {
  const PoolShape g{1, 4, 5, 2, 2, 2, 0, 0, 2, 2};
  const auto x = random_floats(g.x_count(), 21);
  DeviceFloats dx(x), dy(g.y_count());
  Handle handle;
  ASSERT_EQ(cudnnSetStream(handle.get(), stream_.get()), CUDNN_STATUS_SUCCESS);
  TensorDesc x_desc, y_desc;
  auto pool = std::make_unique<PoolDesc>();
  ASSERT_EQ(cudnnSetTensor4dDescriptor(x_desc.get(), CUDNN_TENSOR_NHWC, CUDNN_DATA_FLOAT, g.n, g.c,
                                       g.h, g.w),
            CUDNN_STATUS_SUCCESS);
  ASSERT_EQ(cudnnSetTensor4dDescriptor(y_desc.get(), CUDNN_TENSOR_NHWC, CUDNN_DATA_FLOAT, g.n, g.c,
                                       g.oh(), g.ow()),
            CUDNN_STATUS_SUCCESS);
  ASSERT_EQ(cudnnSetPooling2dDescriptor(pool->get(), CUDNN_POOLING_AVERAGE_COUNT_INCLUDE_PADDING,
                                        CUDNN_NOT_PROPAGATE_NAN, g.window_h, g.window_w, g.pad_h,
                                        g.pad_w, g.stride_h, g.stride_w),
            CUDNN_STATUS_SUCCESS);
  const float alpha = 1.0f, beta = 0.0f;
  ASSERT_EQ(cudaStreamBeginCapture(stream_.get(), cudaStreamCaptureModeGlobal), cudaSuccess);
  ASSERT_EQ(cudnnPoolingForward(handle.get(), pool->get(), &alpha, x_desc.get(), dx.get(), &beta,
                                y_desc.get(), dy.get()),
            CUDNN_STATUS_SUCCESS);
  Graph graph(end_capture());
  pool.reset();
  GraphExec exec(graph.get());
  ASSERT_EQ(cudaGraphLaunch(exec.get(), stream_.get()), cudaSuccess);
  EXPECT_TRUE(all_close(dy.download(), reference_pool_forward(g, PoolKind::average_include, x)));
}

}  // namespace
}  // namespace kiln::emu_test
