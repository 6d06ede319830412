// The cuBLAS stand-in (cuda/emulation/cublas.cpp), called through the real cublas_v2.h as kiln
// calls it, with memory from the emulated cudaMalloc, against a naive column-major GEMM in double.
// The cuDNN stand-ins are tested in test_library_standins_*.cpp.
#include <cublas_v2.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "library_standins_references.h"
#include "library_standins_support.h"

namespace kiln::emu_test {
namespace {

struct GemmCase {
  bool transpose_a, transpose_b;
  int m, n, k, lda, ldb, ldc;
  float alpha, beta;

  std::size_t a_count() const { return std::size_t(lda) * (transpose_a ? m : k); }
  std::size_t b_count() const { return std::size_t(ldb) * (transpose_b ? k : n); }
  std::size_t c_count() const { return std::size_t(ldc) * n; }
};

class CublasStandIn : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_EQ(cublasCreate(&handle_), CUBLAS_STATUS_SUCCESS); }
  void TearDown() override {
    EXPECT_EQ(cublasDestroy(handle_), CUBLAS_STATUS_SUCCESS);
    EXPECT_EQ(take_cuda_error(), cudaSuccess) << "a test left a fault unchecked";
  }

  cublasStatus_t gemm(const GemmCase& g, const void* a, const void* b, void* c,
                      cublasComputeType_t compute = CUBLAS_COMPUTE_32F,
                      cudaDataType a_type = CUDA_R_32F,
                      cublasGemmAlgo_t algo = CUBLAS_GEMM_DEFAULT) {
    return cublasGemmEx(handle_, g.transpose_a ? CUBLAS_OP_T : CUBLAS_OP_N,
                        g.transpose_b ? CUBLAS_OP_T : CUBLAS_OP_N, g.m, g.n, g.k, &g.alpha, a,
                        a_type, g.lda, b, CUDA_R_32F, g.ldb, &g.beta, c, CUDA_R_32F, g.ldc, compute,
                        algo);
  }

  // Runs g on random A, B and C (C poisoned with NaN when beta == 0) and compares with the
  // reference; `round` selects the TF32 reference.
  void expect_matches_reference(const GemmCase& g, cublasComputeType_t compute, bool round) {
    const auto a = random_floats(g.a_count(), 1);
    const auto b = random_floats(g.b_count(), 2);
    DeviceFloats da(a), db(b), dc(g.c_count());
    if (g.beta != 0.0f) dc.upload(random_floats(g.c_count(), 3));
    const auto c = dc.download();
    ASSERT_EQ(gemm(g, da.get(), db.get(), dc.get(), compute), CUBLAS_STATUS_SUCCESS);
    EXPECT_TRUE(all_close(dc.download(),
                          reference_gemm(g.transpose_a, g.transpose_b, g.m, g.n, g.k, g.alpha, a,
                                         g.lda, b, g.ldb, g.beta, c, g.ldc, round)));
  }

  cublasHandle_t handle_ = nullptr;
};

TEST_F(CublasStandIn, AllFourTransposeCombinationsWithPaddedLeadingDimensions) {
  for (const bool ta : {false, true}) {
    for (const bool tb : {false, true}) {
      SCOPED_TRACE(testing::Message() << "transpose a " << ta << ", b " << tb);
      const int m = 5, n = 4, k = 7;
      GemmCase g{ta, tb, m, n, k, (ta ? k : m) + 2, (tb ? n : k) + 3, m + 1, 1.5f, -0.5f};
      expect_matches_reference(g, CUBLAS_COMPUTE_32F, false);
      g.beta = 0.0f;  // C starts as NaN and must not be read
      expect_matches_reference(g, CUBLAS_COMPUTE_32F, false);
    }
  }
}

TEST_F(CublasStandIn, KZeroScalesCAndMZeroDoesNothing) {
  const GemmCase scale{false, false, 3, 2, 0, 3, 1, 3, 1.0f, 2.0f};
  const auto c = random_floats(scale.c_count(), 4);
  DeviceFloats dc(c);
  ASSERT_EQ(gemm(scale, nullptr, nullptr, dc.get()), CUBLAS_STATUS_SUCCESS);
  EXPECT_TRUE(all_close(dc.download(), blend(std::vector<double>(c.size(), 0.0), 1.0, c, 2.0)));

  const GemmCase zero{false, false, 3, 2, 0, 3, 1, 3, 1.0f, 0.0f};
  dc.poison();
  ASSERT_EQ(gemm(zero, nullptr, nullptr, dc.get()), CUBLAS_STATUS_SUCCESS);
  EXPECT_TRUE(all_close(dc.download(), std::vector<double>(c.size(), 0.0)));

  const GemmCase empty{false, false, 0, 2, 4, 1, 4, 1, 1.0f, 0.0f};
  dc.upload(c);
  ASSERT_EQ(gemm(empty, nullptr, nullptr, dc.get()), CUBLAS_STATUS_SUCCESS);
  EXPECT_EQ(dc.download(), c);
}

TEST_F(CublasStandIn, Tf32ComputeTypeRoundsInputsAndThe32FTypesDoNot) {
  const GemmCase g{false, true, 6, 5, 64, 6, 5, 6, 1.0f, 0.0f};
  expect_matches_reference(g, CUBLAS_COMPUTE_32F_FAST_TF32, true);
  expect_matches_reference(g, CUBLAS_COMPUTE_32F, false);
  expect_matches_reference(g, CUBLAS_COMPUTE_32F_PEDANTIC, false);
  // The two references differ by far more than the tolerance, so the checks above tell them apart.
  const auto a = random_floats(g.a_count(), 1);
  const auto b = random_floats(g.b_count(), 2);
  const std::vector<float> c(g.c_count(), 0.0f);
  const auto exact = reference_gemm(false, true, 6, 5, 64, 1.0, a, 6, b, 5, 0.0, c, 6, false);
  const auto rounded = reference_gemm(false, true, 6, 5, 64, 1.0, a, 6, b, 5, 0.0, c, 6, true);
  std::vector<float> rounded_floats(rounded.begin(), rounded.end());
  EXPECT_GT(max_difference(rounded_floats, exact), 1e-4);
}

TEST_F(CublasStandIn, InvalidSizesAndLeadingDimensionsAreInvalidValue) {
  DeviceFloats a(64), b(64), c(64);
  const GemmCase cases[] = {
      {false, false, 4, 2, 3, 3, 3, 4, 1.0f, 0.0f},   // lda < m
      {true, false, 4, 2, 3, 2, 3, 4, 1.0f, 0.0f},    // lda < k (A transposed)
      {false, false, 4, 2, 3, 4, 2, 4, 1.0f, 0.0f},   // ldb < k
      {false, true, 4, 2, 3, 4, 1, 4, 1.0f, 0.0f},    // ldb < n (B transposed)
      {false, false, 4, 2, 3, 4, 3, 3, 1.0f, 0.0f},   // ldc < m
      {false, false, -1, 2, 3, 4, 3, 4, 1.0f, 0.0f},  // m < 0
      {false, false, 4, 2, -3, 4, 3, 4, 1.0f, 0.0f},  // k < 0
  };
  for (const GemmCase& g : cases) {
    EXPECT_EQ(gemm(g, a.get(), b.get(), c.get()), CUBLAS_STATUS_INVALID_VALUE);
  }
  EXPECT_EQ(gemm(cases[4], a.get(), b.get(), c.get()), CUBLAS_STATUS_INVALID_VALUE);
  EXPECT_NE(std::string(cublasGetStatusString(CUBLAS_STATUS_INVALID_VALUE)).find("ldc = 3"),
            std::string::npos)
      << "the status string of the last failure names the argument";
  const GemmCase ok{false, false, 4, 2, 3, 4, 3, 4, 1.0f, 0.0f};
  EXPECT_EQ(cublasGemmEx(handle_, CUBLAS_OP_CONJG, CUBLAS_OP_N, 4, 2, 3, &ok.alpha, a.get(),
                         CUDA_R_32F, 4, b.get(), CUDA_R_32F, 3, &ok.beta, c.get(), CUDA_R_32F, 4,
                         CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT),
            CUBLAS_STATUS_INVALID_VALUE);
  EXPECT_EQ(cublasGemmEx(handle_, CUBLAS_OP_N, CUBLAS_OP_N, 4, 2, 3, nullptr, a.get(), CUDA_R_32F,
                         4, b.get(), CUDA_R_32F, 3, &ok.beta, c.get(), CUDA_R_32F, 4,
                         CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT),
            CUBLAS_STATUS_INVALID_VALUE);
  EXPECT_EQ(cublasGemmEx(handle_, CUBLAS_OP_N, CUBLAS_OP_N, 4, 2, 3, a.get(), a.get(), CUDA_R_32F,
                         4, b.get(), CUDA_R_32F, 3, &ok.beta, c.get(), CUDA_R_32F, 4,
                         CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT),
            CUBLAS_STATUS_INVALID_VALUE)
      << "alpha on the device under CUBLAS_POINTER_MODE_HOST";
  EXPECT_EQ(gemm(ok, a.get(), b.get(), c.get()), CUBLAS_STATUS_SUCCESS);
}

TEST_F(CublasStandIn, TypesComputeTypesAndAlgorithmsOutsideF32AreNotSupported) {
  DeviceFloats a(64), b(64), c(64);
  const GemmCase g{false, false, 4, 2, 3, 4, 3, 4, 1.0f, 0.0f};
  EXPECT_EQ(gemm(g, a.get(), b.get(), c.get(), CUBLAS_COMPUTE_32F, CUDA_R_16F),
            CUBLAS_STATUS_NOT_SUPPORTED);
  EXPECT_EQ(gemm(g, a.get(), b.get(), c.get(), CUBLAS_COMPUTE_64F), CUBLAS_STATUS_NOT_SUPPORTED);
  EXPECT_EQ(gemm(g, a.get(), b.get(), c.get(), CUBLAS_COMPUTE_32F_FAST_16F),
            CUBLAS_STATUS_NOT_SUPPORTED);
  EXPECT_EQ(gemm(g, a.get(), b.get(), c.get(), CUBLAS_COMPUTE_32F, CUDA_R_32F, CUBLAS_GEMM_ALGO0),
            CUBLAS_STATUS_NOT_SUPPORTED);
}

TEST_F(CublasStandIn, HostOrTooShortMatricesAreInvalidValueAndAFault) {
  const GemmCase g{false, false, 4, 2, 3, 4, 3, 4, 1.0f, 0.0f};
  std::vector<float> host(g.a_count(), 1.0f);
  DeviceFloats a(g.a_count()), b(g.b_count()), short_c(g.c_count() - 1);
  EXPECT_EQ(gemm(g, host.data(), b.get(), short_c.get()), CUBLAS_STATUS_INVALID_VALUE);
  EXPECT_EQ(take_cuda_error(), cudaErrorIllegalAddress);
  EXPECT_EQ(gemm(g, a.get(), b.get(), short_c.get()), CUBLAS_STATUS_INVALID_VALUE);
  EXPECT_EQ(take_cuda_error(), cudaErrorIllegalAddress);
  const std::string text = cublasGetStatusString(CUBLAS_STATUS_INVALID_VALUE);
  EXPECT_NE(text.find("cublasGemmEx"), std::string::npos) << text;
  EXPECT_NE(text.find("argument C"), std::string::npos) << text;
}

TEST_F(CublasStandIn, HandlesAndStreamsAreChecked) {
  EXPECT_EQ(cublasCreate(nullptr), CUBLAS_STATUS_INVALID_VALUE);
  cublasHandle_t doomed = nullptr;
  ASSERT_EQ(cublasCreate(&doomed), CUBLAS_STATUS_SUCCESS);
  ASSERT_EQ(cublasDestroy(doomed), CUBLAS_STATUS_SUCCESS);
  EXPECT_EQ(cublasDestroy(doomed), CUBLAS_STATUS_NOT_INITIALIZED);
  EXPECT_EQ(cublasSetStream(doomed, nullptr), CUBLAS_STATUS_NOT_INITIALIZED);
  EXPECT_EQ(cublasSetStream(nullptr, nullptr), CUBLAS_STATUS_NOT_INITIALIZED);

  cudaStream_t stream = nullptr;
  ASSERT_EQ(cudaStreamCreate(&stream), cudaSuccess);
  ASSERT_EQ(cublasSetStream(handle_, stream), CUBLAS_STATUS_SUCCESS);
  cudaStream_t got = nullptr;
  ASSERT_EQ(cublasGetStream(handle_, &got), CUBLAS_STATUS_SUCCESS);
  EXPECT_EQ(got, stream);
  ASSERT_EQ(cudaStreamDestroy(stream), cudaSuccess);
  DeviceFloats a(64), b(64), c(64);
  const GemmCase g{false, false, 4, 2, 3, 4, 3, 4, 1.0f, 0.0f};
  EXPECT_EQ(gemm(g, a.get(), b.get(), c.get()), CUBLAS_STATUS_EXECUTION_FAILED);
  EXPECT_EQ(cublasSetStream(handle_, stream), CUBLAS_STATUS_INVALID_VALUE);
  ASSERT_EQ(cublasSetStream(handle_, nullptr), CUBLAS_STATUS_SUCCESS);
  EXPECT_EQ(gemm(g, a.get(), b.get(), c.get()), CUBLAS_STATUS_SUCCESS);
}

TEST_F(CublasStandIn, WorkspaceMustBeAlignedDeviceMemory) {
  DeviceFloats workspace(1024);
  EXPECT_EQ(cublasSetWorkspace(handle_, workspace.get(), workspace.bytes()), CUBLAS_STATUS_SUCCESS);
  EXPECT_EQ(cublasSetWorkspace(handle_, workspace.get() + 1, 512), CUBLAS_STATUS_INVALID_VALUE);
  EXPECT_EQ(take_cuda_error(), cudaErrorMisalignedAddress);
  std::vector<float> host(1024);
  EXPECT_EQ(cublasSetWorkspace(handle_, host.data(), 512), CUBLAS_STATUS_INVALID_VALUE);
  EXPECT_EQ(take_cuda_error(), cudaErrorIllegalAddress);
  EXPECT_EQ(cublasSetWorkspace(handle_, nullptr, 0), CUBLAS_STATUS_SUCCESS);
}

TEST_F(CublasStandIn, VersionAndStatusTexts) {
  int major = 0, minor = -1, patch = -1;
  ASSERT_EQ(cublasGetProperty(MAJOR_VERSION, &major), CUBLAS_STATUS_SUCCESS);
  ASSERT_EQ(cublasGetProperty(MINOR_VERSION, &minor), CUBLAS_STATUS_SUCCESS);
  ASSERT_EQ(cublasGetProperty(PATCH_LEVEL, &patch), CUBLAS_STATUS_SUCCESS);
  EXPECT_EQ(major, CUBLAS_VER_MAJOR);
  EXPECT_EQ(minor, CUBLAS_VER_MINOR);
  EXPECT_EQ(patch, CUBLAS_VER_PATCH);
  EXPECT_EQ(cublasGetProperty(MAJOR_VERSION, nullptr), CUBLAS_STATUS_INVALID_VALUE);
  EXPECT_STREQ(cublasGetStatusName(CUBLAS_STATUS_NOT_SUPPORTED), "CUBLAS_STATUS_NOT_SUPPORTED");
  EXPECT_STREQ(cublasGetStatusString(CUBLAS_STATUS_SUCCESS),
               "the operation completed successfully");
}

}  // namespace
}  // namespace kiln::emu_test
