// The cuDNN stand-in's convolutions (cuda/emulation/cudnn_convolution*.cpp): every emulated
// algorithm of the three directions against a direct 7-loop convolution in double, with padding,
// strides, alpha / beta blending, NCHW tensors and the TF32 rules.
#include <cudnn.h>
#include <gtest/gtest.h>

#include <vector>

#include "library_standins_convolution_bench.h"

namespace kiln::emu_test {
namespace {

// Symmetric padding, stride 1; and per-axis padding with strides 2 / 3 whose last rows and
// columns are never read.
constexpr ConvShape kSame{2, 5, 6, 3, 4, 3, 2, 1, 1, 1, 1};
constexpr ConvShape kStrided{1, 8, 9, 2, 3, 3, 2, 1, 0, 2, 3};
// Enough products per output for TF32 rounding to show.
constexpr ConvShape kWide{1, 4, 4, 16, 8, 3, 3, 1, 1, 1, 1};

class CudnnConvolution : public ::testing::Test {
 protected:
  void TearDown() override {
    EXPECT_EQ(take_cuda_error(), cudaSuccess) << "a test left a fault unchecked";
  }
};

TEST_F(CudnnConvolution, EveryAlgorithmOfEveryDirectionMatchesTheReference) {
  for (const ConvShape& g : {kSame, kStrided}) {
    ConvolutionBench bench(g, CUDNN_FMA_MATH);
    for (const Dir dir : kAllDirs) {
      for (const AlgoInfo& a : emulated_algorithms(dir)) {
        SCOPED_TRACE(testing::Message()
                     << dir_name(dir) << " algo " << a.algo << ", x " << g.h << "x" << g.w);
        DeviceFloats out(bench.output_count(dir));  // poisoned: beta == 0 must not read it
        EXPECT_TRUE(
            all_close(bench.run_exact(dir, a.algo, 1.0f, 0.0f, out), bench.reference(dir, false)));
      }
    }
  }
}

TEST_F(CudnnConvolution, BlendsWithAlphaAndBetaAndIgnoresTheOutputWhenBetaIsZero) {
  ConvolutionBench bench(kStrided, CUDNN_FMA_MATH);
  for (const Dir dir : kAllDirs) {
    for (const AlgoInfo& a : emulated_algorithms(dir)) {
      SCOPED_TRACE(testing::Message() << dir_name(dir) << " algo " << a.algo);
      const auto old = random_floats(bench.output_count(dir), 21);
      DeviceFloats out(bench.to_device_output(dir, old));
      EXPECT_TRUE(all_close(bench.run_exact(dir, a.algo, 0.5f, -2.0f, out),
                            blend(bench.reference(dir, false), 0.5, old, -2.0)));
      out.poison();
      EXPECT_TRUE(all_close(bench.run_exact(dir, a.algo, 2.0f, 0.0f, out),
                            blend(bench.reference(dir, false), 2.0, old, 0.0)));
    }
  }
}

TEST_F(CudnnConvolution, NchwTensorsGiveTheSameResults) {
  ConvolutionBench bench(kStrided, CUDNN_FMA_MATH, CUDNN_TENSOR_NCHW);
  for (const Dir dir : kAllDirs) {
    for (const AlgoInfo& a : emulated_algorithms(dir)) {
      SCOPED_TRACE(testing::Message() << dir_name(dir) << " algo " << a.algo);
      DeviceFloats out(bench.output_count(dir));
      EXPECT_TRUE(
          all_close(bench.run_exact(dir, a.algo, 1.0f, 0.0f, out), bench.reference(dir, false)));
    }
  }
}

// Only a tensor-op algorithm under a math type that allows tensor ops rounds its inputs.
TEST_F(CudnnConvolution, Tf32OnlyForTensorOpAlgorithmsWhenTheMathTypeAllowsIt) {
  for (const cudnnMathType_t math : {CUDNN_DEFAULT_MATH, CUDNN_TENSOR_OP_MATH,
                                     CUDNN_TENSOR_OP_MATH_ALLOW_CONVERSION, CUDNN_FMA_MATH}) {
    ConvolutionBench bench(kWide, math);
    for (const Dir dir : kAllDirs) {
      const auto exact = bench.reference(dir, false);
      const auto rounded = bench.reference(dir, true);
      for (const AlgoInfo& a : emulated_algorithms(dir)) {
        SCOPED_TRACE(testing::Message() << dir_name(dir) << " algo " << a.algo << " math " << math);
        DeviceFloats out(bench.output_count(dir));
        const auto result = bench.run_exact(dir, a.algo, 1.0f, 0.0f, out);
        const bool tf32 = a.tensor_op && math != CUDNN_FMA_MATH;
        EXPECT_TRUE(all_close(result, tf32 ? rounded : exact));
        // The two references are far apart, so the check above tells which one was computed.
        EXPECT_GT(max_difference(result, tf32 ? exact : rounded), 1e-4);
      }
    }
  }
}

TEST_F(CudnnConvolution, WorkspaceSizesAreTheDocumentedOnes) {
  ConvolutionBench bench(kStrided, CUDNN_DEFAULT_MATH);
  const std::size_t taps = std::size_t(kStrided.r) * kStrided.s * kStrided.c;
  const std::size_t pixels = std::size_t(kStrided.n) * kStrided.oh() * kStrided.ow();
  const struct {
    Dir dir;
    int algo;
    std::size_t bytes;
  } expected[] = {
      {Dir::forward, CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_GEMM, 0},
      {Dir::forward, CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_PRECOMP_GEMM, taps * 24},
      {Dir::forward, CUDNN_CONVOLUTION_FWD_ALGO_GEMM, pixels * taps * sizeof(float)},
      {Dir::backward_data, CUDNN_CONVOLUTION_BWD_DATA_ALGO_0, 0},
      {Dir::backward_data, CUDNN_CONVOLUTION_BWD_DATA_ALGO_1, pixels * taps * sizeof(double)},
      {Dir::backward_filter, CUDNN_CONVOLUTION_BWD_FILTER_ALGO_0, 0},
      {Dir::backward_filter, CUDNN_CONVOLUTION_BWD_FILTER_ALGO_1, pixels * taps * sizeof(float)},
  };
  for (const auto& e : expected) {
    std::size_t bytes = 1234;
    ASSERT_EQ(bench.workspace_size(e.dir, e.algo, &bytes), CUDNN_STATUS_SUCCESS);
    EXPECT_EQ(bytes, e.bytes) << dir_name(e.dir) << " algo " << e.algo;
  }
  std::size_t bytes = 0;
  EXPECT_EQ(bench.workspace_size(Dir::forward, CUDNN_CONVOLUTION_FWD_ALGO_FFT, &bytes),
            CUDNN_STATUS_NOT_SUPPORTED);
  EXPECT_EQ(
      bench.workspace_size(Dir::backward_data, CUDNN_CONVOLUTION_BWD_DATA_ALGO_WINOGRAD, &bytes),
      CUDNN_STATUS_NOT_SUPPORTED);
  EXPECT_EQ(bench.workspace_size(Dir::backward_filter, CUDNN_CONVOLUTION_BWD_FILTER_ALGO_3, &bytes),
            CUDNN_STATUS_NOT_SUPPORTED);
  EXPECT_EQ(bench.workspace_size(Dir::forward, CUDNN_CONVOLUTION_FWD_ALGO_COUNT, &bytes),
            CUDNN_STATUS_BAD_PARAM);
  EXPECT_EQ(bench.workspace_size(Dir::forward, 0, nullptr), CUDNN_STATUS_BAD_PARAM);
}

TEST_F(CudnnConvolution, ASmallerWorkspaceOrAnUnemulatedAlgorithmIsRefusedWithoutWriting) {
  ConvolutionBench bench(kSame, CUDNN_DEFAULT_MATH);
  for (const Dir dir : kAllDirs) {
    for (const AlgoInfo& a : emulated_algorithms(dir)) {
      std::size_t bytes = 0;
      ASSERT_EQ(bench.workspace_size(dir, a.algo, &bytes), CUDNN_STATUS_SUCCESS);
      if (bytes == 0) continue;
      SCOPED_TRACE(testing::Message() << dir_name(dir) << " algo " << a.algo);
      DeviceFloats workspace(bytes / sizeof(float)), out(bench.output_count(dir));
      out.upload(std::vector<float>(out.count(), 7.0f));
      EXPECT_EQ(bench.run(dir, a.algo, 1.0f, 0.0f, out.get(), workspace.get(), bytes - 1),
                CUDNN_STATUS_BAD_PARAM);
      EXPECT_NE(last_cudnn_error().find("workSpaceSizeInBytes"), std::string::npos);
      EXPECT_EQ(out.download(), std::vector<float>(out.count(), 7.0f));
    }
  }
  DeviceFloats out(bench.output_count(Dir::forward));
  EXPECT_EQ(bench.run(Dir::forward, CUDNN_CONVOLUTION_FWD_ALGO_WINOGRAD, 1.0f, 0.0f, out.get(),
                      nullptr, 0),
            CUDNN_STATUS_NOT_SUPPORTED);
  DeviceFloats dx(bench.output_count(Dir::backward_data));
  EXPECT_EQ(bench.run(Dir::backward_data, CUDNN_CONVOLUTION_BWD_DATA_ALGO_FFT, 1.0f, 0.0f, dx.get(),
                      nullptr, 0),
            CUDNN_STATUS_NOT_SUPPORTED);
  EXPECT_EQ(
      bench.run(Dir::forward, CUDNN_CONVOLUTION_FWD_ALGO_COUNT, 1.0f, 0.0f, out.get(), nullptr, 0),
      CUDNN_STATUS_BAD_PARAM);
}

}  // namespace
}  // namespace kiln::emu_test
