// GEMM (cuBLAS), bias, convolution (cuDNN) and pooling (cuDNN and kiln's kernels) against the CPU
// backend, forward and backward, with TF32 off (<= 1e-5) and on (<= 2e-3). Geometries cover the
// paths of cuda/cudnn_conv.cpp and cuda/cudnn_pool.h: symmetric padding, Keras 'same' with more
// padding at the bottom / right, strides, 1x1 kernels, and pooling inputs full of ties.
#include <algorithm>
#include <cstdint>
#include <string>

#include "cuda_test_util.h"

namespace kiln::cuda_test {
namespace {

TEST(CudaNn, GemmForEveryTransposeWithAndWithoutTf32) {
  KILN_SKIP_WITHOUT_GPU();
  const std::int64_t m = 67, n = 45, k = 33;
  for (bool tf32 : {false, true}) {
    Tf32Scope scope(tf32);
    for (bool ta : {false, true}) {
      for (bool tb : {false, true}) {
        const Tensor a = random(ta ? Shape{k, m} : Shape{m, k}, 30);
        const Tensor b = random(tb ? Shape{n, k} : Shape{k, n}, 31);
        const Tensor c = random({m, n}, 32);
        Tensor cc = c.clone();
        cpu().gemm(ta, tb, 0.7, a, b, 0.3, cc);
        Tensor cg = on_gpu(c);
        gpu().gemm(ta, tb, 0.7, on_gpu(a), on_gpu(b), 0.3, cg);
        EXPECT_CLOSE(cg, cc, tf32 ? kTf32 : kStrict)
            << "transpose " << ta << tb << " tf32 " << tf32;
      }
    }
  }
}

TEST(CudaNn, BiasAddAndGradient) {
  KILN_SKIP_WITHOUT_GPU();
  for (const Shape& shape : {Shape{5000, 32}, Shape{3, 7, 11, 5}, Shape{1, 129}}) {
    const std::int64_t k = shape.back();
    const Tensor y = random(shape, 33);
    const Tensor bias = random({k}, 34);
    Tensor yc = y.clone();
    cpu().add_bias(yc, bias);
    Tensor yg = on_gpu(y);
    gpu().add_bias(yg, on_gpu(bias));
    EXPECT_CLOSE(yg, yc, kElementwise);

    Tensor dc = Tensor::empty({k});
    cpu().bias_backward(y, dc);
    Tensor dg = Tensor::empty({k}, DType::f32, cuda0());
    gpu().bias_backward(on_gpu(y), dg);
    EXPECT_CLOSE(dg, dc, kStrict) << shape_str(shape);
  }
}

struct ConvCase {
  std::string name;
  std::int64_t n, h, w, c, kh, kw, o, stride_h, stride_w;
  bool same;  // Keras padding='same' (extra row / column at the bottom / right), else 'valid'
};

backend::Conv2dGeometry geometry_of(const ConvCase& t) {
  backend::Conv2dGeometry g;
  g.n = t.n;
  g.h = t.h;
  g.w = t.w;
  g.c = t.c;
  g.kh = t.kh;
  g.kw = t.kw;
  g.o = t.o;
  g.stride_h = t.stride_h;
  g.stride_w = t.stride_w;
  if (t.same) {
    g.oh = (t.h + t.stride_h - 1) / t.stride_h;
    g.ow = (t.w + t.stride_w - 1) / t.stride_w;
    g.pad_top = std::max<std::int64_t>((g.oh - 1) * t.stride_h + t.kh - t.h, 0) / 2;
    g.pad_left = std::max<std::int64_t>((g.ow - 1) * t.stride_w + t.kw - t.w, 0) / 2;
  } else {
    g.oh = (t.h - t.kh) / t.stride_h + 1;
    g.ow = (t.w - t.kw) / t.stride_w + 1;
  }
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
    {"seed_model_first_layer", 16, 28, 28, 1, 3, 3, 32, 1, 1, false},
    {"wide", 8, 13, 13, 32, 3, 3, 64, 1, 1, false},
};

class CudaConv : public ::testing::TestWithParam<ConvCase> {};

TEST_P(CudaConv, ForwardAndBothGradientsMatchTheCpu) {
  KILN_SKIP_WITHOUT_GPU();
  const backend::Conv2dGeometry g = geometry_of(GetParam());
  const Tensor x = random({g.n, g.h, g.w, g.c}, 40);
  const Tensor w = random({g.kh, g.kw, g.c, g.o}, 41);
  const Tensor dy = random({g.n, g.oh, g.ow, g.o}, 42);
  Tensor yc = Tensor::empty({g.n, g.oh, g.ow, g.o});
  cpu().conv2d_forward(g, x, w, yc);
  Tensor dxc = Tensor::empty({g.n, g.h, g.w, g.c});
  cpu().conv2d_backward_data(g, dy, w, dxc);
  Tensor dwc = Tensor::empty({g.kh, g.kw, g.c, g.o});
  cpu().conv2d_backward_filter(g, x, dy, dwc);
  const Tensor xg = on_gpu(x), wg = on_gpu(w), dyg = on_gpu(dy);
  for (bool tf32 : {false, true}) {
    Tf32Scope scope(tf32);
    const double tolerance = tf32 ? kTf32 : kStrict;
    for (int repeat = 0; repeat < 2; ++repeat) {  // the second call reuses the cached algorithm
      Tensor yg = Tensor::full({g.n, g.oh, g.ow, g.o}, 7.0, DType::f32, cuda0());
      gpu().conv2d_forward(g, xg, wg, yg);
      EXPECT_CLOSE(yg, yc, tolerance) << "forward, tf32 " << tf32;
      Tensor dxg = Tensor::full({g.n, g.h, g.w, g.c}, 7.0, DType::f32, cuda0());
      gpu().conv2d_backward_data(g, dyg, wg, dxg);
      EXPECT_CLOSE(dxg, dxc, tolerance) << "backward data, tf32 " << tf32;
      Tensor dwg = Tensor::full({g.kh, g.kw, g.c, g.o}, 7.0, DType::f32, cuda0());
      gpu().conv2d_backward_filter(g, xg, dyg, dwg);
      EXPECT_CLOSE(dwg, dwc, tolerance) << "backward filter, tf32 " << tf32;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Geometries, CudaConv, ::testing::ValuesIn(kConvCases),
                         [](const ::testing::TestParamInfo<ConvCase>& param) {
                           return param.param.name;
                         });

struct PoolCase {
  std::string name;
  std::int64_t n, h, w, c, ph, pw, stride_h, stride_w;
  bool same;
};

backend::Pool2dGeometry geometry_of(const PoolCase& t) {
  backend::Pool2dGeometry g;
  g.n = t.n;
  g.h = t.h;
  g.w = t.w;
  g.c = t.c;
  g.ph = t.ph;
  g.pw = t.pw;
  g.stride_h = t.stride_h;
  g.stride_w = t.stride_w;
  if (t.same) {
    g.oh = (t.h + t.stride_h - 1) / t.stride_h;
    g.ow = (t.w + t.stride_w - 1) / t.stride_w;
    g.pad_top = std::max<std::int64_t>((g.oh - 1) * t.stride_h + t.ph - t.h, 0) / 2;
    g.pad_left = std::max<std::int64_t>((g.ow - 1) * t.stride_w + t.pw - t.w, 0) / 2;
  } else {
    g.oh = (t.h - t.ph) / t.stride_h + 1;
    g.ow = (t.w - t.pw) / t.stride_w + 1;
  }
  return g;
}

const PoolCase kPoolCases[] = {
    {"valid2x2_stride2", 3, 8, 8, 5, 2, 2, 2, 2, false},
    {"valid2x2_stride2_odd", 3, 9, 7, 4, 2, 2, 2, 2, false},
    {"same3x3_stride1", 2, 7, 6, 3, 3, 3, 1, 1, true},
    {"same2x2_stride2_odd", 2, 7, 9, 3, 2, 2, 2, 2, true},
    {"same3x3_stride2", 2, 8, 8, 3, 3, 3, 2, 2, true},
    {"valid3x3_stride2_overlapping", 2, 9, 9, 6, 3, 3, 2, 2, false},
    {"seed_model", 16, 26, 26, 32, 2, 2, 2, 2, false},
};

class CudaPool : public ::testing::TestWithParam<PoolCase> {};

TEST_P(CudaPool, ForwardAndBackwardMatchTheCpuIncludingTies) {
  KILN_SKIP_WITHOUT_GPU();
  const backend::Pool2dGeometry g = geometry_of(GetParam());
  const Tensor x = random_with_ties({g.n, g.h, g.w, g.c}, 50);
  const Tensor dy = random({g.n, g.oh, g.ow, g.c}, 51);
  for (backend::PoolMode mode :
       {backend::PoolMode::max, backend::PoolMode::min, backend::PoolMode::avg}) {
    Tensor yc = Tensor::empty({g.n, g.oh, g.ow, g.c});
    cpu().pool2d_forward(mode, g, x, yc);
    Tensor yg = Tensor::full({g.n, g.oh, g.ow, g.c}, 7.0, DType::f32, cuda0());
    gpu().pool2d_forward(mode, g, on_gpu(x), yg);
    EXPECT_CLOSE(yg, yc, kElementwise) << "forward, mode " << static_cast<int>(mode);

    Tensor dxc = Tensor::empty({g.n, g.h, g.w, g.c});
    cpu().pool2d_backward(mode, g, x, yc, dy, dxc);
    Tensor dxg = Tensor::full({g.n, g.h, g.w, g.c}, 7.0, DType::f32, cuda0());
    gpu().pool2d_backward(mode, g, on_gpu(x), on_gpu(yc), on_gpu(dy), dxg);
    if (mode == backend::PoolMode::avg) {
      EXPECT_CLOSE(dxg, dxc, kElementwise) << "backward, avg";
    } else {
      expect_equal<float>(dxg, dxc);  // the first winner of each window, exactly
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Geometries, CudaPool, ::testing::ValuesIn(kPoolCases),
                         [](const ::testing::TestParamInfo<PoolCase>& param) {
                           return param.param.name;
                         });

}  // namespace
}  // namespace kiln::cuda_test
