// The cuDNN stand-in's handles, descriptors and error reporting (cuda/emulation/cudnn_handles.cpp,
// cudnn_descriptors.cpp, cudnn_convolution_problem.cpp), called through the real cudnn.h.
#include <cudnn.h>
#include <gtest/gtest.h>

#include <array>
#include <string>

#include "library_standins_support.h"

namespace kiln::emu_test {
namespace {

class CudnnObjects : public ::testing::Test {
 protected:
  void TearDown() override {
    EXPECT_EQ(take_cuda_error(), cudaSuccess) << "a test left a fault unchecked";
  }
};

TEST_F(CudnnObjects, VersionAndStatusNames) {
  EXPECT_EQ(cudnnGetVersion(), static_cast<size_t>(CUDNN_VERSION));
  EXPECT_STREQ(cudnnGetErrorString(CUDNN_STATUS_SUCCESS), "CUDNN_STATUS_SUCCESS");
  EXPECT_STREQ(cudnnGetErrorString(CUDNN_STATUS_BAD_PARAM), "CUDNN_STATUS_BAD_PARAM");
  EXPECT_STREQ(cudnnGetErrorString(CUDNN_STATUS_NOT_SUPPORTED), "CUDNN_STATUS_NOT_SUPPORTED");
}

TEST_F(CudnnObjects, LastErrorStringNamesTheCallAndIsTruncatedToTheBuffer) {
  TensorDesc desc;
  ASSERT_EQ(cudnnSetTensor4dDescriptor(desc.get(), CUDNN_TENSOR_NHWC, CUDNN_DATA_FLOAT, 1, 0, 2, 2),
            CUDNN_STATUS_BAD_PARAM);
  const std::string message = last_cudnn_error();
  EXPECT_EQ(message.rfind("cudnnSetTensor4dDescriptor: ", 0), 0u) << message;
  EXPECT_NE(message.find("positive"), std::string::npos) << message;
  std::array<char, 8> small{};
  small.fill('x');
  cudnnGetLastErrorString(small.data(), small.size());
  EXPECT_EQ(std::string(small.data()), message.substr(0, 7));
  EXPECT_EQ(last_cudnn_error(), message) << "reading does not clear the message";
}

TEST_F(CudnnObjects, HandlesTrackTheirLiveness) {
  EXPECT_EQ(cudnnCreate(nullptr), CUDNN_STATUS_BAD_PARAM);
  cudnnHandle_t handle = nullptr;
  ASSERT_EQ(cudnnCreate(&handle), CUDNN_STATUS_SUCCESS);
  cudaStream_t stream = nullptr;
  ASSERT_EQ(cudaStreamCreate(&stream), cudaSuccess);
  ASSERT_EQ(cudnnSetStream(handle, stream), CUDNN_STATUS_SUCCESS);
  cudaStream_t got = nullptr;
  ASSERT_EQ(cudnnGetStream(handle, &got), CUDNN_STATUS_SUCCESS);
  EXPECT_EQ(got, stream);
  EXPECT_EQ(cudnnGetStream(handle, nullptr), CUDNN_STATUS_BAD_PARAM);
  ASSERT_EQ(cudaStreamDestroy(stream), cudaSuccess);
  EXPECT_EQ(cudnnSetStream(handle, stream), CUDNN_STATUS_BAD_PARAM);
  ASSERT_EQ(cudnnDestroy(handle), CUDNN_STATUS_SUCCESS);
  EXPECT_EQ(cudnnDestroy(handle), CUDNN_STATUS_BAD_PARAM);
  EXPECT_EQ(cudnnSetStream(handle, nullptr), CUDNN_STATUS_BAD_PARAM);
  EXPECT_NE(last_cudnn_error().find("destroyed"), std::string::npos) << last_cudnn_error();
  EXPECT_EQ(cudnnDestroy(nullptr), CUDNN_STATUS_BAD_PARAM);
}

TEST_F(CudnnObjects, DescriptorsTrackTheirLiveness) {
  cudnnTensorDescriptor_t desc = nullptr;
  EXPECT_EQ(cudnnCreateTensorDescriptor(nullptr), CUDNN_STATUS_BAD_PARAM);
  ASSERT_EQ(cudnnCreateTensorDescriptor(&desc), CUDNN_STATUS_SUCCESS);
  ASSERT_EQ(cudnnDestroyTensorDescriptor(desc), CUDNN_STATUS_SUCCESS);
  EXPECT_EQ(cudnnSetTensor4dDescriptor(desc, CUDNN_TENSOR_NHWC, CUDNN_DATA_FLOAT, 1, 1, 1, 1),
            CUDNN_STATUS_BAD_PARAM);
  EXPECT_EQ(cudnnDestroyTensorDescriptor(desc), CUDNN_STATUS_BAD_PARAM);
  EXPECT_EQ(cudnnDestroyTensorDescriptor(nullptr), CUDNN_STATUS_SUCCESS) << "documented no-op";
  cudnnConvolutionDescriptor_t conv = nullptr;
  ASSERT_EQ(cudnnCreateConvolutionDescriptor(&conv), CUDNN_STATUS_SUCCESS);
  ASSERT_EQ(cudnnDestroyConvolutionDescriptor(conv), CUDNN_STATUS_SUCCESS);
  EXPECT_EQ(cudnnSetConvolutionMathType(conv, CUDNN_FMA_MATH), CUDNN_STATUS_BAD_PARAM);
}

TEST_F(CudnnObjects, TensorDescriptorChecks) {
  TensorDesc d;
  const auto set = [&](cudnnTensorFormat_t format, cudnnDataType_t type, int n, int c, int h,
                       int w) {
    return cudnnSetTensor4dDescriptor(d.get(), format, type, n, c, h, w);
  };
  EXPECT_EQ(set(CUDNN_TENSOR_NHWC, CUDNN_DATA_FLOAT, 2, 3, 4, 5), CUDNN_STATUS_SUCCESS);
  EXPECT_EQ(set(CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, 2, 3, 4, 5), CUDNN_STATUS_SUCCESS);
  EXPECT_EQ(set(CUDNN_TENSOR_NHWC, CUDNN_DATA_FLOAT, 0, 3, 4, 5), CUDNN_STATUS_BAD_PARAM);
  EXPECT_EQ(set(CUDNN_TENSOR_NHWC, CUDNN_DATA_FLOAT, 2, 3, -4, 5), CUDNN_STATUS_BAD_PARAM);
  // 3 is a value of the type (its range is 0..3) but no format; larger values would be UB here.
  EXPECT_EQ(set(static_cast<cudnnTensorFormat_t>(3), CUDNN_DATA_FLOAT, 2, 3, 4, 5),
            CUDNN_STATUS_BAD_PARAM);
  EXPECT_EQ(set(CUDNN_TENSOR_NCHW_VECT_C, CUDNN_DATA_FLOAT, 2, 4, 4, 5),
            CUDNN_STATUS_NOT_SUPPORTED);
  EXPECT_EQ(set(CUDNN_TENSOR_NHWC, CUDNN_DATA_HALF, 2, 3, 4, 5), CUDNN_STATUS_NOT_SUPPORTED);
  EXPECT_EQ(set(CUDNN_TENSOR_NHWC, CUDNN_DATA_FLOAT, 65536, 65536, 1, 1),
            CUDNN_STATUS_NOT_SUPPORTED);
}

TEST_F(CudnnObjects, FilterAndConvolutionDescriptorChecks) {
  FilterDesc f;
  EXPECT_EQ(cudnnSetFilter4dDescriptor(f.get(), CUDNN_DATA_FLOAT, CUDNN_TENSOR_NHWC, 4, 3, 2, 2),
            CUDNN_STATUS_SUCCESS);
  EXPECT_EQ(cudnnSetFilter4dDescriptor(f.get(), CUDNN_DATA_FLOAT, CUDNN_TENSOR_NCHW, 4, 3, 2, 2),
            CUDNN_STATUS_NOT_SUPPORTED);
  EXPECT_EQ(cudnnSetFilter4dDescriptor(f.get(), CUDNN_DATA_DOUBLE, CUDNN_TENSOR_NHWC, 4, 3, 2, 2),
            CUDNN_STATUS_NOT_SUPPORTED);
  EXPECT_EQ(cudnnSetFilter4dDescriptor(f.get(), CUDNN_DATA_FLOAT, CUDNN_TENSOR_NHWC, 4, 3, 0, 2),
            CUDNN_STATUS_BAD_PARAM);

  ConvDesc c;
  const auto set = [&](int pad, int stride, int dilation, cudnnConvolutionMode_t mode,
                       cudnnDataType_t type) {
    return cudnnSetConvolution2dDescriptor(c.get(), pad, pad, stride, stride, dilation, dilation,
                                           mode, type);
  };
  EXPECT_EQ(set(1, 2, 1, CUDNN_CROSS_CORRELATION, CUDNN_DATA_FLOAT), CUDNN_STATUS_SUCCESS);
  EXPECT_EQ(set(-1, 1, 1, CUDNN_CROSS_CORRELATION, CUDNN_DATA_FLOAT), CUDNN_STATUS_BAD_PARAM);
  EXPECT_EQ(set(0, 0, 1, CUDNN_CROSS_CORRELATION, CUDNN_DATA_FLOAT), CUDNN_STATUS_BAD_PARAM);
  EXPECT_EQ(set(0, 1, 0, CUDNN_CROSS_CORRELATION, CUDNN_DATA_FLOAT), CUDNN_STATUS_BAD_PARAM);
  EXPECT_EQ(set(0, 1, 2, CUDNN_CROSS_CORRELATION, CUDNN_DATA_FLOAT), CUDNN_STATUS_NOT_SUPPORTED);
  EXPECT_EQ(set(0, 1, 1, CUDNN_CONVOLUTION, CUDNN_DATA_FLOAT), CUDNN_STATUS_NOT_SUPPORTED);
  EXPECT_EQ(set(0, 1, 1, CUDNN_CROSS_CORRELATION, CUDNN_DATA_DOUBLE), CUDNN_STATUS_NOT_SUPPORTED);

  cudnnMathType_t math = CUDNN_FMA_MATH;
  ASSERT_EQ(cudnnGetConvolutionMathType(c.get(), &math), CUDNN_STATUS_SUCCESS);
  EXPECT_EQ(math, CUDNN_DEFAULT_MATH);
  ASSERT_EQ(cudnnSetConvolutionMathType(c.get(), CUDNN_FMA_MATH), CUDNN_STATUS_SUCCESS);
  ASSERT_EQ(cudnnGetConvolutionMathType(c.get(), &math), CUDNN_STATUS_SUCCESS);
  EXPECT_EQ(math, CUDNN_FMA_MATH);
  EXPECT_EQ(cudnnGetConvolutionMathType(c.get(), nullptr), CUDNN_STATUS_BAD_PARAM);
}

TEST_F(CudnnObjects, PoolingDescriptorChecks) {
  PoolDesc p;
  const auto set = [&](cudnnPoolingMode_t mode, cudnnNanPropagation_t nan, int window, int pad,
                       int stride) {
    return cudnnSetPooling2dDescriptor(p.get(), mode, nan, window, window, pad, pad, stride,
                                       stride);
  };
  const cudnnNanPropagation_t ignore = CUDNN_NOT_PROPAGATE_NAN;
  EXPECT_EQ(set(CUDNN_POOLING_MAX, CUDNN_PROPAGATE_NAN, 3, 1, 2), CUDNN_STATUS_SUCCESS);
  EXPECT_EQ(set(CUDNN_POOLING_AVERAGE_COUNT_INCLUDE_PADDING, ignore, 3, 1, 2),
            CUDNN_STATUS_SUCCESS);
  EXPECT_EQ(set(CUDNN_POOLING_MAX, ignore, 0, 0, 2), CUDNN_STATUS_BAD_PARAM);
  EXPECT_EQ(set(CUDNN_POOLING_MAX, ignore, 3, -1, 2), CUDNN_STATUS_BAD_PARAM);
  EXPECT_EQ(set(CUDNN_POOLING_MAX, ignore, 3, 1, 0), CUDNN_STATUS_BAD_PARAM);
  EXPECT_EQ(set(CUDNN_POOLING_MAX_DETERMINISTIC, ignore, 3, 1, 2), CUDNN_STATUS_NOT_SUPPORTED);
  EXPECT_EQ(set(CUDNN_POOLING_MAX, ignore, 3, 3, 2), CUDNN_STATUS_NOT_SUPPORTED);
}

TEST_F(CudnnObjects, ConvolutionOutputDimensions) {
  TensorDesc x;
  FilterDesc w, narrow;
  ConvDesc conv, unset;
  ASSERT_EQ(cudnnSetTensor4dDescriptor(x.get(), CUDNN_TENSOR_NHWC, CUDNN_DATA_FLOAT, 2, 3, 7, 6),
            CUDNN_STATUS_SUCCESS);
  ASSERT_EQ(cudnnSetFilter4dDescriptor(w.get(), CUDNN_DATA_FLOAT, CUDNN_TENSOR_NHWC, 5, 3, 3, 2),
            CUDNN_STATUS_SUCCESS);
  ASSERT_EQ(cudnnSetConvolution2dDescriptor(conv.get(), 1, 0, 2, 3, 1, 1, CUDNN_CROSS_CORRELATION,
                                            CUDNN_DATA_FLOAT),
            CUDNN_STATUS_SUCCESS);
  int n = 0, c = 0, h = 0, wd = 0;
  ASSERT_EQ(cudnnGetConvolution2dForwardOutputDim(conv.get(), x.get(), w.get(), &n, &c, &h, &wd),
            CUDNN_STATUS_SUCCESS);
  EXPECT_EQ(n, 2);
  EXPECT_EQ(c, 5);
  EXPECT_EQ(h, (7 + 2 - 3) / 2 + 1);
  EXPECT_EQ(wd, (6 - 2) / 3 + 1);
  EXPECT_EQ(
      cudnnGetConvolution2dForwardOutputDim(conv.get(), x.get(), w.get(), &n, &c, &h, nullptr),
      CUDNN_STATUS_BAD_PARAM);
  EXPECT_EQ(cudnnGetConvolution2dForwardOutputDim(unset.get(), x.get(), w.get(), &n, &c, &h, &wd),
            CUDNN_STATUS_BAD_PARAM);
  EXPECT_NE(last_cudnn_error().find("never set"), std::string::npos) << last_cudnn_error();
  ASSERT_EQ(
      cudnnSetFilter4dDescriptor(narrow.get(), CUDNN_DATA_FLOAT, CUDNN_TENSOR_NHWC, 5, 2, 3, 2),
      CUDNN_STATUS_SUCCESS);
  EXPECT_EQ(
      cudnnGetConvolution2dForwardOutputDim(conv.get(), x.get(), narrow.get(), &n, &c, &h, &wd),
      CUDNN_STATUS_BAD_PARAM)
      << "x has 3 channels, the filter 2";
  ASSERT_EQ(cudnnSetFilter4dDescriptor(w.get(), CUDNN_DATA_FLOAT, CUDNN_TENSOR_NHWC, 5, 3, 10, 2),
            CUDNN_STATUS_SUCCESS);
  EXPECT_EQ(cudnnGetConvolution2dForwardOutputDim(conv.get(), x.get(), w.get(), &n, &c, &h, &wd),
            CUDNN_STATUS_BAD_PARAM)
      << "a 10-row filter on 7 rows padded by 1";
}

}  // namespace
}  // namespace kiln::emu_test
