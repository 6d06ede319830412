// A dense ReLU layer through the cuBLASLt stand-in as kiln will run it: the forward pass with
// RELU_AUX_BIAS keeps the ReLU mask, the backward pass feeds it to DRELU_BGRAD for dz and the
// bias gradient, and BGRADA gives dW with the same bias gradient — each against the gradient
// written out by hand in double (features x batch, column-major).
#include <cublasLt.h>
#include <gtest/gtest.h>

#include <vector>

#include "cublaslt_test_support.h"
#include "graph_test_support.h"

namespace kiln::emu_test {
namespace {

constexpr int kIn = 7, kHidden = 6, kOut = 4, kBatch = 5;
constexpr std::int64_t kMaskLd = 128;

// element (row, col) of a column-major matrix with `rows` rows
double at(const std::vector<float>& m, int rows, int row, int col) {
  return m[std::size_t(row) + std::size_t(col) * rows];
}

struct Layer {
  std::vector<float> x = random_floats(std::size_t(kIn) * kBatch, 51);
  std::vector<float> w1 = random_floats(std::size_t(kHidden) * kIn, 52);
  std::vector<float> b1 = random_floats(kHidden, 53);
  std::vector<float> w2 = random_floats(std::size_t(kOut) * kHidden, 54);
  std::vector<float> dy = random_floats(std::size_t(kOut) * kBatch, 55);
};

struct HandGradient {
  std::vector<double> activation, dz, db, dw;  // column-major
};

HandGradient by_hand(const Layer& l) {
  HandGradient g;
  g.activation.assign(std::size_t(kHidden) * kBatch, 0.0);
  g.dz.assign(g.activation.size(), 0.0);
  g.db.assign(kHidden, 0.0);
  g.dw.assign(std::size_t(kHidden) * kIn, 0.0);
  for (int i = 0; i < kHidden; ++i) {
    for (int j = 0; j < kBatch; ++j) {
      double z = l.b1[std::size_t(i)];
      for (int p = 0; p < kIn; ++p) z += at(l.w1, kHidden, i, p) * at(l.x, kIn, p, j);
      double da = 0.0;  // (W2^T dy)(i, j)
      for (int q = 0; q < kOut; ++q) da += at(l.w2, kOut, q, i) * at(l.dy, kOut, q, j);
      const std::size_t ij = std::size_t(i) + std::size_t(j) * kHidden;
      g.activation[ij] = z > 0.0 ? z : 0.0;
      g.dz[ij] = z > 0.0 ? da : 0.0;
      g.db[std::size_t(i)] += g.dz[ij];
    }
  }
  for (int i = 0; i < kHidden; ++i) {
    for (int p = 0; p < kIn; ++p) {
      for (int j = 0; j < kBatch; ++j) {
        g.dw[std::size_t(i) + std::size_t(p) * kHidden] +=
            g.dz[std::size_t(i) + std::size_t(j) * kHidden] * at(l.x, kIn, p, j);
      }
    }
  }
  return g;
}

// D = epilogue(op(A) op(B)) with the direct algorithm (alpha 1, beta 0).
void matmul(const LtShape& s, cublasLtEpilogue_t epilogue, const float* a, const float* b, float* d,
            void* bias, void* mask) {
  LtMatmul mm(s, CUBLAS_COMPUTE_32F);
  mm.set_epilogue(epilogue, bias, mask, kMaskLd);
  const auto algos = mm.heuristics(0);
  ASSERT_EQ(algos.size(), 1u) << "with no workspace allowed, only the direct algorithm";
  const float alpha = 1.0f, beta = 0.0f;
  ASSERT_EQ(cublasLtMatmul(mm.handle(), mm.desc(), &alpha, a, mm.a(), b, mm.b(), &beta, d, mm.c(),
                           d, mm.d(), &algos[0].algo, nullptr, 0, nullptr),
            CUBLAS_STATUS_SUCCESS)
      << cublasGetStatusString(CUBLAS_STATUS_INVALID_VALUE);
}

TEST(CublasLtLayer, ForwardReluAuxBiasThenDreluBgradAndBgradaGiveTheHandWrittenGradient) {
  const Layer l;
  const HandGradient g = by_hand(l);
  DeviceFloats x(l.x), w1(l.w1), b1(l.b1), w2(l.w2), dy(l.dy);
  DeviceFloats activation(std::size_t(kHidden) * kBatch), dz(std::size_t(kHidden) * kBatch);
  DeviceFloats db(kHidden), db_again(kHidden), dw(std::size_t(kHidden) * kIn);
  DeviceBuffer<unsigned char> mask(std::size_t(kMaskLd / 8) * kBatch);

  // a = relu(W1 x + b1), keeping the mask
  matmul({kHidden, kBatch, kIn, false, false, kHidden, kIn, kHidden, kHidden},
         CUBLASLT_EPILOGUE_RELU_AUX_BIAS, w1.get(), x.get(), activation.get(), b1.get(),
         mask.get());
  // dz = (W2^T dy) * mask, db = sum of dz over the batch
  matmul({kHidden, kBatch, kOut, true, false, kOut, kOut, kHidden, kHidden},
         CUBLASLT_EPILOGUE_DRELU_BGRAD, w2.get(), dy.get(), dz.get(), db.get(), mask.get());
  // dW = dz x^T, and again db as the sum of dz over k (the batch)
  matmul({kHidden, kIn, kBatch, false, true, kHidden, kIn, kHidden, kHidden},
         CUBLASLT_EPILOGUE_BGRADA, dz.get(), x.get(), dw.get(), db_again.get(), nullptr);

  EXPECT_TRUE(all_close(activation.download(), g.activation, 1e-5, 1e-6));
  EXPECT_TRUE(all_close(dz.download(), g.dz, 1e-5, 1e-6));
  EXPECT_TRUE(all_close(db.download(), g.db, 1e-5, 1e-6));
  EXPECT_TRUE(all_close(db_again.download(), g.db, 1e-5, 1e-6));
  EXPECT_TRUE(all_close(dw.download(), g.dw, 1e-5, 1e-6));
  EXPECT_EQ(cudaGetLastError(), cudaSuccess);
}

}  // namespace
}  // namespace kiln::emu_test
