// One gradient checker for every differentiable op: central differences of dot(f(x), r) in
// float64 against the tape's gradient, with tolerance atol + rtol·|numeric| (dlib's test_layer,
// llm.c's tolerances). eps 1e-6, rtol 1e-3, atol 1e-5 unless a test says otherwise.
#pragma once

#include <gtest/gtest.h>

#include <functional>
#include <string>
#include <vector>

#include "kiln/ops.h"
#include "kiln/tape.h"

namespace kiln::testing {

using OpOfInputs = std::function<Tensor(const std::vector<Tensor>&)>;

inline double dot(const Tensor& a, const Tensor& b) {
  const std::vector<double> x = a.to_vector<double>(), y = b.to_vector<double>();
  double total = 0.0;
  for (std::size_t i = 0; i < x.size(); ++i) total += x[i] * y[i];
  return total;
}

inline Tensor random_f64(const Shape& shape, std::uint64_t seed, double low = -1.0,
                         double high = 1.0) {
  return Tensor::uniform(shape, low, high, seed, DType::f64);
}

// Checks d dot(f(inputs), r) / d inputs[i] for every input listed in `check` (all by default).
inline void expect_gradients_match(const std::string& what, const OpOfInputs& f,
                                   std::vector<Tensor> inputs, std::vector<int> check = {},
                                   double eps = 1e-6, double rtol = 1e-3, double atol = 1e-5) {
  if (check.empty()) {
    for (std::size_t i = 0; i < inputs.size(); ++i) check.push_back(static_cast<int>(i));
  }
  Tensor r;
  std::vector<Tensor> analytic;
  {
    GradientTape tape;
    const Tensor y = f(inputs);
    r = random_f64(y.shape(), 977);
    analytic = tape.gradient(y, inputs, r);
  }
  NoGrad no_grad;
  int reported = 0;
  for (int i : check) {
    Tensor& x = inputs[static_cast<std::size_t>(i)];
    const std::vector<double> g = analytic[static_cast<std::size_t>(i)].to_vector<double>();
    double* values = x.data<double>();
    for (std::int64_t k = 0; k < x.numel(); ++k) {
      const double saved = values[k];
      values[k] = saved + eps;
      const double plus = dot(f(inputs), r);
      values[k] = saved - eps;
      const double minus = dot(f(inputs), r);
      values[k] = saved;
      const double numeric = (plus - minus) / (2 * eps);
      const double tolerance = atol + rtol * std::abs(numeric);
      if (std::abs(numeric - g[static_cast<std::size_t>(k)]) > tolerance && reported++ < 5) {
        ADD_FAILURE() << what << ": input " << i << " element " << k << ": analytic "
                      << g[static_cast<std::size_t>(k)] << " vs numeric " << numeric;
      }
    }
  }
}

}  // namespace kiln::testing
