// The cuBLASLt stand-in's arithmetic (cuda/emulation/cublaslt_*.cpp): every emulated epilogue,
// with both emulated algorithms, transposes and padded leading dimensions, against the naive
// reference of cublaslt_test_support.h; the ReLU bit-mask's exact layout; a dense layer's forward
// (RELU_AUX_BIAS) and backward (DRELU_BGRAD, BGRADA / BGRADB) against its gradient written out by
// hand; TF32.
#include <cublasLt.h>
#include <gtest/gtest.h>

#include <vector>

#include "cublaslt_test_support.h"
#include "graph_test_support.h"

namespace kiln::emu_test {
namespace {

constexpr LtShape kPlain{5, 4, 7, false, false, 5, 7, 5, 5};
constexpr LtShape kPadded{6, 3, 9, true, true, 11, 4, 9, 7};  // op(A) = A^T, op(B) = B^T
constexpr std::int64_t kMaskLd = 128;

class CublasLtEpilogues : public ::testing::Test {
 protected:
  void TearDown() override {
    EXPECT_EQ(cudaGetLastError(), cudaSuccess) << "a test left a fault unchecked";
  }
};

// Random A, B, C, bias and a random mask on the device, D poisoned; runs one matmul.
class LtBench {
 public:
  LtBench(const LtShape& s, cublasComputeType_t compute = CUBLAS_COMPUTE_32F)
      : shape_(s),
        matmul_(s, compute),
        a_(random_floats(s.a_count(), 31)),
        b_(random_floats(s.b_count(), 32)),
        c_(random_floats(s.c_count(), 33)),
        bias_(random_floats(std::size_t(std::max(s.m, s.n)), 34)),
        mask_in_(random_mask(s)),
        da_(a_),
        db_(b_),
        dc_(c_),
        dd_(s.d_count()),
        dbias_(bias_),
        dmask_(mask_in_),
        workspace_(std::size_t(s.m) * s.n * sizeof(double)) {}

  // D, the bias (gradient) vector and the mask after the matmul; `in_place` makes C the D buffer.
  struct Outputs {
    std::vector<float> d, bias;
    std::vector<unsigned char> mask;
  };
  Outputs run(cublasLtEpilogue_t epilogue, float alpha, float beta,
              const cublasLtMatmulHeuristicResult_t& algo, bool in_place = false) {
    matmul_.set_epilogue(epilogue, dbias_.get(), dmask_.get(), kMaskLd);
    const void* c = in_place ? static_cast<const void*>(dd_.get()) : dc_.get();
    EXPECT_EQ(
        cublasLtMatmul(matmul_.handle(), matmul_.desc(), &alpha, da_.get(), matmul_.a(), db_.get(),
                       matmul_.b(), &beta, c, in_place ? matmul_.d() : matmul_.c(), dd_.get(),
                       matmul_.d(), &algo.algo, workspace_.get(), workspace_.bytes(), nullptr),
        CUBLAS_STATUS_SUCCESS)
        << cublasGetStatusString(CUBLAS_STATUS_INVALID_VALUE);
    return {dd_.download(), dbias_.download(), dmask_.download()};
  }

  LtExpected expected(cublasLtEpilogue_t epilogue, float alpha, float beta,
                      const std::vector<float>& d_before, bool tf32 = false,
                      bool in_place = false) const {
    const LtShape s = in_place ? LtShape{shape_.m,           shape_.n,           shape_.k,
                                         shape_.transpose_a, shape_.transpose_b, shape_.lda,
                                         shape_.ldb,         shape_.ldd,         shape_.ldd}
                               : shape_;
    return reference_matmul(s, epilogue, alpha, a_, b_, beta, in_place ? d_before : c_, d_before,
                            bias_, mask_in_, kMaskLd, tf32);
  }

  std::vector<cublasLtMatmulHeuristicResult_t> algorithms(cublasLtEpilogue_t epilogue) {
    matmul_.set_epilogue(epilogue, dbias_.get(), dmask_.get(), kMaskLd);
    return matmul_.heuristics(1u << 20);
  }

  std::vector<float> d_now() const { return dd_.download(); }
  void set_d(const std::vector<float>& d) { dd_.upload(d); }
  const std::vector<unsigned char>& mask_in() const { return mask_in_; }

 private:
  static std::vector<unsigned char> random_mask(const LtShape& s) {
    std::vector<unsigned char> mask(std::size_t(kMaskLd / 8) * s.n);
    for (std::size_t i = 0; i < mask.size(); ++i) mask[i] = static_cast<unsigned char>(i * 37 + 11);
    return mask;
  }

  LtShape shape_;
  LtMatmul matmul_;
  std::vector<float> a_, b_, c_, bias_;
  std::vector<unsigned char> mask_in_;
  DeviceFloats da_, db_, dc_, dd_, dbias_;
  DeviceBuffer<unsigned char> dmask_;
  DeviceBuffer<unsigned char> workspace_;
};

void expect_mask(const std::vector<unsigned char>& mask, const LtExpected& e) {
  for (std::size_t j = 0; j < e.relu_passed.size(); ++j) {
    for (std::size_t i = 0; i < e.relu_passed[j].size(); ++i) {
      EXPECT_EQ(mask_bit(mask, kMaskLd, int(i), int(j)), e.relu_passed[j][i])
          << "mask bit (" << i << ", " << j << ")";
    }
  }
}

TEST_F(CublasLtEpilogues, ForwardEpiloguesMatchTheReferenceWithBothAlgorithms) {
  for (const LtShape& s : {kPlain, kPadded}) {
    for (const auto epilogue : {CUBLASLT_EPILOGUE_DEFAULT, CUBLASLT_EPILOGUE_RELU,
                                CUBLASLT_EPILOGUE_BIAS, CUBLASLT_EPILOGUE_RELU_BIAS,
                                CUBLASLT_EPILOGUE_RELU_AUX, CUBLASLT_EPILOGUE_RELU_AUX_BIAS}) {
      LtBench bench(s);
      const auto algos = bench.algorithms(epilogue);
      ASSERT_EQ(algos.size(), 2u) << "a workspace algorithm, then one without";
      EXPECT_GT(algos[0].workspaceSize, 0u);
      EXPECT_EQ(algos[1].workspaceSize, 0u);
      for (const auto& algo : algos) {
        for (const float beta : {-0.5f, 0.0f}) {
          SCOPED_TRACE(testing::Message()
                       << "epilogue " << epilogue << ", transposed " << s.transpose_a
                       << ", workspace " << algo.workspaceSize << ", beta " << beta);
          const std::vector<float> before = bench.d_now();
          const auto out = bench.run(epilogue, 1.5f, beta, algo);
          const LtExpected e = bench.expected(epilogue, 1.5f, beta, before);
          EXPECT_TRUE(all_close(out.d, e.d));
          if (epilogue == CUBLASLT_EPILOGUE_RELU_AUX ||
              epilogue == CUBLASLT_EPILOGUE_RELU_AUX_BIAS) {
            expect_mask(out.mask, e);
          }
        }
      }
    }
  }
}

// Bit (i, j) is bit (i + j * ld) % 8 of byte (i + j * ld) / 8; rows m..ld-1 stay as they were.
TEST_F(CublasLtEpilogues, TheReluMaskHasTheDocumentedLayoutAndLeavesItsPaddingAlone) {
  LtBench bench(kPlain);
  const auto algos = bench.algorithms(CUBLASLT_EPILOGUE_RELU_AUX);
  const auto out = bench.run(CUBLASLT_EPILOGUE_RELU_AUX, 1.0f, 0.0f, algos[1]);
  const LtExpected e = bench.expected(CUBLASLT_EPILOGUE_RELU_AUX, 1.0f, 0.0f, out.d);
  for (int j = 0; j < kPlain.n; ++j) {
    unsigned expected_low_byte = 0;
    for (int i = 0; i < kPlain.m; ++i) {
      if (e.relu_passed[std::size_t(j)][std::size_t(i)]) expected_low_byte |= 1u << i;
    }
    const auto* column = &out.mask[std::size_t(j) * (kMaskLd / 8)];
    const unsigned padding_bits = bench.mask_in()[std::size_t(j) * (kMaskLd / 8)] & ~0x1Fu;
    EXPECT_EQ(column[0], expected_low_byte | padding_bits) << "column " << j;
    for (int byte = 1; byte < kMaskLd / 8; ++byte) {
      EXPECT_EQ(column[byte], bench.mask_in()[std::size_t(j) * (kMaskLd / 8) + byte]);
    }
  }
}

TEST_F(CublasLtEpilogues, DreluAppliesTheMaskAndDreluBgradSumsTheRowsOfD) {
  for (const auto epilogue : {CUBLASLT_EPILOGUE_DRELU, CUBLASLT_EPILOGUE_DRELU_BGRAD}) {
    LtBench bench(kPadded);
    for (const auto& algo : bench.algorithms(epilogue)) {
      SCOPED_TRACE(testing::Message()
                   << "epilogue " << epilogue << ", workspace " << algo.workspaceSize);
      const std::vector<float> before = bench.d_now();
      const auto out = bench.run(epilogue, 0.75f, 0.0f, algo);
      const LtExpected e = bench.expected(epilogue, 0.75f, 0.0f, before);
      EXPECT_TRUE(all_close(out.d, e.d));
      if (epilogue == CUBLASLT_EPILOGUE_DRELU_BGRAD) {
        const std::vector<float> gradient(out.bias.begin(), out.bias.begin() + kPadded.m);
        EXPECT_TRUE(all_close(gradient, e.bias_gradient, 1e-5, 1e-6));
      }
    }
  }
}

TEST_F(CublasLtEpilogues, BgradaAndBgradbSumTheInputOverK) {
  for (const LtShape& s : {kPlain, kPadded}) {
    for (const auto epilogue : {CUBLASLT_EPILOGUE_BGRADA, CUBLASLT_EPILOGUE_BGRADB}) {
      LtBench bench(s);
      const auto algos = bench.algorithms(epilogue);
      const std::vector<float> before = bench.d_now();
      const auto out = bench.run(epilogue, 1.0f, 0.25f, algos[0]);
      const LtExpected e = bench.expected(epilogue, 1.0f, 0.25f, before);
      EXPECT_TRUE(all_close(out.d, e.d));
      const int length = epilogue == CUBLASLT_EPILOGUE_BGRADA ? s.m : s.n;
      EXPECT_TRUE(all_close(std::vector<float>(out.bias.begin(), out.bias.begin() + length),
                            e.bias_gradient, 1e-5, 1e-6));
    }
  }
}

TEST_F(CublasLtEpilogues, InPlaceWithCEqualToD) {
  LtBench bench(kPlain);
  const auto algos = bench.algorithms(CUBLASLT_EPILOGUE_BIAS);
  const std::vector<float> d0 = random_floats(kPlain.d_count(), 40);
  bench.set_d(d0);
  const auto out = bench.run(CUBLASLT_EPILOGUE_BIAS, 2.0f, 1.0f, algos[0], true);
  EXPECT_TRUE(
      all_close(out.d, bench.expected(CUBLASLT_EPILOGUE_BIAS, 2.0f, 1.0f, d0, false, true).d));
}

TEST_F(CublasLtEpilogues, Tf32RoundsTheInputsOnlyUnderTheFastTf32ComputeType) {
  const LtShape wide{6, 5, 64, false, true, 6, 5, 6, 6};
  for (const auto compute : {CUBLAS_COMPUTE_32F_FAST_TF32, CUBLAS_COMPUTE_32F}) {
    LtBench bench(wide, compute);
    const bool tf32 = compute == CUBLAS_COMPUTE_32F_FAST_TF32;
    for (const auto& algo : bench.algorithms(CUBLASLT_EPILOGUE_BIAS)) {
      const std::vector<float> before = bench.d_now();
      const auto out = bench.run(CUBLASLT_EPILOGUE_BIAS, 1.0f, 0.0f, algo);
      EXPECT_TRUE(
          all_close(out.d, bench.expected(CUBLASLT_EPILOGUE_BIAS, 1.0f, 0.0f, before, tf32).d));
      // The two references are far apart, so the check above tells which one was computed.
      EXPECT_GT(max_difference(out.d,
                               bench.expected(CUBLASLT_EPILOGUE_BIAS, 1.0f, 0.0f, before, !tf32).d),
                1e-4);
    }
  }
}

}  // namespace
}  // namespace kiln::emu_test
