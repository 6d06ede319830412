// The cuDNN stand-in's algorithm queries (cuda/emulation/cudnn_convolution_search.cpp): Find*Ex
// (runs, sorting, statuses, math types, the overwritten output) and the _v7 heuristics.
#include <cudnn.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <vector>

#include "library_standins_convolution_bench.h"

namespace kiln::emu_test {
namespace {

constexpr ConvShape kShape{2, 5, 6, 3, 4, 3, 2, 1, 1, 2, 1};

struct Result {
  int algo;
  cudnnStatus_t status;
  float time;
  std::size_t memory;
  cudnnDeterminism_t determinism;
  cudnnMathType_t math;
};

template <class Perf>
std::vector<Result> convert(const std::vector<Perf>& perf, int count) {
  std::vector<Result> results;
  for (int i = 0; i < count; ++i) {
    const Perf& p = perf[i];
    results.push_back(
        {static_cast<int>(p.algo), p.status, p.time, p.memory, p.determinism, p.mathType});
  }
  return results;
}

int algorithm_count(Dir dir) {
  switch (dir) {
    case Dir::forward: return CUDNN_CONVOLUTION_FWD_ALGO_COUNT;
    case Dir::backward_data: return CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT;
    case Dir::backward_filter: return CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT;
  }
  return 0;
}

cudnnStatus_t find(const ConvolutionBench& b, Dir dir, float* out, void* workspace,
                   std::size_t bytes, int requested, std::vector<Result>* results) {
  int returned = -1;
  cudnnStatus_t status = CUDNN_STATUS_INTERNAL_ERROR;
  if (dir == Dir::forward) {
    std::vector<cudnnConvolutionFwdAlgoPerf_t> perf(8);
    status = cudnnFindConvolutionForwardAlgorithmEx(b.handle(), b.x_desc(), b.x(), b.w_desc(),
                                                    b.w(), b.conv(), b.y_desc(), out, requested,
                                                    &returned, perf.data(), workspace, bytes);
    *results = convert(perf, returned);
  } else if (dir == Dir::backward_data) {
    std::vector<cudnnConvolutionBwdDataAlgoPerf_t> perf(8);
    status = cudnnFindConvolutionBackwardDataAlgorithmEx(
        b.handle(), b.w_desc(), b.w(), b.y_desc(), b.dy(), b.conv(), b.x_desc(), out, requested,
        &returned, perf.data(), workspace, bytes);
    *results = convert(perf, returned);
  } else {
    std::vector<cudnnConvolutionBwdFilterAlgoPerf_t> perf(8);
    status = cudnnFindConvolutionBackwardFilterAlgorithmEx(
        b.handle(), b.x_desc(), b.x(), b.y_desc(), b.dy(), b.conv(), b.w_desc(), out, requested,
        &returned, perf.data(), workspace, bytes);
    *results = convert(perf, returned);
  }
  return status;
}

cudnnStatus_t heuristics(const ConvolutionBench& b, Dir dir, std::vector<Result>* results) {
  int returned = -1;
  cudnnStatus_t status = CUDNN_STATUS_INTERNAL_ERROR;
  if (dir == Dir::forward) {
    std::vector<cudnnConvolutionFwdAlgoPerf_t> perf(8);
    status = cudnnGetConvolutionForwardAlgorithm_v7(b.handle(), b.x_desc(), b.w_desc(), b.conv(),
                                                    b.y_desc(), 8, &returned, perf.data());
    *results = convert(perf, returned);
  } else if (dir == Dir::backward_data) {
    std::vector<cudnnConvolutionBwdDataAlgoPerf_t> perf(8);
    status = cudnnGetConvolutionBackwardDataAlgorithm_v7(
        b.handle(), b.w_desc(), b.y_desc(), b.conv(), b.x_desc(), 8, &returned, perf.data());
    *results = convert(perf, returned);
  } else {
    std::vector<cudnnConvolutionBwdFilterAlgoPerf_t> perf(8);
    status = cudnnGetConvolutionBackwardFilterAlgorithm_v7(
        b.handle(), b.x_desc(), b.y_desc(), b.conv(), b.w_desc(), 8, &returned, perf.data());
    *results = convert(perf, returned);
  }
  return status;
}

std::size_t largest_workspace(const ConvolutionBench& b, Dir dir) {
  std::size_t largest = 0;
  for (const AlgoInfo& a : emulated_algorithms(dir)) {
    std::size_t bytes = 0;
    EXPECT_EQ(b.workspace_size(dir, a.algo, &bytes), CUDNN_STATUS_SUCCESS);
    largest = std::max(largest, bytes);
  }
  return largest;
}

bool tensor_op(Dir dir, int algo) {
  for (const AlgoInfo& a : emulated_algorithms(dir)) {
    if (a.algo == algo) return a.tensor_op;
  }
  return false;
}

// Every algorithm once, the emulated ones first, then NOT_SUPPORTED; math types as in
// Note [Reported math types]; determinism as cuDNN documents it.
void expect_complete_and_ordered(const std::vector<Result>& results, Dir dir, bool tensor_ops) {
  ASSERT_EQ(static_cast<int>(results.size()), algorithm_count(dir));
  const std::size_t emulated = emulated_algorithms(dir).size();
  std::vector<int> seen;
  for (std::size_t i = 0; i < results.size(); ++i) {
    const Result& r = results[i];
    SCOPED_TRACE(testing::Message() << dir_name(dir) << " result " << i << " algo " << r.algo);
    seen.push_back(r.algo);
    const bool is_emulated = i < emulated;
    EXPECT_EQ(r.status == CUDNN_STATUS_NOT_SUPPORTED, !is_emulated);
    if (!is_emulated) continue;
    const cudnnMathType_t expected_math =
        !tensor_op(dir, r.algo) ? CUDNN_DEFAULT_MATH
                                : (tensor_ops ? CUDNN_TENSOR_OP_MATH : CUDNN_FMA_MATH);
    EXPECT_EQ(r.math, expected_math);
    const bool deterministic = dir == Dir::forward || r.algo != 0;
    EXPECT_EQ(r.determinism, deterministic ? CUDNN_DETERMINISTIC : CUDNN_NON_DETERMINISTIC);
  }
  std::sort(seen.begin(), seen.end());
  for (int a = 0; a < algorithm_count(dir); ++a) EXPECT_EQ(seen[a], a);
}

class CudnnSearch : public ::testing::Test {
 protected:
  void TearDown() override {
    EXPECT_EQ(take_cuda_error(), cudaSuccess) << "a test left a fault unchecked";
  }
};

TEST_F(CudnnSearch, FindRunsEveryAlgorithmInTheCallersWorkspaceAndTrashesTheOutput) {
  for (const cudnnMathType_t math : {CUDNN_DEFAULT_MATH, CUDNN_FMA_MATH}) {
    ConvolutionBench bench(kShape, math);
    for (const Dir dir : kAllDirs) {
      SCOPED_TRACE(testing::Message() << dir_name(dir) << ", math " << math);
      const std::size_t bytes = largest_workspace(bench, dir);
      DeviceFloats workspace(bytes / sizeof(float)), out(bench.output_count(dir));
      ASSERT_EQ(cudaMemset(workspace.get(), 0, bytes), cudaSuccess);
      out.upload(std::vector<float>(out.count(), 1.0f));
      std::vector<Result> results;
      ASSERT_EQ(find(bench, dir, out.get(), workspace.get(), bytes, 8, &results),
                CUDNN_STATUS_SUCCESS);
      expect_complete_and_ordered(results, dir, math != CUDNN_FMA_MATH);
      if (math != CUDNN_FMA_MATH) {
        EXPECT_TRUE(tensor_op(dir, results[0].algo)) << "the tensor-op algorithm is the fastest";
      }
      for (std::size_t i = 0; i < emulated_algorithms(dir).size(); ++i) {
        EXPECT_EQ(results[i].status, CUDNN_STATUS_SUCCESS);
        EXPECT_GT(results[i].time, 0.0f);
        if (i > 0) {
          EXPECT_LE(results[i - 1].time, results[i].time);
        }
        std::size_t needed = 0;
        ASSERT_EQ(bench.workspace_size(dir, results[i].algo, &needed), CUDNN_STATUS_SUCCESS);
        EXPECT_EQ(results[i].memory, needed);
      }
      EXPECT_TRUE(all_bytes_ff(out.download()))
          << "Find leaves arbitrary values (NaN) in the output";
      EXPECT_NE(workspace.download(), std::vector<float>(workspace.count(), 0.0f))
          << "the algorithms that need a workspace wrote the caller's";
    }
  }
}

TEST_F(CudnnSearch, FindReportsAlgorithmsWhoseWorkspaceDoesNotFitAsAllocFailed) {
  ConvolutionBench bench(kShape, CUDNN_DEFAULT_MATH);
  for (const Dir dir : kAllDirs) {
    SCOPED_TRACE(dir_name(dir));
    DeviceFloats out(bench.output_count(dir));
    std::vector<Result> results;
    ASSERT_EQ(find(bench, dir, out.get(), nullptr, 0, 8, &results), CUDNN_STATUS_SUCCESS);
    expect_complete_and_ordered(results, dir, true);
    bool failed_seen = false;
    for (std::size_t i = 0; i < emulated_algorithms(dir).size(); ++i) {
      const Result& r = results[i];
      EXPECT_EQ(r.status, r.memory == 0 ? CUDNN_STATUS_SUCCESS : CUDNN_STATUS_ALLOC_FAILED);
      EXPECT_EQ(r.time < 0.0f, r.status != CUDNN_STATUS_SUCCESS);
      if (r.status == CUDNN_STATUS_SUCCESS) {
        EXPECT_FALSE(failed_seen) << "successes come first";
      }
      failed_seen = failed_seen || r.status != CUDNN_STATUS_SUCCESS;
    }
    EXPECT_TRUE(failed_seen);
  }
}

TEST_F(CudnnSearch, FindReturnsAtMostTheRequestedCountAndChecksItsArguments) {
  ConvolutionBench bench(kShape, CUDNN_DEFAULT_MATH);
  DeviceFloats y(bench.output_count(Dir::forward));
  std::vector<Result> results;
  ASSERT_EQ(find(bench, Dir::forward, y.get(), nullptr, 0, 2, &results), CUDNN_STATUS_SUCCESS);
  EXPECT_EQ(results.size(), 2u);
  EXPECT_EQ(find(bench, Dir::forward, y.get(), nullptr, 0, 0, &results), CUDNN_STATUS_BAD_PARAM);
  int returned = 0;
  EXPECT_EQ(cudnnFindConvolutionForwardAlgorithmEx(
                bench.handle(), bench.x_desc(), bench.x(), bench.w_desc(), bench.w(), bench.conv(),
                bench.y_desc(), y.get(), 8, &returned, nullptr, nullptr, 0),
            CUDNN_STATUS_BAD_PARAM);
  std::vector<float> host_workspace(64);
  EXPECT_EQ(find(bench, Dir::forward, y.get(), host_workspace.data(), 256, 8, &results),
            CUDNN_STATUS_BAD_PARAM);
  EXPECT_EQ(take_cuda_error(), cudaErrorIllegalAddress);
  EXPECT_NE(last_cudnn_error().find("workSpace"), std::string::npos) << last_cudnn_error();
}

// kiln's flow (cuda/cudnn_conv.cpp): take Find's first result and run it with its math type.
TEST_F(CudnnSearch, TheFirstFindResultRunWithItsMathTypeUsesTf32) {
  ConvolutionBench bench(ConvShape{1, 4, 4, 16, 8, 3, 3, 1, 1, 1, 1}, CUDNN_DEFAULT_MATH);
  for (const Dir dir : kAllDirs) {
    SCOPED_TRACE(dir_name(dir));
    const std::size_t bytes = largest_workspace(bench, dir);
    DeviceFloats workspace(bytes / sizeof(float)), out(bench.output_count(dir));
    std::vector<Result> results;
    ASSERT_EQ(find(bench, dir, out.get(), workspace.get(), bytes, 8, &results),
              CUDNN_STATUS_SUCCESS);
    ASSERT_EQ(cudnnSetConvolutionMathType(bench.conv(), results[0].math), CUDNN_STATUS_SUCCESS);
    EXPECT_TRUE(all_close(bench.run_exact(dir, results[0].algo, 1.0f, 0.0f, out),
                          bench.reference(dir, true)));
    ASSERT_EQ(cudnnSetConvolutionMathType(bench.conv(), CUDNN_DEFAULT_MATH), CUDNN_STATUS_SUCCESS);
  }
}

TEST_F(CudnnSearch, HeuristicsListEveryEmulatedAlgorithmWithoutRunningOrTiming) {
  for (const cudnnMathType_t math : {CUDNN_DEFAULT_MATH, CUDNN_FMA_MATH}) {
    ConvolutionBench bench(kShape, math);
    for (const Dir dir : kAllDirs) {
      SCOPED_TRACE(testing::Message() << dir_name(dir) << ", math " << math);
      std::vector<Result> results;
      ASSERT_EQ(heuristics(bench, dir, &results), CUDNN_STATUS_SUCCESS);
      expect_complete_and_ordered(results, dir, math != CUDNN_FMA_MATH);
      if (math != CUDNN_FMA_MATH) {
        EXPECT_TRUE(tensor_op(dir, results[0].algo)) << "the tensor-op algorithm is the fastest";
      }
      for (std::size_t i = 0; i < emulated_algorithms(dir).size(); ++i) {
        EXPECT_EQ(results[i].status, CUDNN_STATUS_SUCCESS);
        EXPECT_EQ(results[i].time, -1.0f);
      }
      DeviceFloats out(bench.output_count(dir));
      std::vector<Result> found;
      const std::size_t bytes = largest_workspace(bench, dir);
      DeviceFloats workspace(bytes / sizeof(float));
      ASSERT_EQ(find(bench, dir, out.get(), workspace.get(), bytes, 8, &found),
                CUDNN_STATUS_SUCCESS);
      for (std::size_t i = 0; i < results.size(); ++i) {
        EXPECT_EQ(results[i].algo, found[i].algo) << "the same order as Find";
      }
    }
  }
}

TEST_F(CudnnSearch, WithTensorOpsTheTensorOpAlgorithmLeadsEvenForTheSmallestShape) {
  ConvolutionBench bench(ConvShape{1, 1, 1, 1, 1, 1, 1, 0, 0, 1, 1}, CUDNN_TENSOR_OP_MATH);
  for (const Dir dir : kAllDirs) {
    std::vector<Result> results;
    ASSERT_EQ(heuristics(bench, dir, &results), CUDNN_STATUS_SUCCESS);
    EXPECT_TRUE(tensor_op(dir, results[0].algo)) << dir_name(dir);
  }
}

}  // namespace
}  // namespace kiln::emu_test
