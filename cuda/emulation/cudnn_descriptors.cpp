// Stands in for cuDNN's legacy descriptors: tensors (cudnnSetTensor4dDescriptor), filters
// (cudnnSetFilter4dDescriptor), convolutions (cudnnSetConvolution2dDescriptor and its math type)
// and pooling (cudnnSetPooling2dDescriptor), with their create and destroy calls. Values cuDNN
// rejects are BAD_PARAM as documented; valid values the stand-in does not emulate (anything but
// f32, NCHW_VECT_C tensors, NCHW filters, dilation, true convolution, deterministic max pooling)
// are NOT_SUPPORTED, never a guess.
#include <cudnn.h>

#include <cstdint>
#include <limits>
#include <string>

#include "cudnn_objects.h"

namespace kiln::emu::cudnn {

namespace {

// As documented, destroying a NULL descriptor does nothing.
template <class Object>
cudnnStatus_t create_descriptor(const char* call, Object** descriptor) {
  return run_cudnn(call, [&] {
    require_param(descriptor != nullptr, "the descriptor pointer is NULL");
    *descriptor = registry<Object>().create();
  });
}

template <class Object>
cudnnStatus_t destroy_descriptor(const char* call, Object* descriptor) {
  return run_cudnn(call, [&] {
    if (descriptor == nullptr) return;
    live("the descriptor", descriptor);
    registry<Object>().destroy(descriptor);
  });
}

std::string text(int value) { return std::to_string(value); }

void require_float(cudnnDataType_t type, const char* name) {
  require_supported(type == CUDNN_DATA_FLOAT, std::string(name) + " " + text(type) +
                                                  ": the emulation has only CUDNN_DATA_FLOAT");
}

void require_format(cudnnTensorFormat_t format) {
  require_param(format == CUDNN_TENSOR_NCHW || format == CUDNN_TENSOR_NHWC ||
                    format == CUDNN_TENSOR_NCHW_VECT_C,
                "format " + text(format) + " is not a cudnnTensorFormat_t");
}

void require_positive_dims(int n, int c, int h, int w) {
  require_param(n > 0 && c > 0 && h > 0 && w > 0, "dimensions (" + text(n) + ", " + text(c) + ", " +
                                                      text(h) + ", " + text(w) +
                                                      ") must all be positive");
}

}  // namespace

}  // namespace kiln::emu::cudnn

using namespace kiln::emu::cudnn;

cudnnStatus_t cudnnCreateTensorDescriptor(cudnnTensorDescriptor_t* tensorDesc) {
  return create_descriptor("cudnnCreateTensorDescriptor", tensorDesc);
}

cudnnStatus_t cudnnDestroyTensorDescriptor(cudnnTensorDescriptor_t tensorDesc) {
  return destroy_descriptor("cudnnDestroyTensorDescriptor", tensorDesc);
}

cudnnStatus_t cudnnCreateFilterDescriptor(cudnnFilterDescriptor_t* filterDesc) {
  return create_descriptor("cudnnCreateFilterDescriptor", filterDesc);
}

cudnnStatus_t cudnnDestroyFilterDescriptor(cudnnFilterDescriptor_t filterDesc) {
  return destroy_descriptor("cudnnDestroyFilterDescriptor", filterDesc);
}

cudnnStatus_t cudnnCreateConvolutionDescriptor(cudnnConvolutionDescriptor_t* convDesc) {
  return create_descriptor("cudnnCreateConvolutionDescriptor", convDesc);
}

cudnnStatus_t cudnnDestroyConvolutionDescriptor(cudnnConvolutionDescriptor_t convDesc) {
  return destroy_descriptor("cudnnDestroyConvolutionDescriptor", convDesc);
}

cudnnStatus_t cudnnCreatePoolingDescriptor(cudnnPoolingDescriptor_t* poolingDesc) {
  return create_descriptor("cudnnCreatePoolingDescriptor", poolingDesc);
}

cudnnStatus_t cudnnDestroyPoolingDescriptor(cudnnPoolingDescriptor_t poolingDesc) {
  return destroy_descriptor("cudnnDestroyPoolingDescriptor", poolingDesc);
}

cudnnStatus_t cudnnSetTensor4dDescriptor(cudnnTensorDescriptor_t tensorDesc,
                                         cudnnTensorFormat_t format, cudnnDataType_t dataType,
                                         int n, int c, int h, int w) {
  return run_cudnn("cudnnSetTensor4dDescriptor", [&] {
    cudnnTensorStruct& t = live("tensorDesc", tensorDesc);
    require_format(format);
    require_positive_dims(n, c, h, w);
    require_supported(format != CUDNN_TENSOR_NCHW_VECT_C,
                      "format CUDNN_TENSOR_NCHW_VECT_C is not emulated");
    require_float(dataType, "dataType");
    const std::int64_t elements = std::int64_t{n} * c * h * w;
    require_supported(elements <= std::numeric_limits<std::int32_t>::max(),
                      "the tensor's " + std::to_string(elements) +
                          " elements exceed cuDNN's 2 Giga-element limit");
    t = cudnnTensorStruct{true, format, n, c, h, w};
  });
}

cudnnStatus_t cudnnSetFilter4dDescriptor(cudnnFilterDescriptor_t filterDesc,
                                         cudnnDataType_t dataType, cudnnTensorFormat_t format,
                                         int k, int c, int h, int w) {
  return run_cudnn("cudnnSetFilter4dDescriptor", [&] {
    cudnnFilterStruct& f = live("filterDesc", filterDesc);
    require_format(format);
    require_positive_dims(k, c, h, w);
    require_supported(format == CUDNN_TENSOR_NHWC,
                      "filter format " + text(format) +
                          ": the emulation has only CUDNN_TENSOR_NHWC filters (k, h, w, c)");
    require_float(dataType, "dataType");
    f = cudnnFilterStruct{true, k, c, h, w};
  });
}

cudnnStatus_t cudnnSetConvolution2dDescriptor(cudnnConvolutionDescriptor_t convDesc, int pad_h,
                                              int pad_w, int u, int v, int dilation_h,
                                              int dilation_w, cudnnConvolutionMode_t mode,
                                              cudnnDataType_t computeType) {
  return run_cudnn("cudnnSetConvolution2dDescriptor", [&] {
    cudnnConvolutionStruct& conv = live("convDesc", convDesc);
    require_param(pad_h >= 0 && pad_w >= 0,
                  "padding (" + text(pad_h) + ", " + text(pad_w) + ") is negative");
    require_param(u > 0 && v > 0, "stride (" + text(u) + ", " + text(v) + ") is not positive");
    require_param(dilation_h > 0 && dilation_w > 0,
                  "dilation (" + text(dilation_h) + ", " + text(dilation_w) + ") is not positive");
    require_param(mode == CUDNN_CONVOLUTION || mode == CUDNN_CROSS_CORRELATION,
                  "mode " + text(mode) + " is not a cudnnConvolutionMode_t");
    require_supported(dilation_h == 1 && dilation_w == 1, "dilation other than 1 is not emulated");
    require_supported(mode == CUDNN_CROSS_CORRELATION,
                      "CUDNN_CONVOLUTION (flipped filters) is not emulated; kiln uses "
                      "CUDNN_CROSS_CORRELATION");
    require_float(computeType, "computeType");
    conv.set = true;
    conv.pad_h = pad_h;
    conv.pad_w = pad_w;
    conv.stride_h = u;
    conv.stride_w = v;
  });
}

cudnnStatus_t cudnnSetConvolutionMathType(cudnnConvolutionDescriptor_t convDesc,
                                          cudnnMathType_t mathType) {
  return run_cudnn("cudnnSetConvolutionMathType", [&] {
    cudnnConvolutionStruct& conv = live("convDesc", convDesc);
    require_param(mathType == CUDNN_DEFAULT_MATH || mathType == CUDNN_TENSOR_OP_MATH ||
                      mathType == CUDNN_TENSOR_OP_MATH_ALLOW_CONVERSION ||
                      mathType == CUDNN_FMA_MATH,
                  "mathType " + text(mathType) + " is not a cudnnMathType_t");
    conv.math = mathType;
  });
}

cudnnStatus_t cudnnGetConvolutionMathType(cudnnConvolutionDescriptor_t convDesc,
                                          cudnnMathType_t* mathType) {
  return run_cudnn("cudnnGetConvolutionMathType", [&] {
    const cudnnConvolutionStruct& conv = live("convDesc", convDesc);
    require_param(mathType != nullptr, "mathType is NULL");
    *mathType = conv.math;
  });
}

cudnnStatus_t cudnnSetPooling2dDescriptor(cudnnPoolingDescriptor_t poolingDesc,
                                          cudnnPoolingMode_t mode,
                                          cudnnNanPropagation_t maxpoolingNanOpt, int windowHeight,
                                          int windowWidth, int verticalPadding,
                                          int horizontalPadding, int verticalStride,
                                          int horizontalStride) {
  return run_cudnn("cudnnSetPooling2dDescriptor", [&] {
    cudnnPoolingStruct& pool = live("poolingDesc", poolingDesc);
    require_param(mode == CUDNN_POOLING_MAX ||
                      mode == CUDNN_POOLING_AVERAGE_COUNT_INCLUDE_PADDING ||
                      mode == CUDNN_POOLING_AVERAGE_COUNT_EXCLUDE_PADDING ||
                      mode == CUDNN_POOLING_MAX_DETERMINISTIC,
                  "mode " + text(mode) + " is not a cudnnPoolingMode_t");
    require_param(
        maxpoolingNanOpt == CUDNN_NOT_PROPAGATE_NAN || maxpoolingNanOpt == CUDNN_PROPAGATE_NAN,
        "maxpoolingNanOpt " + text(maxpoolingNanOpt) + " is not a cudnnNanPropagation_t");
    require_param(windowHeight > 0 && windowWidth > 0 && verticalStride > 0 && horizontalStride > 0,
                  "window (" + text(windowHeight) + ", " + text(windowWidth) + ") and stride (" +
                      text(verticalStride) + ", " + text(horizontalStride) + ") must be positive");
    require_param(
        verticalPadding >= 0 && horizontalPadding >= 0,
        "padding (" + text(verticalPadding) + ", " + text(horizontalPadding) + ") is negative");
    require_supported(mode != CUDNN_POOLING_MAX_DETERMINISTIC,
                      "CUDNN_POOLING_MAX_DETERMINISTIC is not emulated");
    require_supported(verticalPadding < windowHeight && horizontalPadding < windowWidth,
                      "padding as large as the window (windows made only of padding) is not "
                      "emulated");
    pool = cudnnPoolingStruct{true,
                              mode,
                              maxpoolingNanOpt,
                              windowHeight,
                              windowWidth,
                              verticalPadding,
                              horizontalPadding,
                              verticalStride,
                              horizontalStride};
  });
}
