// The cuBLASLt stand-in's checks (cuda/emulation/cublaslt_*.cpp): descriptor attributes, the
// heuristic's workspace and alignment plumbing, cublasLtMatmul's documented status codes, the
// settings it does not emulate (NOT_SUPPORTED), and recording under stream capture.
#include <cublasLt.h>
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "cublaslt_test_support.h"
#include "graph_test_support.h"

namespace kiln::emu_test {
namespace {

constexpr LtShape kShape{4, 3, 5, false, false, 4, 5, 4, 4};

class CublasLtChecks : public ::testing::Test {
 protected:
  void SetUp() override { testing::internal::CaptureStderr(); }
  void TearDown() override {
    testing::internal::GetCapturedStderr();
    cudaGetLastError();
  }

  cublasStatus_t matmul(const void* a, const void* b, void* d, const cublasLtMatmulAlgo_t* algo,
                        void* workspace, std::size_t workspace_bytes, float alpha = 1.0f,
                        float beta = 0.0f, cudaStream_t stream = nullptr) {
    return cublasLtMatmul(mm_.handle(), mm_.desc(), &alpha, a, mm_.a(), b, mm_.b(), &beta, d,
                          mm_.c(), d, mm_.d(), algo, workspace, workspace_bytes, stream);
  }
  cublasStatus_t matmul_ok(const cublasLtMatmulAlgo_t* algo = nullptr) {
    return matmul(a_.get(), b_.get(), d_.get(), algo, workspace_.get(), workspace_.bytes());
  }

  LtMatmul mm_{kShape, CUBLAS_COMPUTE_32F};
  DeviceFloats a_{random_floats(kShape.a_count(), 1)}, b_{random_floats(kShape.b_count(), 2)};
  DeviceFloats d_{kShape.d_count()}, bias_{16};
  DeviceBuffer<unsigned char> mask_{16 * 3}, workspace_{4096};
};

TEST_F(CublasLtChecks, DescriptorAttributesHaveTheirSizesAndValidValues) {
  cublasLtMatmulDesc_t desc = mm_.desc();
  int32_t value = 0;
  std::size_t written = 0;
  EXPECT_EQ(cublasLtMatmulDescGetAttribute(desc, CUBLASLT_MATMUL_DESC_TRANSA, nullptr, 0, &written),
            CUBLAS_STATUS_SUCCESS);
  EXPECT_EQ(written, sizeof(int32_t)) << "sizeInBytes 0 asks for the size";
  EXPECT_EQ(cublasLtMatmulDescGetAttribute(desc, CUBLASLT_MATMUL_DESC_TRANSA, nullptr, 0, nullptr),
            CUBLAS_STATUS_INVALID_VALUE);
  EXPECT_EQ(cublasLtMatmulDescGetAttribute(desc, CUBLASLT_MATMUL_DESC_COMPUTE_TYPE, &value,
                                           sizeof(value), &written),
            CUBLAS_STATUS_SUCCESS);
  EXPECT_EQ(value, CUBLAS_COMPUTE_32F);
  uint32_t epilogue = 0;
  EXPECT_EQ(cublasLtMatmulDescGetAttribute(desc, CUBLASLT_MATMUL_DESC_EPILOGUE, &epilogue,
                                           sizeof(epilogue), nullptr),
            CUBLAS_STATUS_SUCCESS);
  EXPECT_EQ(epilogue, CUBLASLT_EPILOGUE_DEFAULT);
  const int64_t wide = 0;
  EXPECT_EQ(cublasLtMatmulDescSetAttribute(desc, CUBLASLT_MATMUL_DESC_TRANSA, &wide, sizeof(wide)),
            CUBLAS_STATUS_INVALID_VALUE)
      << "an int32_t attribute given 8 bytes";
  EXPECT_EQ(cublasLtMatmulDescSetAttribute(desc, CUBLASLT_MATMUL_DESC_TRANSA, nullptr, 4),
            CUBLAS_STATUS_INVALID_VALUE);
  EXPECT_EQ(set<int32_t>(desc, CUBLASLT_MATMUL_DESC_TRANSA, 7), CUBLAS_STATUS_INVALID_VALUE);
  EXPECT_EQ(set<uint32_t>(desc, CUBLASLT_MATMUL_DESC_EPILOGUE, 3), CUBLAS_STATUS_INVALID_VALUE);
  EXPECT_EQ(set<int32_t>(desc, CUBLASLT_MATMUL_DESC_POINTER_MODE, 9), CUBLAS_STATUS_INVALID_VALUE);
  EXPECT_EQ(set<int32_t>(desc, CUBLASLT_MATMUL_DESC_TRANSC, CUBLAS_OP_N),
            CUBLAS_STATUS_NOT_SUPPORTED);
  const void* bias = bias_.get();
  ASSERT_EQ(set(desc, CUBLASLT_MATMUL_DESC_BIAS_POINTER, bias), CUBLAS_STATUS_SUCCESS);
  const void* got = nullptr;
  EXPECT_EQ(cublasLtMatmulDescGetAttribute(desc, CUBLASLT_MATMUL_DESC_BIAS_POINTER, &got,
                                           sizeof(got), nullptr),
            CUBLAS_STATUS_SUCCESS);
  EXPECT_EQ(got, bias);
}

TEST_F(CublasLtChecks, LayoutsAreColumnMajorSingleMatricesOnly) {
  LtLayout layout;
  ASSERT_EQ(cublasLtMatrixLayoutCreate(layout.out(), CUDA_R_32F, 4, 3, 4), CUBLAS_STATUS_SUCCESS);
  EXPECT_EQ(set<int32_t>(layout.get(), CUBLASLT_MATRIX_LAYOUT_ORDER, CUBLASLT_ORDER_COL),
            CUBLAS_STATUS_SUCCESS);
  EXPECT_EQ(set<int32_t>(layout.get(), CUBLASLT_MATRIX_LAYOUT_ORDER, CUBLASLT_ORDER_ROW),
            CUBLAS_STATUS_NOT_SUPPORTED);
  EXPECT_EQ(set<int32_t>(layout.get(), CUBLASLT_MATRIX_LAYOUT_ORDER, 42),
            CUBLAS_STATUS_INVALID_VALUE);
  EXPECT_EQ(set<int32_t>(layout.get(), CUBLASLT_MATRIX_LAYOUT_BATCH_COUNT, 1),
            CUBLAS_STATUS_SUCCESS);
  EXPECT_EQ(set<int32_t>(layout.get(), CUBLASLT_MATRIX_LAYOUT_BATCH_COUNT, 2),
            CUBLAS_STATUS_NOT_SUPPORTED);
  EXPECT_EQ(set<int32_t>(layout.get(), CUBLASLT_MATRIX_LAYOUT_BATCH_COUNT, 0),
            CUBLAS_STATUS_INVALID_VALUE);
  uint64_t rows = 0;
  EXPECT_EQ(cublasLtMatrixLayoutGetAttribute(layout.get(), CUBLASLT_MATRIX_LAYOUT_ROWS, &rows,
                                             sizeof(rows), nullptr),
            CUBLAS_STATUS_SUCCESS);
  EXPECT_EQ(rows, 4u);
  cublasLtMatrixLayout_t doomed = layout.release();
  EXPECT_EQ(cublasLtMatrixLayoutDestroy(doomed), CUBLAS_STATUS_SUCCESS);
  EXPECT_EQ(cublasLtMatrixLayoutDestroy(doomed), CUBLAS_STATUS_INVALID_VALUE);
  EXPECT_EQ(set<uint64_t>(doomed, CUBLASLT_MATRIX_LAYOUT_ROWS, 4), CUBLAS_STATUS_INVALID_VALUE);
  EXPECT_EQ(cublasLtMatrixLayoutDestroy(nullptr), CUBLAS_STATUS_SUCCESS);
}

// Note [Emulated algorithms]: split_k needs a workspace and 16-byte alignment, direct neither.
TEST_F(CublasLtChecks, TheHeuristicHonoursWorkspaceAndAlignmentPreferences) {
  const auto both = mm_.heuristics(1u << 20);
  ASSERT_EQ(both.size(), 2u);
  EXPECT_EQ(both[0].workspaceSize, std::size_t(kShape.m) * kShape.n * sizeof(double));
  EXPECT_EQ(both[0].state, CUBLAS_STATUS_SUCCESS);
  EXPECT_EQ(mm_.heuristics(both[0].workspaceSize - 1).size(), 1u);

  LtPreference pref;
  ASSERT_EQ(cublasLtMatmulPreferenceCreate(pref.out()), CUBLAS_STATUS_SUCCESS);
  ASSERT_EQ(set<uint64_t>(pref.get(), CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, 1u << 20),
            CUBLAS_STATUS_SUCCESS);
  ASSERT_EQ(set<uint32_t>(pref.get(), CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES, 4),
            CUBLAS_STATUS_SUCCESS);
  cublasLtMatmulHeuristicResult_t results[4];
  int returned = 0;
  ASSERT_EQ(cublasLtMatmulAlgoGetHeuristic(mm_.handle(), mm_.desc(), mm_.a(), mm_.b(), mm_.c(),
                                           mm_.d(), pref.get(), 4, results, &returned),
            CUBLAS_STATUS_SUCCESS);
  EXPECT_EQ(returned, 1) << "B promised only 4-byte alignment: no split_k";
  EXPECT_EQ(results[0].workspaceSize, 0u);
  EXPECT_EQ(cublasLtMatmulAlgoGetHeuristic(mm_.handle(), mm_.desc(), mm_.a(), mm_.b(), mm_.c(),
                                           mm_.d(), pref.get(), 0, results, &returned),
            CUBLAS_STATUS_INVALID_VALUE);
  EXPECT_EQ(set<uint32_t>(pref.get(), CUBLASLT_MATMUL_PREF_SEARCH_MODE,
                          CUBLASLT_SEARCH_LIMITED_BY_ALGO_ID),
            CUBLAS_STATUS_NOT_SUPPORTED);

  mm_.set_epilogue(CUBLASLT_EPILOGUE_RELU_AUX, nullptr,
                   static_cast<unsigned char*>(mask_.get()) + 4, 128);
  mm_.heuristics(1u << 20, CUBLAS_STATUS_NOT_SUPPORTED);  // a mask pointer not 16-byte aligned
}

TEST_F(CublasLtChecks, MatmulStatusCodesAsDocumented) {
  const auto algos = mm_.heuristics(1u << 20);
  ASSERT_EQ(matmul_ok(&algos[0].algo), CUBLAS_STATUS_SUCCESS);
  EXPECT_EQ(matmul(a_.get(), b_.get(), d_.get(), &algos[0].algo, workspace_.get(),
                   algos[0].workspaceSize - 1),
            CUBLAS_STATUS_INVALID_VALUE)
      << "workspace smaller than the algorithm needs";
  EXPECT_CONTAINS(cublasGetStatusString(CUBLAS_STATUS_INVALID_VALUE), "workspaceSizeInBytes");
  EXPECT_EQ(matmul(a_.get(), b_.get(), d_.get(), &algos[0].algo,
                   static_cast<unsigned char*>(workspace_.get()) + 8, 1024),
            CUBLAS_STATUS_INVALID_VALUE)
      << "a workspace not 256-byte aligned";
  EXPECT_EQ(cudaGetLastError(), cudaErrorMisalignedAddress);
  std::vector<float> host(64);
  EXPECT_EQ(matmul(host.data(), b_.get(), d_.get(), nullptr, nullptr, 0),
            CUBLAS_STATUS_INVALID_VALUE);
  EXPECT_EQ(cudaGetLastError(), cudaErrorIllegalAddress);
  EXPECT_EQ(matmul(a_.get(), b_.get(), a_.get(), nullptr, nullptr, 0), CUBLAS_STATUS_INVALID_VALUE)
      << "D overlapping A";
  cublasLtMatmulAlgo_t made_up{};
  EXPECT_EQ(matmul_ok(&made_up), CUBLAS_STATUS_INVALID_VALUE);
  const float alpha = 1.0f;
  EXPECT_EQ(
      cublasLtMatmul(mm_.handle(), mm_.desc(), &alpha, a_.get(), mm_.a(), b_.get(), mm_.b(),
                     nullptr, d_.get(), mm_.c(), d_.get(), mm_.d(), nullptr, nullptr, 0, nullptr),
      CUBLAS_STATUS_INVALID_VALUE)
      << "beta is NULL";
  LtLayout wrong;
  ASSERT_EQ(cublasLtMatrixLayoutCreate(wrong.out(), CUDA_R_32F, 5, 3, 5), CUBLAS_STATUS_SUCCESS);
  EXPECT_EQ(
      cublasLtMatmul(mm_.handle(), mm_.desc(), &alpha, a_.get(), mm_.a(), b_.get(), mm_.b(), &alpha,
                     d_.get(), mm_.c(), d_.get(), wrong.get(), nullptr, nullptr, 0, nullptr),
      CUBLAS_STATUS_INVALID_VALUE)
      << "D's shape disagrees";
  cudaStream_t gone = nullptr;
  ASSERT_EQ(cudaStreamCreate(&gone), cudaSuccess);
  ASSERT_EQ(cudaStreamDestroy(gone), cudaSuccess);
  EXPECT_EQ(matmul(a_.get(), b_.get(), d_.get(), nullptr, nullptr, 0, 1.0f, 0.0f, gone),
            CUBLAS_STATUS_EXECUTION_FAILED);
  LtHandle handle;
  ASSERT_EQ(cublasLtCreate(handle.out()), CUBLAS_STATUS_SUCCESS);
  cublasLtHandle_t destroyed = handle.release();
  ASSERT_EQ(cublasLtDestroy(destroyed), CUBLAS_STATUS_SUCCESS);
  EXPECT_EQ(cublasLtDestroy(destroyed), CUBLAS_STATUS_NOT_INITIALIZED);
  EXPECT_EQ(
      cublasLtMatmul(destroyed, mm_.desc(), &alpha, a_.get(), mm_.a(), b_.get(), mm_.b(), &alpha,
                     d_.get(), mm_.c(), d_.get(), mm_.d(), nullptr, nullptr, 0, nullptr),
      CUBLAS_STATUS_NOT_INITIALIZED);
}

TEST_F(CublasLtChecks, EpilogueOperandsAreChecked) {
  mm_.set_epilogue(CUBLASLT_EPILOGUE_BIAS, nullptr, nullptr, 0);
  EXPECT_EQ(matmul_ok(), CUBLAS_STATUS_INVALID_VALUE) << "BIAS without a bias pointer";
  mm_.set_epilogue(CUBLASLT_EPILOGUE_RELU_AUX, nullptr, mask_.get(), 64);
  EXPECT_EQ(matmul_ok(), CUBLAS_STATUS_INVALID_VALUE) << "an aux ld not a multiple of 128";
  mm_.set_epilogue(CUBLASLT_EPILOGUE_RELU_AUX, nullptr, mask_.get(), 256);
  EXPECT_EQ(matmul_ok(), CUBLAS_STATUS_INVALID_VALUE) << "a mask buffer too short for ld 256";
  EXPECT_EQ(cudaGetLastError(), cudaErrorIllegalAddress);
  mm_.set_epilogue(CUBLASLT_EPILOGUE_RELU_AUX, nullptr, mask_.get(), 128);
  EXPECT_EQ(matmul_ok(), CUBLAS_STATUS_SUCCESS);
  mm_.set_epilogue(CUBLASLT_EPILOGUE_BIAS, d_.get(), nullptr, 0);
  EXPECT_EQ(matmul_ok(), CUBLAS_STATUS_INVALID_VALUE) << "D overwrites the bias it reads";
}

TEST_F(CublasLtChecks, SettingsThatAreNotEmulatedAreNotSupported) {
  for (const auto epilogue :
       {CUBLASLT_EPILOGUE_GELU, CUBLASLT_EPILOGUE_GELU_AUX_BIAS, CUBLASLT_EPILOGUE_DGELU_BGRAD}) {
    mm_.set_epilogue(epilogue, bias_.get(), nullptr, 0);
    EXPECT_EQ(matmul_ok(), CUBLAS_STATUS_NOT_SUPPORTED) << "epilogue " << epilogue;
    mm_.heuristics(1u << 20, CUBLAS_STATUS_NOT_SUPPORTED);
  }
  mm_.set_epilogue(CUBLASLT_EPILOGUE_BGRADA, bias_.get(), nullptr, 0);
  EXPECT_EQ(matmul(a_.get(), b_.get(), d_.get(), nullptr, nullptr, 0, 2.0f),
            CUBLAS_STATUS_NOT_SUPPORTED)
      << "BGRADA with alpha != 1";
  mm_.set_epilogue(CUBLASLT_EPILOGUE_DRELU_BGRAD, bias_.get(), mask_.get(), 128);
  EXPECT_EQ(matmul(a_.get(), b_.get(), d_.get(), nullptr, nullptr, 0, 1.0f, 1.0f),
            CUBLAS_STATUS_NOT_SUPPORTED)
      << "DRELU_BGRAD with beta != 0";
  mm_.set_epilogue(CUBLASLT_EPILOGUE_BIAS, bias_.get(), nullptr, 0);
  EXPECT_EQ(set<int32_t>(mm_.desc(), CUBLASLT_MATMUL_DESC_BIAS_DATA_TYPE, CUDA_R_16F),
            CUBLAS_STATUS_SUCCESS);
  EXPECT_EQ(matmul_ok(), CUBLAS_STATUS_NOT_SUPPORTED) << "a half bias";
  EXPECT_EQ(set<int32_t>(mm_.desc(), CUBLASLT_MATMUL_DESC_BIAS_DATA_TYPE, CUDA_R_32F),
            CUBLAS_STATUS_SUCCESS);
  EXPECT_EQ(
      set<int32_t>(mm_.desc(), CUBLASLT_MATMUL_DESC_POINTER_MODE, CUBLASLT_POINTER_MODE_DEVICE),
      CUBLAS_STATUS_SUCCESS);
  EXPECT_EQ(matmul_ok(), CUBLAS_STATUS_NOT_SUPPORTED) << "device pointer mode";
  LtMatmul f64(kShape, CUBLAS_COMPUTE_64F);
  f64.heuristics(1u << 20, CUBLAS_STATUS_NOT_SUPPORTED);
  LtLayout half;
  ASSERT_EQ(cublasLtMatrixLayoutCreate(half.out(), CUDA_R_16F, 4, 5, 4), CUBLAS_STATUS_SUCCESS);
  const float one = 1.0f;
  EXPECT_EQ(
      cublasLtMatmul(mm_.handle(), f64.desc(), &one, a_.get(), half.get(), b_.get(), mm_.b(), &one,
                     d_.get(), mm_.c(), d_.get(), mm_.d(), nullptr, nullptr, 0, nullptr),
      CUBLAS_STATUS_NOT_SUPPORTED);
}

// Recorded with its scalars and descriptor contents: the descriptors die before the replay.
TEST_F(CublasLtChecks, AMatmulOnACapturingStreamIsRecordedAndReplayed) {
  Stream stream;
  const LtShape s = kShape;
  auto mm = std::make_unique<LtMatmul>(s, CUBLAS_COMPUTE_32F);
  const std::vector<float> bias = random_floats(16, 7);
  bias_.upload(bias);
  mm->set_epilogue(CUBLASLT_EPILOGUE_RELU_AUX_BIAS, bias_.get(), mask_.get(), 128);
  const auto algos = mm->heuristics(1u << 20);
  float alpha = 0.5f, beta = 0.0f;
  ASSERT_EQ(cudaStreamBeginCapture(stream.get(), cudaStreamCaptureModeGlobal), cudaSuccess);
  ASSERT_EQ(cublasLtMatmul(mm->handle(), mm->desc(), &alpha, a_.get(), mm->a(), b_.get(), mm->b(),
                           &beta, d_.get(), mm->c(), d_.get(), mm->d(), &algos[0].algo,
                           workspace_.get(), workspace_.bytes(), stream.get()),
            CUBLAS_STATUS_SUCCESS);
  cudaGraph_t graph = nullptr;
  ASSERT_EQ(cudaStreamEndCapture(stream.get(), &graph), cudaSuccess);
  alpha = 7.0f;
  mm.reset();
  EXPECT_TRUE(all_bytes_ff(d_.download())) << "the captured matmul ran";
  GraphExec exec(graph);
  ASSERT_EQ(cudaGraphDestroy(graph), cudaSuccess);
  ASSERT_EQ(cudaGraphLaunch(exec.get(), stream.get()), cudaSuccess);
  const LtExpected e =
      reference_matmul(s, CUBLASLT_EPILOGUE_RELU_AUX_BIAS, 0.5, random_floats(s.a_count(), 1),
                       random_floats(s.b_count(), 2), 0.0, {}, std::vector<float>(s.d_count()),
                       bias, {}, 128, false);
  EXPECT_TRUE(all_close(d_.download(), e.d));
  const std::vector<unsigned char> mask = mask_.download();
  for (int j = 0; j < s.n; ++j) {
    for (int i = 0; i < s.m; ++i) {
      EXPECT_EQ(mask_bit(mask, 128, i, j), e.relu_passed[std::size_t(j)][std::size_t(i)]);
    }
  }
  EXPECT_EQ(cudaGetLastError(), cudaSuccess);
}

// The bias pointer comes from the descriptor, yet a replay checks it like the operands.
TEST_F(CublasLtChecks, ABiasFreedAfterTheCaptureIsAFaultAtReplayNamingIt) {
  Stream stream;
  auto bias = std::make_unique<DeviceFloats>(random_floats(16, 8));
  mm_.set_epilogue(CUBLASLT_EPILOGUE_BIAS, bias->get(), nullptr, 0);
  ASSERT_EQ(cudaStreamBeginCapture(stream.get(), cudaStreamCaptureModeGlobal), cudaSuccess);
  ASSERT_EQ(matmul(a_.get(), b_.get(), d_.get(), nullptr, nullptr, 0, 1.0f, 0.0f, stream.get()),
            CUBLAS_STATUS_SUCCESS);
  const cudaError_t fault = replay_after_freeing(stream.get(), bias);
  EXPECT_EQ(fault, cudaErrorIllegalAddress);
  EXPECT_CONTAINS(cudaGetErrorString(fault),
                  "cublasLtMatmul replayed from a graph: argument BIAS_POINTER");
  EXPECT_TRUE(all_bytes_ff(d_.download())) << "the matmul ran on freed memory";
}

TEST_F(CublasLtChecks, AMatmulOnAnInvalidatedCaptureFailsAndRunsNothing) {
  Stream stream;
  ASSERT_EQ(cudaStreamBeginCapture(stream.get(), cudaStreamCaptureModeGlobal), cudaSuccess);
  ASSERT_EQ(cudaStreamSynchronize(stream.get()), cudaErrorStreamCaptureUnsupported);
  EXPECT_EQ(matmul(a_.get(), b_.get(), d_.get(), nullptr, nullptr, 0, 1.0f, 0.0f, stream.get()),
            CUBLAS_STATUS_EXECUTION_FAILED);
  EXPECT_CONTAINS(cublasLtGetStatusString(CUBLAS_STATUS_EXECUTION_FAILED),
                  "cudaErrorStreamCaptureInvalidated");
  EXPECT_EQ(cudaGetLastError(), cudaErrorStreamCaptureInvalidated);
  expect_invalidated_end(stream.get());
  EXPECT_TRUE(all_bytes_ff(d_.download()));
}

}  // namespace
}  // namespace kiln::emu_test
