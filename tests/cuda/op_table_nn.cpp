// Rows of the op table (op_table.h): GEMM, bias and the fused epilogues, whole Dense layers,
// convolution in all directions (plain, fused, chunked batches, TF32) and pooling. Geometries
// cover the paths of cuda/cudnn_conv.cpp and cuda/cudnn_pool.h: symmetric padding, Keras 'same'
// with more padding at the bottom / right, strides, 1x1 kernels, zero-size batches and inputs
// full of ties and NaN.
#include <algorithm>
#include <cmath>
#include <optional>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "op_table.h"

namespace kiln::cuda_test {

namespace {

using backend::Backend;
using backend::Pointwise;
using backend::PoolMode;
using Outputs = std::vector<Tensor>;

// ---- GEMM, bias, epilogues

void add_gemm_cases(std::vector<OpCase>& cases) {
  struct Size {
    std::int64_t m, n, k;
  };
  for (const Size s : {Size{67, 45, 33}, Size{1, 1, 1}, Size{0, 5, 3}, Size{5, 0, 3}, Size{5, 3, 0},
                       Size{128, 10, 64}}) {
    for (bool ta : {false, true}) {
      for (bool tb : {false, true}) {
        for (bool tf32 : {false, true}) {
          const std::string name =
              fmt::format("gemm_{}x{}x{}{}{}{}", s.m, s.n, s.k, ta ? "_ta" : "", tb ? "_tb" : "",
                          tf32 ? "_tf32" : "");
          cases.push_back(
              {name, tf32 ? kTf32 : kStrict, false, tf32, [=](Backend& be, Device d) {
                 const Tensor a = uniform_on(d, ta ? Shape{s.k, s.m} : Shape{s.m, s.k}, 70);
                 const Tensor b = uniform_on(d, tb ? Shape{s.n, s.k} : Shape{s.k, s.n}, 71);
                 Tensor c = uniform_on(d, {s.m, s.n}, 72);
                 be.gemm(ta, tb, 0.7, a, b, 0.3, c);
                 Tensor fresh = output_on(d, {s.m, s.n});
                 be.gemm(ta, tb, 1.0, a, b, 0.0, fresh);  // beta 0: c is not read
                 return Outputs{c, fresh};
               }});
        }
      }
    }
  }
}

void add_bias_cases(std::vector<OpCase>& cases) {
  for (const Shape& shape : {Shape{5000, 32}, Shape{3, 7, 11, 5}, Shape{1, 129}, Shape{0, 8}}) {
    const std::string tag = fmt::format("_{}", fmt::join(shape, "_"));
    const std::int64_t k = shape.back();
    cases.push_back({"add_bias" + tag, kElementwise, false, false, [=](Backend& be, Device d) {
                       Tensor y = uniform_on(d, shape, 73);
                       be.add_bias(y, uniform_on(d, {k}, 74));
                       return Outputs{y};
                     }});
    cases.push_back({"bias_backward" + tag, kStrict, false, false, [=](Backend& be, Device d) {
                       Tensor dbias = output_on(d, {k});
                       be.bias_backward(uniform_on(d, shape, 75), dbias);
                       return Outputs{dbias};
                     }});
  }
}

const char* pointwise_name(Pointwise f) {
  switch (f) {
    case Pointwise::relu: return "relu";
    case Pointwise::sigmoid: return "sigmoid";
    case Pointwise::tanh: return "tanh";
  }
  return "f";
}

void add_epilogue_cases(std::vector<OpCase>& cases) {
  for (Pointwise f : {Pointwise::relu, Pointwise::sigmoid, Pointwise::tanh}) {
    for (bool with_bias : {false, true}) {
      const std::string tag = std::string(pointwise_name(f)) + (with_bias ? "_bias" : "_nobias");
      cases.push_back(
          {"bias_activation_forward_" + tag, kElementwise, true, false, [=](Backend& be, Device d) {
             Tensor y = with_specials(d, {301, 24}, 76);
             const Tensor bias = with_bias ? uniform_on(d, {24}, 77) : Tensor();
             be.bias_activation_forward(y, bias, f);
             return Outputs{y};
           }});
      cases.push_back(
          {"bias_activation_backward_" + tag, kStrict, false, false, [=](Backend& be, Device d) {
             Tensor y = uniform_on(d, {301, 24}, 78);
             be.pointwise_forward(f, y, y);
             Tensor dz = output_on(d, {301, 24});
             Tensor dbias = with_bias ? output_on(d, {24}) : Tensor();
             be.bias_activation_backward(f, y, uniform_on(d, {301, 24}, 79), dz, dbias);
             return with_bias ? Outputs{dz, dbias} : Outputs{dz};
           }});
    }
  }
}

// ---- Dense, whole layers (Backend::dense_*_fused; on CUDA cuBLASLt's epilogues: Note [Dense
// through cuBLASLt] in cuda/cublaslt_dense.cpp). x sits at an odd offset for odd batches, so the
// emulated cuBLASLt picks its 4-byte-aligned algorithm there and its 16-byte one elsewhere; ReLU
// and none are fused, sigmoid takes the composed path; n == 0 has nothing to compute.

struct DenseCase {
  std::int64_t n, in, out;
};

struct DenseGradients {
  bool dx = true, dkernel = true;
};

Outputs run_dense(Backend& be, Device d, const DenseCase& s, std::optional<Pointwise> f,
                  bool with_bias, DenseGradients wanted) {
  const Tensor x = offset_copy(uniform_on(Device::cpu(), {s.n, s.in}, 88), d, s.n % 2);
  const Tensor kernel = uniform_on(d, {s.in, s.out}, 89);
  const Tensor bias = with_bias ? uniform_on(d, {s.out}, 90) : Tensor();
  Tensor y = output_on(d, {s.n, s.out});
  be.dense_forward_fused(x, kernel, bias, f, y);
  Tensor dx = wanted.dx ? output_on(d, {s.n, s.in}) : Tensor();
  Tensor dkernel = wanted.dkernel ? output_on(d, {s.in, s.out}) : Tensor();
  Tensor dbias = with_bias ? output_on(d, {s.out}) : Tensor();
  be.dense_backward_fused(x, kernel, f ? y : Tensor(), uniform_on(d, {s.n, s.out}, 91), f, dx,
                          dkernel, dbias);
  Outputs outputs{y};
  for (const Tensor& t : {dx, dkernel, dbias}) {
    if (t.defined()) outputs.push_back(t);
  }
  return outputs;
}

void add_dense_cases(std::vector<OpCase>& cases) {
  const std::optional<Pointwise> activations[] = {std::nullopt, Pointwise::relu,
                                                  Pointwise::sigmoid};
  for (const DenseCase s :
       {DenseCase{1, 1, 1}, DenseCase{1, 7, 5}, DenseCase{5, 3, 1}, DenseCase{33, 67, 45},
        DenseCase{64, 128, 10}, DenseCase{17, 13, 129}, DenseCase{0, 5, 3}}) {
    for (const std::optional<Pointwise> f : activations) {
      for (bool with_bias : {false, true}) {
        for (bool tf32 : {false, true}) {
          const std::string name = fmt::format("dense_fused_{}x{}x{}_{}_{}{}", s.n, s.in, s.out,
                                               f ? pointwise_name(*f) : "linear",
                                               with_bias ? "bias" : "nobias", tf32 ? "_tf32" : "");
          cases.push_back({name, tf32 ? kTf32 : kStrict, false, tf32, [=](Backend& be, Device d) {
                             return run_dense(be, d, s, f, with_bias, {});
                           }});
        }
      }
    }
  }
  // Some gradients only: the first layer (no dx), a frozen kernel (dbias without dkernel).
  for (const DenseGradients wanted : {DenseGradients{false, true}, DenseGradients{true, false}}) {
    const std::string name =
        fmt::format("dense_fused_9x10x6_relu_bias_{}", wanted.dx ? "no_dkernel" : "no_dx");
    cases.push_back({name, kStrict, false, false, [=](Backend& be, Device d) {
                       return run_dense(be, d, {9, 10, 6}, Pointwise::relu, true, wanted);
                     }});
  }
}

// ---- convolution

struct ConvCase {
  std::string name;
  std::int64_t n, h, w, c, kh, kw, o, stride_h, stride_w;
  bool same;  // Keras padding='same' (extra row / column at the bottom / right), else 'valid'
};

struct Axis {
  std::int64_t out = 0, pad_before = 0;
};

// One axis of a Keras window: 'same' (the odd extra padding at the end) or 'valid'.
Axis keras_axis(std::int64_t in, std::int64_t window, std::int64_t stride, bool same) {
  if (!same) return {(in - window) / stride + 1, 0};
  const std::int64_t out = (in + stride - 1) / stride;
  return {out, std::max<std::int64_t>((out - 1) * stride + window - in, 0) / 2};
}

backend::Conv2dGeometry geometry_of(const ConvCase& t) {
  backend::Conv2dGeometry g;
  g.n = t.n, g.h = t.h, g.w = t.w, g.c = t.c, g.kh = t.kh, g.kw = t.kw, g.o = t.o;
  g.stride_h = t.stride_h, g.stride_w = t.stride_w;
  const Axis rows = keras_axis(t.h, t.kh, t.stride_h, t.same);
  const Axis cols = keras_axis(t.w, t.kw, t.stride_w, t.same);
  g.oh = rows.out, g.pad_top = rows.pad_before, g.ow = cols.out, g.pad_left = cols.pad_before;
  return g;
}

const ConvCase kConvCases[] = {
    {"valid3x3", 4, 12, 10, 3, 3, 3, 8, 1, 1, false},
    {"same3x3_symmetric", 3, 9, 11, 4, 3, 3, 6, 1, 1, true},
    {"same2x2_asymmetric", 2, 8, 7, 3, 2, 2, 5, 1, 1, true},
    {"same3x3_stride2_asymmetric", 2, 10, 9, 3, 3, 3, 4, 2, 2, true},
    {"same4x4_stride3", 2, 11, 10, 2, 4, 4, 3, 3, 3, true},
    {"valid5x5_stride2", 2, 13, 13, 2, 5, 5, 3, 2, 2, false},
    {"pointwise1x1", 5, 6, 6, 16, 1, 1, 32, 1, 1, false},
    {"seed_model_first_layer", 8, 28, 28, 1, 3, 3, 32, 1, 1, false},
    {"wide", 4, 13, 13, 32, 3, 3, 64, 1, 1, false},
    {"empty_batch", 0, 8, 8, 3, 3, 3, 4, 1, 1, true},
};

struct ConvInputs {
  backend::Conv2dGeometry g;
  Tensor x, w, dy;
};

// x at an offset inside its buffer for odd batch sizes, so cuDNN sees unaligned pointers too.
ConvInputs conv_inputs(const backend::Conv2dGeometry& g, Device d) {
  ConvInputs in;
  in.g = g;
  in.x = offset_copy(uniform_on(Device::cpu(), {g.n, g.h, g.w, g.c}, 80), d, g.n % 2);
  in.w = uniform_on(d, {g.kh, g.kw, g.c, g.o}, 81);
  in.dy = uniform_on(d, {g.n, g.oh, g.ow, g.o}, 82);
  return in;
}

// Sets the chunk size of cuDNN calls for a scope (Note [Large batches] in cudnn_conv.cpp).
class ElementLimit {
 public:
  explicit ElementLimit(std::int64_t limit) { cuda::set_cudnn_element_limit(limit); }
  ~ElementLimit() { cuda::set_cudnn_element_limit(0); }
  ElementLimit(const ElementLimit&) = delete;
  ElementLimit& operator=(const ElementLimit&) = delete;
};

Outputs run_conv_directions(Backend& be, Device d, const backend::Conv2dGeometry& g,
                            std::int64_t element_limit) {
  const ConvInputs in = conv_inputs(g, d);
  const ElementLimit limit(element_limit);
  Tensor y = output_on(d, {g.n, g.oh, g.ow, g.o});
  be.conv2d_forward(g, in.x, in.w, y);
  Tensor dx = output_on(d, {g.n, g.h, g.w, g.c});
  be.conv2d_backward_data(g, in.dy, in.w, dx);
  Tensor dw = output_on(d, {g.kh, g.kw, g.c, g.o});
  be.conv2d_backward_filter(g, in.x, in.dy, dw);
  Tensor dw_again = output_on(d, {g.kh, g.kw, g.c, g.o});  // the cached algorithm, second call
  be.conv2d_backward_filter(g, in.x, in.dy, dw_again);
  return {y, dx, dw, dw_again};
}

// A whole Conv2D layer (Backend::conv2d_*_fused). On CUDA the forward pass with ReLU or none runs
// through cuDNN's graph API (Note [Fused convolution plans] in cuda/cudnn_graph_conv.cpp) unless
// `graph` is false, which forces the legacy cudnnConvolutionForward with separate bias / ReLU
// kernels (KILN_CUDNN_GRAPH=0).
struct FusedConv {
  std::optional<Pointwise> f = Pointwise::relu;
  bool bias = true;
  bool graph = true;
};

Outputs run_conv_fused(Backend& be, Device d, const backend::Conv2dGeometry& g, FusedConv how) {
  const CudnnGraphScope graph(how.graph);
  const ConvInputs in = conv_inputs(g, d);
  const Tensor bias = how.bias ? uniform_on(d, {g.o}, 83) : Tensor();
  Tensor y = output_on(d, {g.n, g.oh, g.ow, g.o});
  be.conv2d_forward_fused(g, in.x, in.w, bias, how.f, y);
  Tensor dx = output_on(d, {g.n, g.h, g.w, g.c});
  Tensor dw = output_on(d, {g.kh, g.kw, g.c, g.o});
  Tensor dbias = how.bias ? output_on(d, {g.o}) : Tensor();
  be.conv2d_backward_fused(g, in.x, in.w, how.f ? y : Tensor(), in.dy, how.f, dx, dw, dbias);
  return how.bias ? Outputs{y, dx, dw, dbias} : Outputs{y, dx, dw};
}

void add_conv_fused_cases(std::vector<OpCase>& cases, const std::string& name,
                          const backend::Conv2dGeometry& g) {
  const struct {
    const char* tag;
    FusedConv how;
  } variants[] = {{"relu", {}},
                  {"relu_nobias", {Pointwise::relu, false, true}},
                  {"bias", {std::nullopt, true, true}},
                  {"linear", {std::nullopt, false, true}},
                  {"relu_legacy", {Pointwise::relu, true, false}},
                  {"bias_legacy", {std::nullopt, true, false}}};
  for (const auto& v : variants) {
    const FusedConv how = v.how;
    cases.push_back({fmt::format("conv2d_fused_{}_{}", v.tag, name), kStrict, false, false,
                     [=](Backend& be, Device d) { return run_conv_fused(be, d, g, how); }});
  }
  // With TF32 only y is compared: an output near 0 may land on the other side of the ReLU than
  // the CPU's, and then the gradients differ there by a whole dy, as they would on a GPU.
  cases.push_back(
      {"conv2d_fused_relu_" + name + "_tf32", kTf32, false, true,
       [=](Backend& be, Device d) { return Outputs{run_conv_fused(be, d, g, {})[0]}; }});
}

void add_conv_cases(std::vector<OpCase>& cases) {
  for (const ConvCase& c : kConvCases) {
    const backend::Conv2dGeometry g = geometry_of(c);
    cases.push_back({"conv2d_" + c.name, kStrict, false, false,
                     [=](Backend& be, Device d) { return run_conv_directions(be, d, g, 0); }});
    cases.push_back({"conv2d_" + c.name + "_tf32", kTf32, false, true,
                     [=](Backend& be, Device d) { return run_conv_directions(be, d, g, 0); }});
    add_conv_fused_cases(cases, c.name, g);
  }
  // Batches split into chunks of whole images (2 per call, the last chunk smaller).
  for (const char* name : {"same3x3_stride2_asymmetric", "valid3x3"}) {
    const ConvCase& c = *std::find_if(std::begin(kConvCases), std::end(kConvCases),
                                      [&](const ConvCase& t) { return t.name == name; });
    ConvCase bigger = c;
    bigger.n = 5;
    const backend::Conv2dGeometry g = geometry_of(bigger);
    const std::int64_t per_image =
        std::max({g.h * g.w * g.c, g.oh * g.ow * g.o,
                  (g.oh * g.stride_h + g.kh) * (g.ow * g.stride_w + g.kw) * g.c});
    cases.push_back(
        {std::string("conv2d_chunked_batch_") + name, kStrict, false, false,
         [=](Backend& be, Device d) { return run_conv_directions(be, d, g, 2 * per_image + 1); }});
  }
}

// ---- pooling

struct PoolCase {
  std::string name;
  std::int64_t n, h, w, c, ph, pw, stride_h, stride_w;
  bool same;
};

backend::Pool2dGeometry geometry_of(const PoolCase& t) {
  backend::Pool2dGeometry g;
  g.n = t.n, g.h = t.h, g.w = t.w, g.c = t.c, g.ph = t.ph, g.pw = t.pw;
  g.stride_h = t.stride_h, g.stride_w = t.stride_w;
  const Axis rows = keras_axis(t.h, t.ph, t.stride_h, t.same);
  const Axis cols = keras_axis(t.w, t.pw, t.stride_w, t.same);
  g.oh = rows.out, g.pad_top = rows.pad_before, g.ow = cols.out, g.pad_left = cols.pad_before;
  return g;
}

const PoolCase kPoolCases[] = {
    {"valid2x2_stride2", 3, 8, 8, 5, 2, 2, 2, 2, false},
    {"valid2x2_stride2_odd", 3, 9, 7, 4, 2, 2, 2, 2, false},
    {"same3x3_stride1", 2, 7, 6, 3, 3, 3, 1, 1, true},
    {"same2x2_stride2_odd", 2, 7, 9, 3, 2, 2, 2, 2, true},
    {"same3x3_stride2", 2, 8, 8, 3, 3, 3, 2, 2, true},
    {"valid3x3_stride2_overlapping", 2, 9, 9, 6, 3, 3, 2, 2, false},
    {"seed_model", 4, 26, 26, 32, 2, 2, 2, 2, false},
    {"empty_batch", 0, 8, 8, 3, 2, 2, 2, 2, false},
};

const char* mode_name(PoolMode mode) {
  switch (mode) {
    case PoolMode::max: return "max";
    case PoolMode::min: return "min";
    case PoolMode::avg: return "avg";
  }
  return "pool";
}

// Forward with and without winners (the inference path may use cuDNN), then backward.
Outputs run_pool(Backend& be, Device d, PoolMode mode, const backend::Pool2dGeometry& g,
                 const Tensor& x) {
  Tensor y = output_on(d, {g.n, g.oh, g.ow, g.c});
  Tensor winners =
      mode == PoolMode::avg ? Tensor() : output_on(d, {g.n, g.oh, g.ow, g.c}, DType::i32);
  be.pool2d_forward(mode, g, x, y, winners);
  Tensor inference = output_on(d, {g.n, g.oh, g.ow, g.c});
  Tensor none;
  be.pool2d_forward(mode, g, x, inference, none);
  Tensor dx = output_on(d, {g.n, g.h, g.w, g.c});
  be.pool2d_backward(mode, g, winners, uniform_on(d, {g.n, g.oh, g.ow, g.c}, 84), dx);
  return winners.defined() ? Outputs{y, inference, dx, winners} : Outputs{y, inference, dx};
}

void add_pool_cases(std::vector<OpCase>& cases) {
  for (const PoolCase& c : kPoolCases) {
    const backend::Pool2dGeometry g = geometry_of(c);
    for (PoolMode mode : {PoolMode::max, PoolMode::min, PoolMode::avg}) {
      const std::string tag = std::string(mode_name(mode)) + "_" + c.name;
      // Ties everywhere: the first winner must be taken, exactly as on the CPU.
      cases.push_back({"pool2d_ties_" + tag, mode == PoolMode::avg ? kElementwise : kExact, false,
                       false, [=](Backend& be, Device d) {
                         return run_pool(be, d, mode, g, with_ties(d, {g.n, g.h, g.w, g.c}, 85));
                       }});
      cases.push_back(
          {"pool2d_nan_" + tag, mode == PoolMode::avg ? kElementwise : kExact, true, false,
           [=](Backend& be, Device d) {
             return run_pool(be, d, mode, g, with_specials(d, {g.n, g.h, g.w, g.c}, 86));
           }});
    }
  }
}

}  // namespace

std::vector<OpCase> matrix_conv_and_pool_cases() {
  std::vector<OpCase> cases;
  add_gemm_cases(cases);
  add_bias_cases(cases);
  add_epilogue_cases(cases);
  add_dense_cases(cases);
  add_conv_cases(cases);
  add_pool_cases(cases);
  return cases;
}

}  // namespace kiln::cuda_test
