// One convolution geometry set up for the cuDNN stand-in tests (test_library_standins_convolution
// *.cpp): a handle, the four descriptors, random x, w and dy on the device, and helpers that run a
// direction with an algorithm and compare against the references. Host data is NHWC / OHWI; the
// device tensors are in `format` (NHWC or NCHW).
#pragma once

#include <cudnn.h>
#include <gtest/gtest.h>

#include <vector>

#include "library_standins_references.h"
#include "library_standins_support.h"

namespace kiln::emu_test {

enum class Dir { forward, backward_data, backward_filter };

struct AlgoInfo {
  int algo;
  bool tensor_op;
};

// The stand-in's algorithms per direction (Note [Emulated algorithms] in
// cuda/emulation/cudnn_convolution_algorithms.cpp).
inline std::vector<AlgoInfo> emulated_algorithms(Dir dir) {
  switch (dir) {
    case Dir::forward:
      return {{CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_GEMM, false},
              {CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_PRECOMP_GEMM, true},
              {CUDNN_CONVOLUTION_FWD_ALGO_GEMM, false}};
    case Dir::backward_data:
      return {{CUDNN_CONVOLUTION_BWD_DATA_ALGO_0, false},
              {CUDNN_CONVOLUTION_BWD_DATA_ALGO_1, true}};
    case Dir::backward_filter:
      return {{CUDNN_CONVOLUTION_BWD_FILTER_ALGO_0, false},
              {CUDNN_CONVOLUTION_BWD_FILTER_ALGO_1, true}};
  }
  return {};
}

inline const char* dir_name(Dir dir) {
  switch (dir) {
    case Dir::forward: return "forward";
    case Dir::backward_data: return "backward data";
    case Dir::backward_filter: return "backward filter";
  }
  return "";
}

constexpr Dir kAllDirs[] = {Dir::forward, Dir::backward_data, Dir::backward_filter};

class ConvolutionBench {
 public:
  ConvolutionBench(const ConvShape& g, cudnnMathType_t math,
                   cudnnTensorFormat_t format = CUDNN_TENSOR_NHWC)
      : g_(g),
        format_(format),
        x_(random_floats(g.x_count(), 11)),
        w_(random_floats(g.w_count(), 12)),
        dy_(random_floats(g.y_count(), 13)),
        x_dev_(to_device_layout(x_, g.h, g.w, g.c)),
        w_dev_(w_),
        dy_dev_(to_device_layout(dy_, g.oh(), g.ow(), g.k)) {
    EXPECT_EQ(
        cudnnSetTensor4dDescriptor(x_desc_.get(), format, CUDNN_DATA_FLOAT, g.n, g.c, g.h, g.w),
        CUDNN_STATUS_SUCCESS);
    EXPECT_EQ(cudnnSetTensor4dDescriptor(y_desc_.get(), format, CUDNN_DATA_FLOAT, g.n, g.k, g.oh(),
                                         g.ow()),
              CUDNN_STATUS_SUCCESS);
    EXPECT_EQ(cudnnSetFilter4dDescriptor(w_desc_.get(), CUDNN_DATA_FLOAT, CUDNN_TENSOR_NHWC, g.k,
                                         g.c, g.r, g.s),
              CUDNN_STATUS_SUCCESS);
    EXPECT_EQ(cudnnSetConvolution2dDescriptor(conv_.get(), g.pad_h, g.pad_w, g.stride_h, g.stride_w,
                                              1, 1, CUDNN_CROSS_CORRELATION, CUDNN_DATA_FLOAT),
              CUDNN_STATUS_SUCCESS);
    EXPECT_EQ(cudnnSetConvolutionMathType(conv_.get(), math), CUDNN_STATUS_SUCCESS);
  }

  cudnnHandle_t handle() const { return handle_.get(); }
  cudnnTensorDescriptor_t x_desc() const { return x_desc_.get(); }
  cudnnTensorDescriptor_t y_desc() const { return y_desc_.get(); }
  cudnnFilterDescriptor_t w_desc() const { return w_desc_.get(); }
  cudnnConvolutionDescriptor_t conv() const { return conv_.get(); }
  const float* x() const { return x_dev_.get(); }
  const float* w() const { return w_dev_.get(); }
  const float* dy() const { return dy_dev_.get(); }

  std::size_t output_count(Dir dir) const {
    switch (dir) {
      case Dir::forward: return g_.y_count();
      case Dir::backward_data: return g_.x_count();
      case Dir::backward_filter: return g_.w_count();
    }
    return 0;
  }

  std::vector<double> reference(Dir dir, bool round) const {
    switch (dir) {
      case Dir::forward: return reference_forward(g_, x_, w_, round);
      case Dir::backward_data: return reference_backward_data(g_, dy_, w_, round);
      case Dir::backward_filter: return reference_backward_filter(g_, x_, dy_, round);
    }
    return {};
  }

  cudnnStatus_t workspace_size(Dir dir, int algo, std::size_t* bytes) const {
    switch (dir) {
      case Dir::forward:
        return cudnnGetConvolutionForwardWorkspaceSize(
            handle(), x_desc(), w_desc(), conv(), y_desc(),
            static_cast<cudnnConvolutionFwdAlgo_t>(algo), bytes);
      case Dir::backward_data:
        return cudnnGetConvolutionBackwardDataWorkspaceSize(
            handle(), w_desc(), y_desc(), conv(), x_desc(),
            static_cast<cudnnConvolutionBwdDataAlgo_t>(algo), bytes);
      case Dir::backward_filter:
        return cudnnGetConvolutionBackwardFilterWorkspaceSize(
            handle(), x_desc(), y_desc(), conv(), w_desc(),
            static_cast<cudnnConvolutionBwdFilterAlgo_t>(algo), bytes);
    }
    return CUDNN_STATUS_INTERNAL_ERROR;
  }

  cudnnStatus_t run(Dir dir, int algo, float alpha, float beta, float* out, void* workspace,
                    std::size_t workspace_bytes) const {
    switch (dir) {
      case Dir::forward:
        return cudnnConvolutionForward(handle(), &alpha, x_desc(), x(), w_desc(), w(), conv(),
                                       static_cast<cudnnConvolutionFwdAlgo_t>(algo), workspace,
                                       workspace_bytes, &beta, y_desc(), out);
      case Dir::backward_data:
        return cudnnConvolutionBackwardData(handle(), &alpha, w_desc(), w(), y_desc(), dy(), conv(),
                                            static_cast<cudnnConvolutionBwdDataAlgo_t>(algo),
                                            workspace, workspace_bytes, &beta, x_desc(), out);
      case Dir::backward_filter:
        return cudnnConvolutionBackwardFilter(handle(), &alpha, x_desc(), x(), y_desc(), dy(),
                                              conv(),
                                              static_cast<cudnnConvolutionBwdFilterAlgo_t>(algo),
                                              workspace, workspace_bytes, &beta, w_desc(), out);
    }
    return CUDNN_STATUS_INTERNAL_ERROR;
  }

  // Runs `algo` with a workspace of exactly the queried size on `out` (in the device layout),
  // returning the result as NHWC / OHWI.
  std::vector<float> run_exact(Dir dir, int algo, float alpha, float beta, DeviceFloats& out) {
    std::size_t bytes = 0;
    EXPECT_EQ(workspace_size(dir, algo, &bytes), CUDNN_STATUS_SUCCESS);
    DeviceFloats workspace((bytes + sizeof(float) - 1) / sizeof(float));
    EXPECT_EQ(run(dir, algo, alpha, beta, out.get(), bytes == 0 ? nullptr : workspace.get(), bytes),
              CUDNN_STATUS_SUCCESS)
        << last_cudnn_error();
    return to_host_layout(dir, out.download());
  }

  // NHWC / OHWI host values in the device layout of `dir`'s output, and back.
  std::vector<float> to_device_output(Dir dir, const std::vector<float>& v) const {
    if (dir == Dir::backward_filter) return v;
    return dir == Dir::forward ? to_device_layout(v, g_.oh(), g_.ow(), g_.k)
                               : to_device_layout(v, g_.h, g_.w, g_.c);
  }
  std::vector<float> to_host_layout(Dir dir, const std::vector<float>& v) const {
    if (dir == Dir::backward_filter || format_ == CUDNN_TENSOR_NHWC) return v;
    return dir == Dir::forward ? nchw_to_nhwc(v, g_.n, g_.oh(), g_.ow(), g_.k)
                               : nchw_to_nhwc(v, g_.n, g_.h, g_.w, g_.c);
  }

 private:
  std::vector<float> to_device_layout(const std::vector<float>& v, int h, int w, int c) const {
    return format_ == CUDNN_TENSOR_NHWC ? v : nhwc_to_nchw(v, g_.n, h, w, c);
  }

  ConvShape g_;
  cudnnTensorFormat_t format_;
  std::vector<float> x_, w_, dy_;
  DeviceFloats x_dev_, w_dev_, dy_dev_;
  Handle handle_;
  TensorDesc x_desc_, y_desc_;
  FilterDesc w_desc_;
  ConvDesc conv_;
};

}  // namespace kiln::emu_test
