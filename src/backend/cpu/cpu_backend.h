// CpuBackend: the Backend on the host. GEMM through OpenBLAS (cblas), convolution as
// im2col + GEMM in bounded chunks, loops parallel with OpenMP. f32 and f64 throughout.
#pragma once

#include "backend/backend.h"
#include "backend/cpu/cpu_allocator.h"

namespace kiln::backend {

class CpuBackend final : public Backend {
 public:
  Device device() const override;
  Allocator& allocator() override;
  void copy_from_host(void* dst, const void* src_host, std::size_t bytes) override;
  void copy_to_host(void* dst_host, const void* src, std::size_t bytes) override;
  void copy(void* dst, const void* src, std::size_t bytes) override;
  void synchronize() override;
  void fill(Tensor& x, double value) override;
  void axpy(double alpha, const Tensor& x, Tensor& y) override;
  void multiply(const Tensor& a, const Tensor& b, Tensor& out) override;
  void cast(const Tensor& src, Tensor& out, double scale) override;
  void copy_columns(const Tensor& src, std::int64_t src_cols, std::int64_t src_col0, Tensor& dst,
                    std::int64_t dst_cols, std::int64_t dst_col0, std::int64_t rows,
                    std::int64_t cols, bool accumulate) override;
  void pointwise_forward(Pointwise f, const Tensor& x, Tensor& y) override;
  void pointwise_backward(Pointwise f, const Tensor& y, const Tensor& dy, Tensor& dx) override;
  void softmax_forward(const Tensor& x, Tensor& y) override;
  void softmax_backward(const Tensor& y, const Tensor& dy, Tensor& dx) override;
  void general_relu_forward(const GeneralRelu& f, const Tensor& x, Tensor& y) override;
  void general_relu_backward(const GeneralRelu& f, const Tensor& x, const Tensor& dy,
                             Tensor& dx) override;
  void smooth_activation_forward(SmoothActivation f, const Tensor& x, Tensor& y) override;
  void smooth_activation_backward(SmoothActivation f, const Tensor& x, const Tensor& dy,
                                  Tensor& dx) override;
  void maximum(const Tensor& a, const Tensor& b, Tensor& out) override;
  void maximum_backward(const Tensor& a, const Tensor& b, const Tensor& dy, Tensor& da,
                        Tensor& db) override;
  void channel_affine(const Tensor& x, const Tensor& scale, const Tensor& shift,
                      Tensor& y) override;
  void inverse_sqrt(const Tensor& x, double epsilon, Tensor& y) override;
  void resize_bilinear_forward(const Tensor& x, Tensor& y) override;
  void resize_bilinear_backward(const Tensor& dy, Tensor& dx) override;
  void depthwise_conv2d_forward(const Conv2dGeometry& g, const Tensor& x, const Tensor& w,
                                Tensor& y) override;
  void depthwise_conv2d_backward_data(const Conv2dGeometry& g, const Tensor& dy, const Tensor& w,
                                      Tensor& dx) override;
  void depthwise_conv2d_backward_filter(const Conv2dGeometry& g, const Tensor& x, const Tensor& dy,
                                        Tensor& dw) override;
  void gemm(bool transpose_a, bool transpose_b, double alpha, const Tensor& a, const Tensor& b,
            double beta, Tensor& c) override;
  void add_bias(Tensor& y, const Tensor& bias) override;
  void bias_backward(const Tensor& dy, Tensor& dbias) override;
  void bias_activation_forward(Tensor& y, const Tensor& bias, Pointwise f) override;
  void conv2d_forward_fused(const Conv2dGeometry& g, const Tensor& x, const Tensor& w,
                            const Tensor& bias, std::optional<Pointwise> f, Tensor& y) override;
  void conv2d_backward_fused(const Conv2dGeometry& g, const Tensor& x, const Tensor& w,
                             const Tensor& y, const Tensor& dy, std::optional<Pointwise> f,
                             Tensor& dx, Tensor& dw, Tensor& dbias) override;
  void bias_activation_backward(Pointwise f, const Tensor& y, const Tensor& dy, Tensor& dz,
                                Tensor& dbias) override;
  void conv2d_forward(const Conv2dGeometry& g, const Tensor& x, const Tensor& w,
                      Tensor& y) override;
  void conv2d_backward_data(const Conv2dGeometry& g, const Tensor& dy, const Tensor& w,
                            Tensor& dx) override;
  void conv2d_backward_filter(const Conv2dGeometry& g, const Tensor& x, const Tensor& dy,
                              Tensor& dw) override;
  void pool2d_forward(PoolMode mode, const Pool2dGeometry& g, const Tensor& x, Tensor& y,
                      Tensor& winners) override;
  void pool2d_backward(PoolMode mode, const Pool2dGeometry& g, const Tensor& winners,
                       const Tensor& dy, Tensor& dx) override;
  void softmax_cross_entropy_forward(const Tensor& logits, const Tensor& target, Tensor& probs,
                                     Tensor& loss) override;
  void softmax_cross_entropy_backward(const Tensor& probs, const Tensor& target,
                                      const Tensor& dloss, Tensor& dlogits) override;
  void sigmoid_cross_entropy_forward(const Tensor& logits, const Tensor& target,
                                     Tensor& loss) override;
  void sigmoid_cross_entropy_backward(const Tensor& logits, const Tensor& target,
                                      const Tensor& dloss, Tensor& dlogits) override;
  void sum(const Tensor& x, Tensor& out) override;
  void argmax(const Tensor& x, Tensor& out) override;
  void accuracy_count(AccuracyKind kind, const Tensor& y_pred, const Tensor& y_true,
                      Tensor& correct) override;
  void dropout_mask(Tensor& mask, double rate, std::uint64_t seed) override;
  void adam_update(std::span<Tensor> params, std::span<const Tensor> grads, std::span<Tensor> m,
                   std::span<Tensor> v, const AdamStep& step) override;
  void sgd_update(std::span<Tensor> params, std::span<const Tensor> grads,
                  std::span<Tensor> velocity, const SgdStep& step) override;
  void gather_rows(const Tensor& src, const Tensor& indices, Tensor& dst) override;
  void one_hot(const Tensor& labels, Tensor& out) override;
  void broadcast_binary(BinaryOp op, const Tensor& a, const Tensor& b, Tensor& out) override;
  void spatial_mean(const Tensor& x, Tensor& y) override;
  void resize_bilinear_mode(const Tensor& x, ResizeMode mode, Tensor& y) override;
  void top_k(const Tensor& x, Tensor& values, Tensor& indices) override;
  void strided_slice(const Tensor& x, const std::vector<std::int64_t>& begin,
                     const std::vector<std::int64_t>& strides, Tensor& y) override;
  void hard_swish(const Tensor& x, double scale, double shift, Tensor& y) override;

 private:
  CpuAllocator allocator_;
};

// The process-wide CPU backend.
CpuBackend& cpu_backend();

}  // namespace kiln::backend
