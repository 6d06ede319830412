// One graph holding a whole step of mixed work, each piece reading what the one before wrote:
// a memset, a kernel that advances a step counter kept in device memory, a cuBLAS GEMM on its
// output, a device-to-device copy, a cuDNN convolution on the copy. Captured, nothing runs; every
// replay equals the same step run eagerly, bit for bit, and advances the counter.
#include <cublas_v2.h>
#include <cudnn.h>
#include <gtest/gtest.h>

#include <cstdint>
#include <vector>

#include "emulator.h"
#include "graph_test_support.h"
#include "library_standins_support.h"
#include "planted_kernels.h"

namespace kiln::emu_test {
namespace {

constexpr int kRows = 6, kInner = 8, kCols = 4;  // A (6 x 8) from the kernel, B (8 x 4), C = A B
constexpr int kFilters = 2;

// The buffers, handles and descriptors of one step; C (6 x 4, column-major) is copied into an
// NHWC image of 1 x 6 x 4 x 1 for a 3 x 3 convolution with padding 1.
class MixedStep {
 public:
  MixedStep()
      : a_(std::vector<float>(kRows * kInner, 0.5f)),
        b_(random_floats(kInner * kCols, 61)),
        filter_(random_floats(kFilters * 9, 62)) {
    EXPECT_EQ(cudaMemset(step_.get(), 0, sizeof(int)), cudaSuccess);
    EXPECT_EQ(cublasCreate(&blas_), CUBLAS_STATUS_SUCCESS);
    EXPECT_EQ(cudnnSetTensor4dDescriptor(x_desc_.get(), CUDNN_TENSOR_NHWC, CUDNN_DATA_FLOAT, 1, 1,
                                         kRows, kCols),
              CUDNN_STATUS_SUCCESS);
    EXPECT_EQ(cudnnSetTensor4dDescriptor(y_desc_.get(), CUDNN_TENSOR_NHWC, CUDNN_DATA_FLOAT, 1,
                                         kFilters, kRows, kCols),
              CUDNN_STATUS_SUCCESS);
    EXPECT_EQ(cudnnSetFilter4dDescriptor(w_desc_.get(), CUDNN_DATA_FLOAT, CUDNN_TENSOR_NHWC,
                                         kFilters, 1, 3, 3),
              CUDNN_STATUS_SUCCESS);
    EXPECT_EQ(cudnnSetConvolution2dDescriptor(conv_.get(), 1, 1, 1, 1, 1, 1,
                                              CUDNN_CROSS_CORRELATION, CUDNN_DATA_FLOAT),
              CUDNN_STATUS_SUCCESS);
  }
  ~MixedStep() { cublasDestroy(blas_); }
  MixedStep(const MixedStep&) = delete;
  MixedStep& operator=(const MixedStep&) = delete;

  void queue(cudaStream_t stream) {
    ASSERT_EQ(cublasSetStream(blas_, stream), CUBLAS_STATUS_SUCCESS);
    ASSERT_EQ(cudnnSetStream(dnn_.get(), stream), CUDNN_STATUS_SUCCESS);
    ASSERT_EQ(cudaMemsetAsync(y_.get(), 0, y_.bytes(), stream), cudaSuccess);
    ASSERT_EQ(advance_step(step_.get(), a_.get(), kRows * kInner, stream), cudaSuccess);
    const float one = 1.0f, zero = 0.0f;
    ASSERT_EQ(cublasGemmEx(blas_, CUBLAS_OP_N, CUBLAS_OP_N, kRows, kCols, kInner, &one, a_.get(),
                           CUDA_R_32F, kRows, b_.get(), CUDA_R_32F, kInner, &zero, c_.get(),
                           CUDA_R_32F, kRows, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT),
              CUBLAS_STATUS_SUCCESS);
    ASSERT_EQ(cudaMemcpyAsync(image_.get(), c_.get(), c_.bytes(), cudaMemcpyDeviceToDevice, stream),
              cudaSuccess);
    ASSERT_EQ(cudnnConvolutionForward(dnn_.get(), &one, x_desc_.get(), image_.get(), w_desc_.get(),
                                      filter_.get(), conv_.get(),
                                      CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_GEMM, nullptr, 0, &one,
                                      y_desc_.get(), y_.get()),
              CUDNN_STATUS_SUCCESS)
        << last_cudnn_error();
  }

  int step() const { return step_.download()[0]; }
  std::vector<float> output() const { return y_.download(); }

 private:
  DeviceBuffer<int> step_{1};
  DeviceFloats a_, b_, filter_;
  DeviceFloats c_{kRows * kCols}, image_{kRows * kCols}, y_{kRows * kCols * kFilters};
  cublasHandle_t blas_ = nullptr;
  Handle dnn_;
  TensorDesc x_desc_, y_desc_;
  FilterDesc w_desc_;
  ConvDesc conv_;
};

TEST(GraphCaptureStep, EveryReplayOfAMixedStepEqualsTheStepRunEagerly) {
  Stream capturing, eager_stream;
  MixedStep captured, eager;
  const std::uint64_t kernels_before = emu::kernels_launched();
  ASSERT_EQ(cudaStreamBeginCapture(capturing.get(), cudaStreamCaptureModeGlobal), cudaSuccess);
  captured.queue(capturing.get());
  Graph graph;
  ASSERT_EQ(cudaStreamEndCapture(capturing.get(), graph.out()), cudaSuccess);
  EXPECT_EQ(emu::kernels_launched(), kernels_before);
  EXPECT_EQ(captured.step(), 0);
  EXPECT_TRUE(all_bytes_ff(captured.output())) << "the captured step ran";
  GraphExec exec(graph.get());
  std::vector<float> previous;
  for (int replay = 1; replay <= 3; ++replay) {
    SCOPED_TRACE(testing::Message() << "replay " << replay);
    ASSERT_EQ(cudaGraphLaunch(exec.get(), capturing.get()), cudaSuccess);
    eager.queue(eager_stream.get());
    ASSERT_EQ(cudaStreamSynchronize(capturing.get()), cudaSuccess);
    EXPECT_EQ(captured.step(), replay);
    EXPECT_EQ(captured.output(), eager.output());
    EXPECT_NE(captured.output(), previous) << "the step's output moves with the counter";
    previous = captured.output();
  }
  EXPECT_EQ(cudaGetLastError(), cudaSuccess);
}

}  // namespace
}  // namespace kiln::emu_test
