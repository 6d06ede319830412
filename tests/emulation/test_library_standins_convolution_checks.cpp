// The argument checks of the cuDNN stand-in's convolution calls: descriptors that do not fit
// together, destroyed descriptors and handles, data pointers that are not device memory covering
// the tensor (BAD_PARAM plus a fault that cudaGetLastError reports), host scalars, in-place use
// and a destroyed stream.
#include <cudnn.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "library_standins_convolution_bench.h"

namespace kiln::emu_test {
namespace {

constexpr ConvShape kShape{2, 5, 6, 3, 4, 3, 2, 1, 1, 1, 1};

class CudnnConvolutionChecks : public ::testing::Test {
 protected:
  void TearDown() override {
    EXPECT_EQ(take_cuda_error(), cudaSuccess) << "a test left a fault unchecked";
  }

  ConvolutionBench bench_{kShape, CUDNN_DEFAULT_MATH};
  DeviceFloats y_{kShape.y_count()}, dx_{kShape.x_count()}, dw_{kShape.w_count()};
  const float one_ = 1.0f, zero_ = 0.0f;

  cudnnStatus_t forward(cudnnTensorDescriptor_t x_desc, const void* x,
                        cudnnTensorDescriptor_t y_desc, void* y, const void* alpha = nullptr) {
    return cudnnConvolutionForward(
        bench_.handle(), alpha != nullptr ? alpha : &one_, x_desc, x, bench_.w_desc(), bench_.w(),
        bench_.conv(), CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_GEMM, nullptr, 0, &zero_, y_desc, y);
  }
};

TEST_F(CudnnConvolutionChecks, AnOutputDescriptorOfTheWrongShapeIsBadParamEverywhere) {
  TensorDesc wrong;
  ASSERT_EQ(cudnnSetTensor4dDescriptor(wrong.get(), CUDNN_TENSOR_NHWC, CUDNN_DATA_FLOAT, kShape.n,
                                       kShape.k, kShape.oh() + 1, kShape.ow()),
            CUDNN_STATUS_SUCCESS);
  EXPECT_EQ(forward(bench_.x_desc(), bench_.x(), wrong.get(), y_.get()), CUDNN_STATUS_BAD_PARAM);
  EXPECT_NE(last_cudnn_error().find("yDesc"), std::string::npos) << last_cudnn_error();
  EXPECT_EQ(
      cudnnConvolutionBackwardData(bench_.handle(), &one_, bench_.w_desc(), bench_.w(), wrong.get(),
                                   bench_.dy(), bench_.conv(), CUDNN_CONVOLUTION_BWD_DATA_ALGO_0,
                                   nullptr, 0, &zero_, bench_.x_desc(), dx_.get()),
      CUDNN_STATUS_BAD_PARAM);
  EXPECT_EQ(cudnnConvolutionBackwardFilter(bench_.handle(), &one_, bench_.x_desc(), bench_.x(),
                                           wrong.get(), bench_.dy(), bench_.conv(),
                                           CUDNN_CONVOLUTION_BWD_FILTER_ALGO_0, nullptr, 0, &zero_,
                                           bench_.w_desc(), dw_.get()),
            CUDNN_STATUS_BAD_PARAM);
  std::size_t bytes = 0;
  EXPECT_EQ(cudnnGetConvolutionForwardWorkspaceSize(bench_.handle(), bench_.x_desc(),
                                                    bench_.w_desc(), bench_.conv(), wrong.get(),
                                                    CUDNN_CONVOLUTION_FWD_ALGO_GEMM, &bytes),
            CUDNN_STATUS_BAD_PARAM);
  int returned = 0;
  cudnnConvolutionFwdAlgoPerf_t perf[8];
  EXPECT_EQ(
      cudnnGetConvolutionForwardAlgorithm_v7(bench_.handle(), bench_.x_desc(), bench_.w_desc(),
                                             bench_.conv(), wrong.get(), 8, &returned, perf),
      CUDNN_STATUS_BAD_PARAM);
  EXPECT_TRUE(all_bytes_ff(y_.download())) << "y (fresh from cudaMalloc) was not touched";
}

TEST_F(CudnnConvolutionChecks, ChannelsOfXAndTheFilterMustAgree) {
  TensorDesc x4;
  ASSERT_EQ(cudnnSetTensor4dDescriptor(x4.get(), CUDNN_TENSOR_NHWC, CUDNN_DATA_FLOAT, kShape.n,
                                       kShape.c + 1, kShape.h, kShape.w),
            CUDNN_STATUS_SUCCESS);
  DeviceFloats x(kShape.x_count() * 2);
  EXPECT_EQ(forward(x4.get(), x.get(), bench_.y_desc(), y_.get()), CUDNN_STATUS_BAD_PARAM);
  EXPECT_NE(last_cudnn_error().find("channels"), std::string::npos) << last_cudnn_error();
}

TEST_F(CudnnConvolutionChecks, DestroyedOrUnsetDescriptorsAndHandlesAreBadParam) {
  TensorDesc unset;
  EXPECT_EQ(forward(unset.get(), bench_.x(), bench_.y_desc(), y_.get()), CUDNN_STATUS_BAD_PARAM);
  cudnnConvolutionDescriptor_t conv = nullptr;
  ASSERT_EQ(cudnnCreateConvolutionDescriptor(&conv), CUDNN_STATUS_SUCCESS);
  ASSERT_EQ(cudnnSetConvolution2dDescriptor(conv, 1, 1, 1, 1, 1, 1, CUDNN_CROSS_CORRELATION,
                                            CUDNN_DATA_FLOAT),
            CUDNN_STATUS_SUCCESS);
  ASSERT_EQ(cudnnDestroyConvolutionDescriptor(conv), CUDNN_STATUS_SUCCESS);
  EXPECT_EQ(
      cudnnConvolutionForward(bench_.handle(), &one_, bench_.x_desc(), bench_.x(), bench_.w_desc(),
                              bench_.w(), conv, CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_GEMM, nullptr,
                              0, &zero_, bench_.y_desc(), y_.get()),
      CUDNN_STATUS_BAD_PARAM);
  EXPECT_NE(last_cudnn_error().find("convDesc"), std::string::npos) << last_cudnn_error();
  EXPECT_EQ(
      cudnnConvolutionForward(nullptr, &one_, bench_.x_desc(), bench_.x(), bench_.w_desc(),
                              bench_.w(), bench_.conv(), CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_GEMM,
                              nullptr, 0, &zero_, bench_.y_desc(), y_.get()),
      CUDNN_STATUS_BAD_PARAM);
}

TEST_F(CudnnConvolutionChecks, HostPointersAndShortRangesAreBadParamAndAFault) {
  std::vector<float> host_x(kShape.x_count(), 1.0f);
  EXPECT_EQ(forward(bench_.x_desc(), host_x.data(), bench_.y_desc(), y_.get()),
            CUDNN_STATUS_BAD_PARAM);
  EXPECT_EQ(take_cuda_error(), cudaErrorIllegalAddress);
  std::string message = last_cudnn_error();
  EXPECT_EQ(message.rfind("cudnnConvolutionForward: argument x ", 0), 0u) << message;
  EXPECT_NE(std::string(cudaGetErrorString(cudaErrorIllegalAddress)).find("argument x"),
            std::string::npos)
      << "the fault's message reaches cudaGetErrorString";

  DeviceFloats short_y(kShape.y_count() - 1);
  EXPECT_EQ(forward(bench_.x_desc(), bench_.x(), bench_.y_desc(), short_y.get()),
            CUDNN_STATUS_BAD_PARAM);
  EXPECT_EQ(take_cuda_error(), cudaErrorIllegalAddress);
  DeviceFloats short_dy(kShape.y_count() - 1);
  EXPECT_EQ(cudnnConvolutionBackwardFilter(bench_.handle(), &one_, bench_.x_desc(), bench_.x(),
                                           bench_.y_desc(), short_dy.get(), bench_.conv(),
                                           CUDNN_CONVOLUTION_BWD_FILTER_ALGO_0, nullptr, 0, &zero_,
                                           bench_.w_desc(), dw_.get()),
            CUDNN_STATUS_BAD_PARAM);
  EXPECT_EQ(take_cuda_error(), cudaErrorIllegalAddress);
  message = last_cudnn_error();
  EXPECT_EQ(message.rfind("cudnnConvolutionBackwardFilter: argument dy ", 0), 0u) << message;

  std::vector<float> host_workspace(4096);  // more than GEMM needs
  EXPECT_EQ(cudnnConvolutionForward(
                bench_.handle(), &one_, bench_.x_desc(), bench_.x(), bench_.w_desc(), bench_.w(),
                bench_.conv(), CUDNN_CONVOLUTION_FWD_ALGO_GEMM, host_workspace.data(),
                host_workspace.size() * sizeof(float), &zero_, bench_.y_desc(), y_.get()),
            CUDNN_STATUS_BAD_PARAM);
  EXPECT_EQ(take_cuda_error(), cudaErrorIllegalAddress);
  message = last_cudnn_error();
  EXPECT_NE(message.find("argument workSpace (host pointer"), std::string::npos) << message;
}

TEST_F(CudnnConvolutionChecks, AlphaAndBetaAreNonNullHostFloats) {
  EXPECT_EQ(cudnnConvolutionForward(bench_.handle(), nullptr, bench_.x_desc(), bench_.x(),
                                    bench_.w_desc(), bench_.w(), bench_.conv(),
                                    CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_GEMM, nullptr, 0, &zero_,
                                    bench_.y_desc(), y_.get()),
            CUDNN_STATUS_BAD_PARAM);
  EXPECT_EQ(forward(bench_.x_desc(), bench_.x(), bench_.y_desc(), y_.get(), bench_.x()),
            CUDNN_STATUS_BAD_PARAM);
  EXPECT_NE(last_cudnn_error().find("alpha"), std::string::npos) << last_cudnn_error();
}

TEST_F(CudnnConvolutionChecks, TheOutputMayNotOverlapAnInput) {
  DeviceFloats shared(kShape.y_count());
  ASSERT_GE(kShape.y_count(), kShape.x_count());
  EXPECT_EQ(cudnnConvolutionBackwardData(bench_.handle(), &one_, bench_.w_desc(), bench_.w(),
                                         bench_.y_desc(), shared.get(), bench_.conv(),
                                         CUDNN_CONVOLUTION_BWD_DATA_ALGO_0, nullptr, 0, &zero_,
                                         bench_.x_desc(), shared.get()),
            CUDNN_STATUS_BAD_PARAM);
  EXPECT_NE(last_cudnn_error().find("overlaps"), std::string::npos) << last_cudnn_error();
}

TEST_F(CudnnConvolutionChecks, ADestroyedStreamFailsTheLaunch) {
  cudaStream_t stream = nullptr;
  ASSERT_EQ(cudaStreamCreate(&stream), cudaSuccess);
  ASSERT_EQ(cudnnSetStream(bench_.handle(), stream), CUDNN_STATUS_SUCCESS);
  EXPECT_EQ(forward(bench_.x_desc(), bench_.x(), bench_.y_desc(), y_.get()), CUDNN_STATUS_SUCCESS);
  ASSERT_EQ(cudaStreamDestroy(stream), cudaSuccess);
  EXPECT_EQ(forward(bench_.x_desc(), bench_.x(), bench_.y_desc(), y_.get()),
            CUDNN_STATUS_EXECUTION_FAILED);
  ASSERT_EQ(cudnnSetStream(bench_.handle(), nullptr), CUDNN_STATUS_SUCCESS);
}

}  // namespace
}  // namespace kiln::emu_test
