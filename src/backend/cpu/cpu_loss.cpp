// CPU loss kernels, per sample (the ops take the mean); all outputs assigned (=).
//   softmax cross-entropy  logits z (rows, classes), target one-hot t (rows, classes) or i32
//                          labels (rows): probs = softmax(z),
//                          loss[r] = -sum_k t[r,k] (z[r,k] - logsumexp(z[r])), from the logits;
//                          backward: dlogits = dloss[r] * (probs * sum_k t[r,k] - t)
//   sigmoid cross-entropy  elementwise: loss = max(z, 0) - z t + log(1 + exp(-|z|)),
//                          backward: dlogits = dloss * (sigmoid(z) - t)
// Row sums are accumulated in double.
#include <algorithm>
#include <cmath>

#include "backend/cpu/cpu_backend.h"
#include "backend/cpu/cpu_kernels.h"

namespace kiln::backend {

namespace cpu {

namespace {

// Where the target of row r lives: a label (i32) or a row of one-hot weights.
template <class T>
struct Targets {
  const std::int32_t* labels = nullptr;
  const T* weights = nullptr;
  std::int64_t classes = 0;
};

template <class T>
Targets<T> targets_of(const Tensor& target, std::int64_t classes) {
  Targets<T> result;
  result.classes = classes;
  if (target.dtype() == DType::i32) {
    result.labels = target.data<std::int32_t>();
  } else {
    result.weights = target.data<T>();
  }
  return result;
}

// probs row = softmax(z row); returns the row's loss.
template <class T>
double softmax_cross_entropy_row(const T* z, const Targets<T>& t, std::int64_t r, T* probs) {
  const std::int64_t classes = t.classes;
  const double top = *std::max_element(z, z + classes);
  double total = 0.0;
  for (std::int64_t k = 0; k < classes; ++k) {
    const double e = std::exp(static_cast<double>(z[k]) - top);
    probs[k] = static_cast<T>(e);
    total += e;
  }
  const double log_total = std::log(total);
  const double inverse = 1.0 / total;
  for (std::int64_t k = 0; k < classes; ++k) probs[k] = static_cast<T>(probs[k] * inverse);
  if (t.labels != nullptr) return top + log_total - static_cast<double>(z[t.labels[r]]);
  const T* weight = t.weights + r * classes;
  double loss = 0.0;
  for (std::int64_t k = 0; k < classes; ++k) {
    loss -= static_cast<double>(weight[k]) * (static_cast<double>(z[k]) - top - log_total);
  }
  return loss;
}

template <class T>
void softmax_cross_entropy_grad_row(const T* probs, const Targets<T>& t, std::int64_t r, T scale,
                                    T* out) {
  const std::int64_t classes = t.classes;
  if (t.labels != nullptr) {
    for (std::int64_t k = 0; k < classes; ++k) out[k] = scale * probs[k];
    out[t.labels[r]] -= scale;
    return;
  }
  const T* weight = t.weights + r * classes;
  double weight_sum = 0.0;
  for (std::int64_t k = 0; k < classes; ++k) weight_sum += weight[k];
  const T mass = static_cast<T>(weight_sum);
  for (std::int64_t k = 0; k < classes; ++k) out[k] = scale * (probs[k] * mass - weight[k]);
}

}  // namespace

}  // namespace cpu

void CpuBackend::softmax_cross_entropy_forward(const Tensor& logits, const Tensor& target,
                                               Tensor& probs, Tensor& loss) {
  const cpu::RowView view = cpu::row_view(logits);
  cpu::dispatch_floating(logits.dtype(), "softmax_cross_entropy_forward", [&]<class T>(T) {
    const cpu::Targets<T> t = cpu::targets_of<T>(target, view.cols);
    const T* z = logits.data<T>();
    T* p = probs.data<T>();
    T* out = loss.data<T>();
#pragma omp parallel for if (view.rows * view.cols > cpu::kParallelThreshold)
    for (std::int64_t r = 0; r < view.rows; ++r) {
      out[r] = static_cast<T>(
          cpu::softmax_cross_entropy_row(z + r * view.cols, t, r, p + r * view.cols));
    }
  });
}

void CpuBackend::softmax_cross_entropy_backward(const Tensor& probs, const Tensor& target,
                                                const Tensor& dloss, Tensor& dlogits) {
  const cpu::RowView view = cpu::row_view(probs);
  cpu::dispatch_floating(probs.dtype(), "softmax_cross_entropy_backward", [&]<class T>(T) {
    const cpu::Targets<T> t = cpu::targets_of<T>(target, view.cols);
    const T* p = probs.data<T>();
    const T* scale = dloss.data<T>();
    T* out = dlogits.data<T>();
#pragma omp parallel for if (view.rows * view.cols > cpu::kParallelThreshold)
    for (std::int64_t r = 0; r < view.rows; ++r) {
      cpu::softmax_cross_entropy_grad_row(p + r * view.cols, t, r, scale[r], out + r * view.cols);
    }
  });
}

void CpuBackend::sigmoid_cross_entropy_forward(const Tensor& logits, const Tensor& target,
                                               Tensor& loss) {
  const std::int64_t n = logits.numel();
  cpu::dispatch_floating(logits.dtype(), "sigmoid_cross_entropy_forward", [&]<class T>(T) {
    const T* z = logits.data<T>();
    const T* t = target.data<T>();
    T* out = loss.data<T>();
#pragma omp parallel for if (n > cpu::kParallelThreshold / 8)
    for (std::int64_t i = 0; i < n; ++i) {
      out[i] = std::max(z[i], T(0)) - z[i] * t[i] + std::log1p(std::exp(-std::abs(z[i])));
    }
  });
}

void CpuBackend::sigmoid_cross_entropy_backward(const Tensor& logits, const Tensor& target,
                                                const Tensor& dloss, Tensor& dlogits) {
  const std::int64_t n = logits.numel();
  cpu::dispatch_floating(logits.dtype(), "sigmoid_cross_entropy_backward", [&]<class T>(T) {
    const T* z = logits.data<T>();
    const T* t = target.data<T>();
    const T* scale = dloss.data<T>();
    T* out = dlogits.data<T>();
#pragma omp parallel for if (n > cpu::kParallelThreshold / 8)
    for (std::int64_t i = 0; i < n; ++i) out[i] = scale[i] * (cpu::sigmoid(z[i]) - t[i]);
  });
}

}  // namespace kiln::backend
