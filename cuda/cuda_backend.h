// CudaBackend: the Backend of one GPU. Kernels are kiln's own (cuda/kernels/), cuBLAS for GEMM,
// cuBLASLt for Dense layers (bias, ReLU and bias gradient in the GEMM's epilogue), cuDNN for convolution (Conv2D's bias and ReLU fused through the graph API) and (where it matches kiln's semantics) pooling; memory comes from
// the device's caching pool. Everything is queued on one non-blocking stream per device, in call
// order, so the pool can reuse freed blocks at once (Note [Stream-ordered reuse] in
// block_pool.cpp); only copy_to_host, synchronize and copies from pinned memory wait for the GPU
// (Note [Host copies] in cuda_backend.cpp).
// Floating kernels take f32; f64 raises kiln::Error (float64 runs on the CPU backend).
#pragma once

#include <cuda_runtime_api.h>

#include <memory>

#include "backend/backend.h"
#include "caching_allocator.h"
#include "cublaslt_dense.h"
#include "cudnn_conv.h"

namespace kiln::cuda {

// A cudaStream_t that destroys itself.
class Stream {
 public:
  explicit Stream(int device);
  ~Stream();
  Stream(const Stream&) = delete;
  Stream& operator=(const Stream&) = delete;
  cudaStream_t get() const { return stream_; }

 private:
  cudaStream_t stream_ = nullptr;
};

class CudaBackend final : public backend::Backend {
 public:
  explicit CudaBackend(int device_index);
  ~CudaBackend() override;

  Device device() const override;
  Allocator& allocator() override;
  cudaStream_t stream() const { return stream_.get(); }

  void copy_from_host(void* dst, const void* src_host, std::size_t bytes) override;
  void copy_to_host(void* dst_host, const void* src, std::size_t bytes) override;
  void copy(void* dst, const void* src, std::size_t bytes) override;
  void synchronize() override;
  Capture capture(const std::function<void()>& work) override;  // cuda_graphs.cpp
  void fill(Tensor& x, double value) override;
  void axpy(double alpha, const Tensor& x, Tensor& y) override;
  void multiply(const Tensor& a, const Tensor& b, Tensor& out) override;
  void cast(const Tensor& src, Tensor& out, double scale) override;
  void copy_columns(const Tensor& src, std::int64_t src_cols, std::int64_t src_col0, Tensor& dst,
                    std::int64_t dst_cols, std::int64_t dst_col0, std::int64_t rows,
                    std::int64_t cols, bool accumulate) override;
  void pointwise_forward(backend::Pointwise f, const Tensor& x, Tensor& y) override;
  void pointwise_backward(backend::Pointwise f, const Tensor& y, const Tensor& dy,
                          Tensor& dx) override;
  void softmax_forward(const Tensor& x, Tensor& y) override;
  void softmax_backward(const Tensor& y, const Tensor& dy, Tensor& dx) override;
  // The layer kernels (cuda_backend_layers.cpp).
  void general_relu_forward(const backend::GeneralRelu& f, const Tensor& x, Tensor& y) override;
  void general_relu_backward(const backend::GeneralRelu& f, const Tensor& x, const Tensor& dy,
                             Tensor& dx) override;
  void smooth_activation_forward(backend::SmoothActivation f, const Tensor& x, Tensor& y) override;
  void smooth_activation_backward(backend::SmoothActivation f, const Tensor& x, const Tensor& dy,
                                  Tensor& dx) override;
  void maximum(const Tensor& a, const Tensor& b, Tensor& out) override;
  void maximum_backward(const Tensor& a, const Tensor& b, const Tensor& dy, Tensor& da,
                        Tensor& db) override;
  void channel_affine(const Tensor& x, const Tensor& scale, const Tensor& shift,
                      Tensor& y) override;
  void inverse_sqrt(const Tensor& x, double epsilon, Tensor& y) override;
  void resize_bilinear_forward(const Tensor& x, Tensor& y) override;
  void resize_bilinear_backward(const Tensor& dy, Tensor& dx) override;
  void depthwise_conv2d_forward(const backend::Conv2dGeometry& g, const Tensor& x, const Tensor& w,
                                Tensor& y) override;
  void depthwise_conv2d_backward_data(const backend::Conv2dGeometry& g, const Tensor& dy,
                                      const Tensor& w, Tensor& dx) override;
  void depthwise_conv2d_backward_filter(const backend::Conv2dGeometry& g, const Tensor& x,
                                        const Tensor& dy, Tensor& dw) override;
  void gemm(bool transpose_a, bool transpose_b, double alpha, const Tensor& a, const Tensor& b,
            double beta, Tensor& c) override;
  void add_bias(Tensor& y, const Tensor& bias) override;
  void dense_forward_fused(const Tensor& x, const Tensor& kernel, const Tensor& bias,
                           std::optional<backend::Pointwise> f, Tensor& y) override;
  void dense_backward_fused(const Tensor& x, const Tensor& kernel, const Tensor& y,
                            const Tensor& dy, std::optional<backend::Pointwise> f, Tensor& dx,
                            Tensor& dkernel, Tensor& dbias) override;
  void bias_backward(const Tensor& dy, Tensor& dbias) override;
  void conv2d_forward(const backend::Conv2dGeometry& g, const Tensor& x, const Tensor& w,
                      Tensor& y) override;
  void conv2d_forward_fused(const backend::Conv2dGeometry& g, const Tensor& x, const Tensor& w,
                            const Tensor& bias, std::optional<backend::Pointwise> f,
                            Tensor& y) override;
  void conv2d_backward_data(const backend::Conv2dGeometry& g, const Tensor& dy, const Tensor& w,
                            Tensor& dx) override;
  void conv2d_backward_filter(const backend::Conv2dGeometry& g, const Tensor& x, const Tensor& dy,
                              Tensor& dw) override;
  void pool2d_forward(backend::PoolMode mode, const backend::Pool2dGeometry& g, const Tensor& x,
                      Tensor& y, Tensor& winners) override;
  void pool2d_backward(backend::PoolMode mode, const backend::Pool2dGeometry& g,
                       const Tensor& winners, const Tensor& dy, Tensor& dx) override;
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
  void accuracy_count(backend::AccuracyKind kind, const Tensor& y_pred, const Tensor& y_true,
                      Tensor& correct) override;
  void dropout_mask(Tensor& mask, double rate, std::uint64_t seed) override;
  void adam_update(std::span<Tensor> params, std::span<const Tensor> grads, std::span<Tensor> m,
                   std::span<Tensor> v, const backend::AdamStep& step) override;
  void sgd_update(std::span<Tensor> params, std::span<const Tensor> grads,
                  std::span<Tensor> velocity, const backend::SgdStep& step) override;
  void gather_rows(const Tensor& src, const Tensor& indices, Tensor& dst) override;
  void one_hot(const Tensor& labels, Tensor& out) override;
  // Imported graphs (cuda_backend_graph.cpp).
  void broadcast_binary(BinaryOp op, const Tensor& a, const Tensor& b, Tensor& out) override;
  void spatial_mean(const Tensor& x, Tensor& y) override;
  void resize_bilinear_mode(const Tensor& x, ResizeMode mode, Tensor& y) override;
  void top_k(const Tensor& x, Tensor& values, Tensor& indices) override;
  void strided_slice(const Tensor& x, const std::vector<std::int64_t>& begin,
                     const std::vector<std::int64_t>& strides, Tensor& y) override;

 private:
  LtTarget lt_target();  // cuBLASLt on this GPU's stream and pool, TF32 as set now

  int device_index_;
  Stream stream_;
  CachingAllocator allocator_;
  Convolutions convolutions_;
};

}  // namespace kiln::cuda
