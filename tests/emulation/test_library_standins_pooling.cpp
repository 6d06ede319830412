// The cuDNN stand-in's pooling (cuda/emulation/cudnn_pooling.cpp) against window-by-window
// references in double: max with and without NaN propagation, average with and without the
// padding counted, forward and backward, blending, NCHW, and the argument checks.
#include <cudnn.h>
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "library_standins_references.h"
#include "library_standins_support.h"

namespace kiln::emu_test {
namespace {

constexpr PoolShape kShape{2, 6, 7, 3, 3, 2, 1, 1, 2, 1};
constexpr PoolKind kAllKinds[] = {PoolKind::max_propagate_nan, PoolKind::max_ignore_nan,
                                  PoolKind::average_include, PoolKind::average_exclude};

cudnnPoolingMode_t mode_of(PoolKind kind) {
  switch (kind) {
    case PoolKind::max_propagate_nan:
    case PoolKind::max_ignore_nan: return CUDNN_POOLING_MAX;
    case PoolKind::average_include: return CUDNN_POOLING_AVERAGE_COUNT_INCLUDE_PADDING;
    case PoolKind::average_exclude: return CUDNN_POOLING_AVERAGE_COUNT_EXCLUDE_PADDING;
  }
  return CUDNN_POOLING_MAX;
}

// x in thirds (so windows hold ties) with NaNs: a few lone ones, and n = 1, c = 0 rows 0-2,
// columns 0-1 all NaN, which fills the windows (oy 0, ox 0) and (oy 0, ox 1) of kShape.
std::vector<float> x_with_ties_and_nans(const PoolShape& g) {
  auto x = random_floats(g.x_count(), 31);
  for (float& v : x) v = std::round(v * 3.0f) / 3.0f;
  const float nan = std::numeric_limits<float>::quiet_NaN();
  for (std::size_t i = 5; i < x.size(); i += 37) x[i] = nan;
  for (int iy = 0; iy < 3; ++iy) {
    for (int ix = 0; ix < 2; ++ix) x[((std::size_t(1) * g.h + iy) * g.w + ix) * g.c] = nan;
  }
  return x;
}

class PoolBench {
 public:
  PoolBench(const PoolShape& g, PoolKind kind, cudnnTensorFormat_t format = CUDNN_TENSOR_NHWC)
      : g_(g),
        format_(format),
        x_(x_with_ties_and_nans(g)),
        dy_(random_floats(g.y_count(), 32)),
        x_dev_(device_layout(x_, g.h, g.w)),
        dy_dev_(device_layout(dy_, g.oh(), g.ow())),
        y_dev_(g.y_count()) {
    EXPECT_EQ(
        cudnnSetPooling2dDescriptor(
            pool_.get(), mode_of(kind),
            kind == PoolKind::max_propagate_nan ? CUDNN_PROPAGATE_NAN : CUDNN_NOT_PROPAGATE_NAN,
            g.window_h, g.window_w, g.pad_h, g.pad_w, g.stride_h, g.stride_w),
        CUDNN_STATUS_SUCCESS);
    EXPECT_EQ(
        cudnnSetTensor4dDescriptor(x_desc_.get(), format, CUDNN_DATA_FLOAT, g.n, g.c, g.h, g.w),
        CUDNN_STATUS_SUCCESS);
    EXPECT_EQ(cudnnSetTensor4dDescriptor(y_desc_.get(), format, CUDNN_DATA_FLOAT, g.n, g.c, g.oh(),
                                         g.ow()),
              CUDNN_STATUS_SUCCESS);
  }

  cudnnStatus_t forward(float alpha, float beta, float* y, const void* x = nullptr) {
    return cudnnPoolingForward(handle_.get(), pool_.get(), &alpha, x_desc_.get(),
                               x != nullptr ? x : x_dev_.get(), &beta, y_desc_.get(), y);
  }
  cudnnStatus_t backward(float alpha, float beta, float* dx,
                         cudnnTensorDescriptor_t dy_desc = nullptr) {
    return cudnnPoolingBackward(handle_.get(), pool_.get(), &alpha, y_desc_.get(), y_dev_.get(),
                                dy_desc != nullptr ? dy_desc : y_desc_.get(), dy_dev_.get(),
                                x_desc_.get(), x_dev_.get(), &beta, x_desc_.get(), dx);
  }
  std::vector<float> host_layout(const std::vector<float>& v, int h, int w) const {
    return format_ == CUDNN_TENSOR_NHWC ? v : nchw_to_nhwc(v, g_.n, h, w, g_.c);
  }
  std::vector<float> device_layout(const std::vector<float>& v, int h, int w) const {
    return format_ == CUDNN_TENSOR_NHWC ? v : nhwc_to_nchw(v, g_.n, h, w, g_.c);
  }

  const PoolShape g_;
  const cudnnTensorFormat_t format_;
  const std::vector<float> x_, dy_;
  DeviceFloats x_dev_, dy_dev_, y_dev_;
  Handle handle_;
  PoolDesc pool_;
  TensorDesc x_desc_, y_desc_;
};

class CudnnPooling : public ::testing::Test {
 protected:
  void TearDown() override {
    EXPECT_EQ(take_cuda_error(), cudaSuccess) << "a test left a fault unchecked";
  }
};

TEST_F(CudnnPooling, ForwardAndBackwardOfEveryModeMatchTheReference) {
  for (const cudnnTensorFormat_t format : {CUDNN_TENSOR_NHWC, CUDNN_TENSOR_NCHW}) {
    for (const PoolKind kind : kAllKinds) {
      SCOPED_TRACE(testing::Message() << "kind " << int(kind) << ", format " << format);
      PoolBench b(kShape, kind, format);
      DeviceFloats y(kShape.y_count()), dx(kShape.x_count());  // poisoned: beta == 0
      ASSERT_EQ(b.forward(1.0f, 0.0f, y.get()), CUDNN_STATUS_SUCCESS) << last_cudnn_error();
      EXPECT_TRUE(all_close(b.host_layout(y.download(), kShape.oh(), kShape.ow()),
                            reference_pool_forward(kShape, kind, b.x_)));
      ASSERT_EQ(b.backward(1.0f, 0.0f, dx.get()), CUDNN_STATUS_SUCCESS) << last_cudnn_error();
      EXPECT_TRUE(all_close(b.host_layout(dx.download(), kShape.h, kShape.w),
                            reference_pool_backward(kShape, kind, b.x_, b.dy_)));
    }
  }
}

TEST_F(CudnnPooling, NanPropagationDecidesMaxPoolingOnly) {
  PoolBench propagate(kShape, PoolKind::max_propagate_nan);
  PoolBench ignore(kShape, PoolKind::max_ignore_nan);
  PoolBench average(kShape, PoolKind::average_exclude);
  DeviceFloats a(kShape.y_count()), b(kShape.y_count()), c(kShape.y_count());
  ASSERT_EQ(propagate.forward(1.0f, 0.0f, a.get()), CUDNN_STATUS_SUCCESS);
  ASSERT_EQ(ignore.forward(1.0f, 0.0f, b.get()), CUDNN_STATUS_SUCCESS);
  ASSERT_EQ(average.forward(1.0f, 0.0f, c.get()), CUDNN_STATUS_SUCCESS);
  int nan_propagated = 0, nan_ignored = 0, nan_averaged = 0;
  for (float v : a.download()) nan_propagated += std::isnan(v);
  for (float v : b.download()) nan_ignored += std::isnan(v);
  for (float v : c.download()) nan_averaged += std::isnan(v);
  EXPECT_EQ(nan_ignored, 2) << "only the two windows made of NaNs (n 1, c 0, oy 0, ox 0 and 1)";
  EXPECT_GT(nan_propagated, nan_ignored + 3);
  EXPECT_EQ(nan_averaged, nan_propagated) << "a sum always propagates NaN";
}

TEST_F(CudnnPooling, BlendsWithAlphaAndBeta) {
  for (const PoolKind kind : {PoolKind::max_ignore_nan, PoolKind::average_include}) {
    SCOPED_TRACE(int(kind));
    PoolBench b(kShape, kind);
    const auto old_y = random_floats(kShape.y_count(), 41);
    const auto old_dx = random_floats(kShape.x_count(), 42);
    DeviceFloats y(old_y), dx(old_dx);
    ASSERT_EQ(b.forward(-1.5f, 0.25f, y.get()), CUDNN_STATUS_SUCCESS);
    EXPECT_TRUE(all_close(y.download(),
                          blend(reference_pool_forward(kShape, kind, b.x_), -1.5, old_y, 0.25)));
    ASSERT_EQ(b.backward(2.0f, -1.0f, dx.get()), CUDNN_STATUS_SUCCESS);
    EXPECT_TRUE(all_close(dx.download(), blend(reference_pool_backward(kShape, kind, b.x_, b.dy_),
                                               2.0, old_dx, -1.0)));
  }
}

TEST_F(CudnnPooling, DescriptorsThatDoNotFitAreBadParam) {
  PoolBench b(kShape, PoolKind::max_ignore_nan);
  DeviceFloats y(kShape.y_count() * 2), dx(kShape.x_count());
  TensorDesc taller, other_channels, nchw_dy;
  ASSERT_EQ(cudnnSetTensor4dDescriptor(taller.get(), CUDNN_TENSOR_NHWC, CUDNN_DATA_FLOAT, kShape.n,
                                       kShape.c, kShape.oh() + 1, kShape.ow()),
            CUDNN_STATUS_SUCCESS);
  ASSERT_EQ(cudnnSetTensor4dDescriptor(other_channels.get(), CUDNN_TENSOR_NHWC, CUDNN_DATA_FLOAT,
                                       kShape.n, kShape.c + 1, kShape.oh(), kShape.ow()),
            CUDNN_STATUS_SUCCESS);
  ASSERT_EQ(cudnnSetTensor4dDescriptor(nchw_dy.get(), CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, kShape.n,
                                       kShape.c, kShape.oh(), kShape.ow()),
            CUDNN_STATUS_SUCCESS);
  const float one = 1.0f, zero = 0.0f;
  for (const cudnnTensorDescriptor_t wrong : {taller.get(), other_channels.get()}) {
    EXPECT_EQ(cudnnPoolingForward(b.handle_.get(), b.pool_.get(), &one, b.x_desc_.get(),
                                  b.x_dev_.get(), &zero, wrong, y.get()),
              CUDNN_STATUS_BAD_PARAM);
    EXPECT_NE(last_cudnn_error().find("yDesc"), std::string::npos) << last_cudnn_error();
  }
  EXPECT_EQ(b.backward(1.0f, 0.0f, dx.get(), nchw_dy.get()), CUDNN_STATUS_BAD_PARAM);
  EXPECT_NE(last_cudnn_error().find("dyDesc"), std::string::npos) << last_cudnn_error();
  PoolDesc unset;
  EXPECT_EQ(cudnnPoolingForward(b.handle_.get(), unset.get(), &one, b.x_desc_.get(), b.x_dev_.get(),
                                &zero, b.y_desc_.get(), y.get()),
            CUDNN_STATUS_BAD_PARAM);
  EXPECT_EQ(cudnnPoolingForward(b.handle_.get(), b.pool_.get(), nullptr, b.x_desc_.get(),
                                b.x_dev_.get(), &zero, b.y_desc_.get(), y.get()),
            CUDNN_STATUS_BAD_PARAM);
}

TEST_F(CudnnPooling, HostPointersShortRangesAndDestroyedStreamsAreRefused) {
  PoolBench b(kShape, PoolKind::average_exclude);
  DeviceFloats y(kShape.y_count()), short_dx(kShape.x_count() - 1);
  EXPECT_EQ(b.forward(1.0f, 0.0f, y.get(), b.x_.data()), CUDNN_STATUS_BAD_PARAM);
  EXPECT_EQ(take_cuda_error(), cudaErrorIllegalAddress);
  EXPECT_EQ(last_cudnn_error().rfind("cudnnPoolingForward: argument x ", 0), 0u)
      << last_cudnn_error();
  EXPECT_EQ(b.backward(1.0f, 0.0f, short_dx.get()), CUDNN_STATUS_BAD_PARAM);
  EXPECT_EQ(take_cuda_error(), cudaErrorIllegalAddress);
  EXPECT_EQ(last_cudnn_error().rfind("cudnnPoolingBackward: argument dx ", 0), 0u)
      << last_cudnn_error();

  cudaStream_t stream = nullptr;
  ASSERT_EQ(cudaStreamCreate(&stream), cudaSuccess);
  ASSERT_EQ(cudnnSetStream(b.handle_.get(), stream), CUDNN_STATUS_SUCCESS);
  ASSERT_EQ(cudaStreamDestroy(stream), cudaSuccess);
  EXPECT_EQ(b.forward(1.0f, 0.0f, y.get()), CUDNN_STATUS_EXECUTION_FAILED);
}

}  // namespace
}  // namespace kiln::emu_test
