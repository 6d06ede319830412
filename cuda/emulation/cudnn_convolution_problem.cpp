// Stands in for cudnnGetConvolution2dForwardOutputDim, and checks the descriptors of every
// convolution call as cuDNN documents: BAD_PARAM for a NULL, destroyed or unset descriptor, for x
// and the filter disagreeing on channels, for a filter larger than the padded input, and for a y
// (or dy) whose shape is not the one cudnnGetConvolution2dForwardOutputDim gives.
#include <cudnn.h>

#include <string>

#include "cudnn_convolution.h"
#include "cudnn_objects.h"

namespace kiln::emu::cudnn {

namespace {

std::string shape(int n, int c, int h, int w) {
  return "(n=" + std::to_string(n) + ", c=" + std::to_string(c) + ", h=" + std::to_string(h) +
         ", w=" + std::to_string(w) + ")";
}

// 1 + (in + 2 pad - window) / stride, or 0 when the window is larger than the padded input.
int output_extent(int in, int pad, int window, int stride) {
  const long long padded = static_cast<long long>(in) + 2LL * pad;
  return padded < window ? 0 : static_cast<int>(1 + (padded - window) / stride);
}

}  // namespace

void convolution_output(const cudnnTensorStruct& x, const cudnnFilterStruct& w,
                        const cudnnConvolutionStruct& conv, int* oh, int* ow) {
  require_param(x.c == w.c, "the input has " + std::to_string(x.c) +
                                " channels but the filter expects " + std::to_string(w.c));
  *oh = output_extent(x.h, conv.pad_h, w.h, conv.stride_h);
  *ow = output_extent(x.w, conv.pad_w, w.w, conv.stride_w);
  require_param(*oh > 0 && *ow > 0, "the filter (" + std::to_string(w.h) + "x" +
                                        std::to_string(w.w) + ") is larger than the padded input " +
                                        shape(x.n, x.c, x.h, x.w));
}

ConvolutionProblem describe_convolution(const ConvolutionArguments& a) {
  const cudnnTensorStruct& x = described(a.x_name, a.x);
  const cudnnFilterStruct& w = described(a.w_name, a.w);
  const cudnnConvolutionStruct& conv = described("convDesc", a.conv);
  const cudnnTensorStruct& y = described(a.y_name, a.y);
  ConvolutionProblem p;
  convolution_output(x, w, conv, &p.oh, &p.ow);
  require_param(y.n == x.n && y.c == w.k && y.h == p.oh && y.w == p.ow,
                std::string(a.y_name) + " is " + shape(y.n, y.c, y.h, y.w) + " but the output of " +
                    a.x_name + " " + shape(x.n, x.c, x.h, x.w) + " and " + a.w_name + " is " +
                    shape(x.n, w.k, p.oh, p.ow));
  p.n = x.n;
  p.c = x.c;
  p.h = x.h;
  p.w = x.w;
  p.k = w.k;
  p.r = w.h;
  p.s = w.w;
  p.pad_h = conv.pad_h;
  p.pad_w = conv.pad_w;
  p.stride_h = conv.stride_h;
  p.stride_w = conv.stride_w;
  p.x = tensor_strides(x);
  p.y = tensor_strides(y);
  p.filter = filter_strides(w);
  p.x_bytes = tensor_bytes(x);
  p.y_bytes = tensor_bytes(y);
  p.filter_bytes = filter_bytes(w);
  p.math = conv.math;
  return p;
}

}  // namespace kiln::emu::cudnn

using namespace kiln::emu::cudnn;

cudnnStatus_t cudnnGetConvolution2dForwardOutputDim(const cudnnConvolutionDescriptor_t convDesc,
                                                    const cudnnTensorDescriptor_t inputTensorDesc,
                                                    const cudnnFilterDescriptor_t filterDesc,
                                                    int* n, int* c, int* h, int* w) {
  return run_cudnn("cudnnGetConvolution2dForwardOutputDim", [&] {
    const cudnnConvolutionStruct& conv = described("convDesc", convDesc);
    const cudnnTensorStruct& x = described("inputTensorDesc", inputTensorDesc);
    const cudnnFilterStruct& filter = described("filterDesc", filterDesc);
    require_param(n != nullptr && c != nullptr && h != nullptr && w != nullptr,
                  "an output pointer (n, c, h or w) is NULL");
    int oh = 0;
    int ow = 0;
    convolution_output(x, filter, conv, &oh, &ow);
    *n = x.n;
    *c = filter.k;
    *h = oh;
    *w = ow;
  });
}
