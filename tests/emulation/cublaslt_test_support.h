// Helpers for the tests of the cuBLASLt stand-in (test_cublaslt_*.cpp): RAII for its handle and
// descriptors, attribute setters, one matmul set up end to end, and a naive reference written
// from cublasLt.h's documentation of D = epilogue(alpha op(A) op(B) + beta C), independent of the
// stand-in's code.
#pragma once

#include <cublasLt.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include "library_standins_references.h"
#include "library_standins_support.h"

namespace kiln::emu_test {

template <class T, cublasStatus_t (*Destroy)(T)>
class LtObject {
 public:
  LtObject() = default;
  ~LtObject() {
    if (object_ != nullptr) Destroy(object_);
  }
  LtObject(const LtObject&) = delete;
  LtObject& operator=(const LtObject&) = delete;
  T get() const { return object_; }
  T* out() { return &object_; }
  T release() {
    T object = object_;
    object_ = nullptr;
    return object;
  }

 private:
  T object_ = nullptr;
};

using LtHandle = LtObject<cublasLtHandle_t, cublasLtDestroy>;
using LtDesc = LtObject<cublasLtMatmulDesc_t, cublasLtMatmulDescDestroy>;
using LtLayout = LtObject<cublasLtMatrixLayout_t, cublasLtMatrixLayoutDestroy>;
using LtPreference = LtObject<cublasLtMatmulPreference_t, cublasLtMatmulPreferenceDestroy>;

template <class T>
cublasStatus_t set(cublasLtMatmulDesc_t desc, cublasLtMatmulDescAttributes_t attr, T value) {
  return cublasLtMatmulDescSetAttribute(desc, attr, &value, sizeof(value));
}
template <class T>
cublasStatus_t set(cublasLtMatrixLayout_t layout, cublasLtMatrixLayoutAttribute_t attr, T value) {
  return cublasLtMatrixLayoutSetAttribute(layout, attr, &value, sizeof(value));
}
template <class T>
cublasStatus_t set(cublasLtMatmulPreference_t pref, cublasLtMatmulPreferenceAttributes_t attr,
                   T value) {
  return cublasLtMatmulPreferenceSetAttribute(pref, attr, &value, sizeof(value));
}

// One matmul's shape: op(A) m x k, op(B) k x n, C and D m x n, column-major.
struct LtShape {
  int m, n, k;
  bool transpose_a, transpose_b;
  int lda, ldb, ldc, ldd;
  int a_rows() const { return transpose_a ? k : m; }
  int a_cols() const { return transpose_a ? m : k; }
  int b_rows() const { return transpose_b ? n : k; }
  int b_cols() const { return transpose_b ? k : n; }
  std::size_t a_count() const { return std::size_t(lda) * a_cols(); }
  std::size_t b_count() const { return std::size_t(ldb) * b_cols(); }
  std::size_t c_count() const { return std::size_t(ldc) * n; }
  std::size_t d_count() const { return std::size_t(ldd) * n; }
};

// The mask bit of element (i, j): bit (i + j * ld) % 8 of byte (i + j * ld) / 8.
inline bool mask_bit(const std::vector<unsigned char>& mask, std::int64_t ld, int i, int j) {
  const std::int64_t bit = i + j * ld;
  return ((mask[static_cast<std::size_t>(bit / 8)] >> (bit % 8)) & 1) != 0;
}

struct LtExpected {
  std::vector<double> d;              // all of D (ldd * n); untouched rows keep their value
  std::vector<double> bias_gradient;  // DRELU_BGRAD, BGRADA, BGRADB
  std::vector<std::vector<bool>> relu_passed;  // [j][i] for the *_AUX epilogues
};

// D = epilogue(alpha op(A) op(B) + beta C), as cublasLt.h documents each epilogue.
inline LtExpected reference_matmul(const LtShape& s, cublasLtEpilogue_t epilogue, double alpha,
                                   const std::vector<float>& a, const std::vector<float>& b,
                                   double beta, const std::vector<float>& c,
                                   const std::vector<float>& d_before,
                                   const std::vector<float>& bias,
                                   const std::vector<unsigned char>& mask_in, std::int64_t mask_ld,
                                   bool tf32_inputs) {
  const std::vector<double> product =
      reference_gemm(s.transpose_a, s.transpose_b, s.m, s.n, s.k, alpha, a, s.lda, b, s.ldb, 0.0,
                     std::vector<float>(std::size_t(s.m) * s.n, 0.0f), s.m, tf32_inputs);
  LtExpected e;
  e.d.assign(d_before.begin(), d_before.end());
  e.relu_passed.assign(std::size_t(s.n), std::vector<bool>(std::size_t(s.m), false));
  const bool with_bias = epilogue == CUBLASLT_EPILOGUE_BIAS ||
                         epilogue == CUBLASLT_EPILOGUE_RELU_BIAS ||
                         epilogue == CUBLASLT_EPILOGUE_RELU_AUX_BIAS;
  const bool relu = epilogue == CUBLASLT_EPILOGUE_RELU || epilogue == CUBLASLT_EPILOGUE_RELU_AUX ||
                    epilogue == CUBLASLT_EPILOGUE_RELU_BIAS ||
                    epilogue == CUBLASLT_EPILOGUE_RELU_AUX_BIAS;
  const bool drelu =
      epilogue == CUBLASLT_EPILOGUE_DRELU || epilogue == CUBLASLT_EPILOGUE_DRELU_BGRAD;
  std::vector<double> row_sums(std::size_t(s.m), 0.0);
  for (int j = 0; j < s.n; ++j) {
    for (int i = 0; i < s.m; ++i) {
      double t = product[i + std::size_t(j) * s.m];
      if (beta != 0.0) t += beta * c[i + std::size_t(j) * s.ldc];
      if (with_bias) t += bias[std::size_t(i)];
      if (relu) {
        e.relu_passed[std::size_t(j)][std::size_t(i)] = t > 0.0;
        t = t > 0.0 ? t : 0.0;
      }
      if (drelu && !mask_bit(mask_in, mask_ld, i, j)) t = 0.0;
      const float stored = static_cast<float>(t);
      e.d[i + std::size_t(j) * s.ldd] = stored;
      row_sums[std::size_t(i)] += stored;
    }
  }
  if (epilogue == CUBLASLT_EPILOGUE_DRELU_BGRAD) e.bias_gradient = row_sums;
  if (epilogue == CUBLASLT_EPILOGUE_BGRADA) {  // one per row of D, summed over k
    e.bias_gradient.assign(std::size_t(s.m), 0.0);
    for (int i = 0; i < s.m; ++i)
      for (int p = 0; p < s.k; ++p)
        e.bias_gradient[std::size_t(i)] +=
            s.transpose_a ? a[p + std::size_t(i) * s.lda] : a[i + std::size_t(p) * s.lda];
  }
  if (epilogue == CUBLASLT_EPILOGUE_BGRADB) {  // one per column of D, summed over k
    e.bias_gradient.assign(std::size_t(s.n), 0.0);
    for (int j = 0; j < s.n; ++j)
      for (int p = 0; p < s.k; ++p)
        e.bias_gradient[std::size_t(j)] +=
            s.transpose_b ? b[j + std::size_t(p) * s.ldb] : b[p + std::size_t(j) * s.ldb];
  }
  return e;
}

// A handle, a descriptor and the four layouts of `s` (f32, compute type `compute`).
class LtMatmul {
 public:
  LtMatmul(const LtShape& s, cublasComputeType_t compute) : shape_(s) {
    EXPECT_EQ(cublasLtCreate(handle_.out()), CUBLAS_STATUS_SUCCESS);
    EXPECT_EQ(cublasLtMatmulDescCreate(desc_.out(), compute, CUDA_R_32F), CUBLAS_STATUS_SUCCESS);
    EXPECT_EQ(set<int32_t>(desc_.get(), CUBLASLT_MATMUL_DESC_TRANSA,
                           s.transpose_a ? CUBLAS_OP_T : CUBLAS_OP_N),
              CUBLAS_STATUS_SUCCESS);
    EXPECT_EQ(set<int32_t>(desc_.get(), CUBLASLT_MATMUL_DESC_TRANSB,
                           s.transpose_b ? CUBLAS_OP_T : CUBLAS_OP_N),
              CUBLAS_STATUS_SUCCESS);
    EXPECT_EQ(cublasLtMatrixLayoutCreate(a_.out(), CUDA_R_32F, s.a_rows(), s.a_cols(), s.lda),
              CUBLAS_STATUS_SUCCESS);
    EXPECT_EQ(cublasLtMatrixLayoutCreate(b_.out(), CUDA_R_32F, s.b_rows(), s.b_cols(), s.ldb),
              CUBLAS_STATUS_SUCCESS);
    EXPECT_EQ(cublasLtMatrixLayoutCreate(c_.out(), CUDA_R_32F, s.m, s.n, s.ldc),
              CUBLAS_STATUS_SUCCESS);
    EXPECT_EQ(cublasLtMatrixLayoutCreate(d_.out(), CUDA_R_32F, s.m, s.n, s.ldd),
              CUBLAS_STATUS_SUCCESS);
  }

  cublasLtHandle_t handle() const { return handle_.get(); }
  cublasLtMatmulDesc_t desc() const { return desc_.get(); }
  cublasLtMatrixLayout_t a() const { return a_.get(); }
  cublasLtMatrixLayout_t b() const { return b_.get(); }
  cublasLtMatrixLayout_t c() const { return c_.get(); }
  cublasLtMatrixLayout_t d() const { return d_.get(); }

  void set_epilogue(cublasLtEpilogue_t epilogue, const void* bias, void* mask,
                    std::int64_t mask_ld) {
    EXPECT_EQ(set<uint32_t>(desc(), CUBLASLT_MATMUL_DESC_EPILOGUE, epilogue),
              CUBLAS_STATUS_SUCCESS);
    EXPECT_EQ(set<const void*>(desc(), CUBLASLT_MATMUL_DESC_BIAS_POINTER, bias),
              CUBLAS_STATUS_SUCCESS);
    EXPECT_EQ(set<void*>(desc(), CUBLASLT_MATMUL_DESC_EPILOGUE_AUX_POINTER, mask),
              CUBLAS_STATUS_SUCCESS);
    EXPECT_EQ(set<int64_t>(desc(), CUBLASLT_MATMUL_DESC_EPILOGUE_AUX_LD, mask_ld),
              CUBLAS_STATUS_SUCCESS);
  }

  // The heuristic's algorithms for a preference allowing `workspace_limit` bytes.
  std::vector<cublasLtMatmulHeuristicResult_t> heuristics(
      std::uint64_t workspace_limit, cublasStatus_t expected = CUBLAS_STATUS_SUCCESS) const {
    LtPreference pref;
    EXPECT_EQ(cublasLtMatmulPreferenceCreate(pref.out()), CUBLAS_STATUS_SUCCESS);
    EXPECT_EQ(set<uint64_t>(pref.get(), CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, workspace_limit),
              CUBLAS_STATUS_SUCCESS);
    cublasLtMatmulHeuristicResult_t results[4] = {};
    int returned = -1;
    EXPECT_EQ(cublasLtMatmulAlgoGetHeuristic(handle(), desc(), a(), b(), c(), d(), pref.get(), 4,
                                             results, &returned),
              expected);
    return std::vector<cublasLtMatmulHeuristicResult_t>(results, results + std::max(returned, 0));
  }

 private:
  LtShape shape_;
  LtHandle handle_;
  LtDesc desc_;
  LtLayout a_, b_, c_, d_;
};

}  // namespace kiln::emu_test
