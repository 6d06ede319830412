// Backend: the table of kernels every device implements. Ops check shapes and arguments, allocate
// outputs and then call exactly one of these; a kernel may assume its arguments were checked
// (shapes agree, dtypes agree, all tensors on this backend's device, outputs preallocated and
// contiguous). Unless a comment says "+=", a kernel assigns its output (=).
//
// Layout: images NHWC, conv kernels HWIO, dense kernels (in, out), matrices row-major.
// Floating kernels accept f32 and f64 on the CPU; CUDA implements f32 and raises Error for f64.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <limits>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "kiln/allocator.h"
#include "kiln/device.h"
#include "kiln/graph_ops.h"
#include "kiln/image.h"
#include "kiln/tensor.h"

namespace kiln::backend {

// A 2-D convolution: x (n, h, w, c) * w (kh, kw, c, o) -> y (n, oh, ow, o).
// Padding is given by its top/left amounts; bottom/right follow from the output size.
// Input position of output (oy, ox), tap (ky, kx): (oy*stride_h - pad_top + ky*dilation 1, ...).
struct Conv2dGeometry {
  std::int64_t n = 0, h = 0, w = 0, c = 0;
  std::int64_t kh = 0, kw = 0, o = 0;
  std::int64_t oh = 0, ow = 0;
  std::int64_t stride_h = 1, stride_w = 1;
  std::int64_t pad_top = 0, pad_left = 0;
};

// A 2-D pooling window over x (n, h, w, c) -> y (n, oh, ow, c). Padded positions never win a
// max/min and do not count in an average (Keras / TensorFlow semantics); a window with no
// unpadded position gives 0.
struct Pool2dGeometry {
  std::int64_t n = 0, h = 0, w = 0, c = 0;
  std::int64_t ph = 0, pw = 0;  // window size
  std::int64_t oh = 0, ow = 0;
  std::int64_t stride_h = 1, stride_w = 1;
  std::int64_t pad_top = 0, pad_left = 0;
};

// The public pooling mode (kiln/image.h): one enum for the image pooling, the layers and the
// kernels.
using PoolMode = kiln::PoolMode;
enum class Pointwise : unsigned char { relu, sigmoid, tanh };

// Keras's activations that need a kernel of their own (exp / log1p / erf), each a function of x
// alone: elu (alpha 1), selu, softplus, softsign, gelu (exact, with erf: Keras's default),
// exponential, mish. Formulas: the CPU loops in src/backend/cpu/cpu_layer_kernels.cpp, mirrored
// by cuda/kernels/layer_elementwise.cu.
enum class SmoothActivation : unsigned char {
  elu,
  selu,
  softplus,
  softsign,
  gelu,
  exponential,
  mish
};

// Keras's relu(x, negative_slope, max_value, threshold) with threshold >= 0 and max_value >= 0
// (the ReLU and LeakyReLU layers): y = x > threshold ? min(x, max_value) : slope * (x - threshold).
struct GeneralRelu {
  double negative_slope = 0.0;
  double threshold = 0.0;
  double max_value = std::numeric_limits<double>::infinity();
};

// One Adam step for every parameter (Keras formulation):
//   t += 1;  m = b1 m + (1-b1) g;  v = b2 v + (1-b2) g^2
//   p -= lr * sqrt(1-b2^t)/(1-b1^t) * m / (sqrt(v) + eps)
// The step counter and the learning rate live on the parameters' device and the update reads
// them there (the bias correction is computed in double from them), so a captured step replayed
// as a CUDA graph advances t itself and sees a changed learning rate.
struct AdamStep {
  double beta1 = 0.9, beta2 = 0.999, epsilon = 1e-7;
  Tensor step;           // i32, one element: the t of the previous update (0 before the first)
  Tensor learning_rate;  // f64, one element

  // Keras's betas and epsilon, with the counter at `t` and the learning rate on `device`.
  static AdamStep on(Device device, double learning_rate = 1e-3, std::int32_t t = 0) {
    AdamStep s;
    s.step = Tensor::from_vector(std::vector<std::int32_t>{t}, {1}, device);
    s.learning_rate = Tensor::from_vector(std::vector<double>{learning_rate}, {1}, device);
    return s;
  }
};

// Error unless `step` holds an i32 counter and an f64 learning rate, one element each, on `device`.
void check_adam_step(const AdamStep& step, Device device, const char* who);

// What accuracy_count compares (Keras's "accuracy" for each loss).
enum class AccuracyKind : unsigned char { categorical, sparse_categorical, binary };

// SGD with momentum (Keras): velocity = momentum*velocity - lr*g;  p += velocity
// (nesterov: p += momentum*velocity - lr*g).
struct SgdStep {
  double learning_rate = 0.01, momentum = 0.0;
  bool nesterov = false;
};

// Device work recorded once by Backend::capture and replayed any number of times: each replay
// queues the same kernels on the same memory (no host work, no allocation).
class CapturedWork {
 public:
  virtual ~CapturedWork() = default;
  virtual void replay() = 0;
};

// Not exported from libkiln.so: tests and benchmarks that reach it link kiln_internal (the
// library's objects, src/CMakeLists.txt), so its vtable and typeinfo are theirs too.
class Backend {
 public:
  virtual ~Backend() = default;
  virtual Device device() const = 0;
  virtual Allocator& allocator() = 0;

  // ---- host waits (kiln::sync_stats): every point where the host waits for this device's work
  // — copy_to_host, synchronize, a copy from pinned memory, cuDNN's benchmarking — counts one.
  // The CPU counts the same points, where a GPU would make the host wait.
  std::uint64_t waits() const { return waits_.load(std::memory_order_relaxed); }
  void count_wait() { waits_.fetch_add(1, std::memory_order_relaxed); }
  std::uint64_t graph_replays() const { return graph_replays_.load(std::memory_order_relaxed); }
  void count_graph_replay() { graph_replays_.fetch_add(1, std::memory_order_relaxed); }

  // ---- captured work (Note [Captured steps] in model/step_graph.cpp)
  // Records the device work `work` queues into a graph instead of running it (a CUDA graph on a
  // GPU); nothing runs until the graph is replayed. The capture fails — graph null, `failure`
  // saying why — when `work` throws (a kiln::Error from a call the capture refused: a host wait,
  // an out-of-memory, ...) or when the backend cannot capture at all (the CPU).
  struct Capture {
    std::unique_ptr<CapturedWork> graph;
    std::string failure;
  };
  virtual Capture capture(const std::function<void()>& work);

  // ---- memory: raw bytes on this device
  virtual void copy_from_host(void* dst, const void* src_host, std::size_t bytes) = 0;
  virtual void copy_to_host(void* dst_host, const void* src, std::size_t bytes) = 0;
  virtual void copy(void* dst, const void* src, std::size_t bytes) = 0;
  // Waits until every kernel queued on this device has finished.
  virtual void synchronize() = 0;

  // ---- elementwise (any shapes with equal element counts)
  virtual void fill(Tensor& x, double value) = 0;
  // y += alpha * x
  virtual void axpy(double alpha, const Tensor& x, Tensor& y) = 0;
  // out = a * b
  virtual void multiply(const Tensor& a, const Tensor& b, Tensor& out) = 0;
  // out = src * scale, converting between any two dtypes (float -> int truncates toward zero)
  virtual void cast(const Tensor& src, Tensor& out, double scale) = 0;
  // Strided 2-D block copy (concatenate / slice along the last axis of a (rows, cols) view):
  // dst[r, dst_col0 + j] = src[r, src_col0 + j] for r < rows, j < cols; "+=" when accumulate.
  virtual void copy_columns(const Tensor& src, std::int64_t src_cols, std::int64_t src_col0,
                            Tensor& dst, std::int64_t dst_cols, std::int64_t dst_col0,
                            std::int64_t rows, std::int64_t cols, bool accumulate) = 0;

  // ---- activations; the backward passes use the forward output y
  // relu(x) = x < 0 ? 0 : x, so NaN (and -0) pass through, as in PyTorch; sigmoid and tanh of
  // NaN are NaN.
  virtual void pointwise_forward(Pointwise f, const Tensor& x, Tensor& y) = 0;
  // dx = dy * f'(x) expressed through y: relu y>0 (so 0 where y is NaN), sigmoid y(1-y),
  // tanh 1-y^2
  virtual void pointwise_backward(Pointwise f, const Tensor& y, const Tensor& dy, Tensor& dx) = 0;
  // Softmax over the last axis of x viewed as (rows, classes); a row with a NaN is NaN throughout.
  virtual void softmax_forward(const Tensor& x, Tensor& y) = 0;
  // dx = y * (dy - sum(dy * y)) per row
  virtual void softmax_backward(const Tensor& y, const Tensor& dy, Tensor& dx) = 0;

  // ---- the layer kernels (ReLU / LeakyReLU, merges, BatchNormalization, Rescaling)
  // y = general relu of x (GeneralRelu); NaN stays NaN.
  virtual void general_relu_forward(const GeneralRelu& f, const Tensor& x, Tensor& y) = 0;
  // dx = dy * (x > threshold ? (x <= max_value ? 1 : 0) : negative_slope), from the input x.
  virtual void general_relu_backward(const GeneralRelu& f, const Tensor& x, const Tensor& dy,
                                     Tensor& dx) = 0;
  // y = f(x) (SmoothActivation); NaN stays NaN.
  virtual void smooth_activation_forward(SmoothActivation f, const Tensor& x, Tensor& y) = 0;
  // dx = dy * f'(x), from the input x.
  virtual void smooth_activation_backward(SmoothActivation f, const Tensor& x, const Tensor& dy,
                                          Tensor& dx) = 0;
  // out = a where pick_a else b, pick_a = (a >= b or a is NaN): NaN in either wins, ties go to a.
  virtual void maximum(const Tensor& a, const Tensor& b, Tensor& out) = 0;
  // da = dy where pick_a else 0; db = dy - da (maximum's choice, from a and b).
  virtual void maximum_backward(const Tensor& a, const Tensor& b, const Tensor& dy, Tensor& da,
                                Tensor& db) = 0;
  // x viewed as (rows, channels) with channels = scale's length: y[r, c] = x[r, c] * scale[c] +
  // shift[c]; shift may be undefined (no shift). y may be x.
  virtual void channel_affine(const Tensor& x, const Tensor& scale, const Tensor& shift,
                              Tensor& y) = 0;
  // y = 1 / sqrt(x + epsilon)
  virtual void inverse_sqrt(const Tensor& x, double epsilon, Tensor& y) = 0;
  // Bilinear resize of x (n, h, w, c) to y (n, oh, ow, c) with half-pixel centres, as
  // tf.image.resize (and PyTorch's align_corners=False): source position (o + 0.5) * in / out - 0.5,
  // lower = max(floor, 0), upper = min(ceil, in - 1), lerp = position - floor;
  // top = tl + (tr - tl) * xl, bottom = bl + (br - bl) * xl, y = top + (bottom - top) * yl.
  virtual void resize_bilinear_forward(const Tensor& x, Tensor& y) = 0;
  // dx (=): each dy spread over its four sources with weights (1 - yl)(1 - xl), …
  virtual void resize_bilinear_backward(const Tensor& dy, Tensor& dx) = 0;
  // Depthwise convolution (DepthwiseConv2D): x (n, h, w, c) and w (kh, kw, c, m) ->
  // y (n, oh, ow, c * m), output channel k * m + j from input channel k and w[.., .., k, j].
  // The geometry's c is the input channels and o = c * m.
  virtual void depthwise_conv2d_forward(const Conv2dGeometry& g, const Tensor& x, const Tensor& w,
                                        Tensor& y) = 0;
  virtual void depthwise_conv2d_backward_data(const Conv2dGeometry& g, const Tensor& dy,
                                              const Tensor& w, Tensor& dx) = 0;
  virtual void depthwise_conv2d_backward_filter(const Conv2dGeometry& g, const Tensor& x,
                                                const Tensor& dy, Tensor& dw) = 0;

  // ---- matrices
  // c = alpha * op(a) * op(b) + beta * c, all 2-D row-major; op transposes when asked.
  virtual void gemm(bool transpose_a, bool transpose_b, double alpha, const Tensor& a,
                    const Tensor& b, double beta, Tensor& c) = 0;
  // y[..., k] += bias[k]  (the bias broadcasts over every leading dimension)
  virtual void add_bias(Tensor& y, const Tensor& bias) = 0;
  // dbias[k] = sum over leading dimensions of dy[..., k]
  virtual void bias_backward(const Tensor& dy, Tensor& dbias) = 0;

  // ---- fused epilogue of conv2d / dense (oneDNN and cuDNN call these "post-ops"):
  // y = f(y + bias) in place; bias may be undefined. One pass over y instead of two, and the tape
  // keeps no pre-activation tensor. The defaults compose add_bias and pointwise_forward.
  virtual void bias_activation_forward(Tensor& y, const Tensor& bias, Pointwise f);
  // dz = dy * f'(.) expressed through y (as pointwise_backward); dbias = sum over leading
  // dimensions of dz when dbias is defined. The defaults compose pointwise_backward and
  // bias_backward.
  virtual void bias_activation_backward(Pointwise f, const Tensor& y, const Tensor& dy, Tensor& dz,
                                        Tensor& dbias);
  // The epilogue with the activation optional (none: the bias alone), for every caller:
  // y = f(y + bias) in place; and d loss / d (pre-activation), which is dy itself without f,
  // with dbias filled when defined.
  void epilogue_forward(Tensor& y, const Tensor& bias, std::optional<Pointwise> f);
  Tensor epilogue_backward(std::optional<Pointwise> f, const Tensor& y, const Tensor& dy,
                           Tensor& dbias);

  // ---- a whole Conv2D layer, fused: y = f(conv(x, w) + bias), bias undefined for none and f
  // empty for the identity. Backward from dy and that y: dx, dw and dbias are each computed when
  // defined. The defaults compose the kernels below with the epilogue ones above; the CPU keeps
  // each chunk of images in cache through the whole sequence.
  virtual void conv2d_forward_fused(const Conv2dGeometry& g, const Tensor& x, const Tensor& w,
                                    const Tensor& bias, std::optional<Pointwise> f, Tensor& y);
  virtual void conv2d_backward_fused(const Conv2dGeometry& g, const Tensor& x, const Tensor& w,
                                     const Tensor& y, const Tensor& dy, std::optional<Pointwise> f,
                                     Tensor& dx, Tensor& dw, Tensor& dbias);

  // ---- a whole Dense layer, fused: y = f(x kernel + bias) with x (n, in), kernel (in, out),
  // bias (out) or undefined for none, f empty for the identity. Backward from dy and that y (y
  // may be undefined when f is empty): dx, dkernel and dbias are each computed when defined. The
  // defaults compose gemm with the epilogue kernels above (the CPU keeps them); CUDA runs the
  // bias, the ReLU and the bias gradient in cuBLASLt's GEMM epilogues.
  virtual void dense_forward_fused(const Tensor& x, const Tensor& kernel, const Tensor& bias,
                                   std::optional<Pointwise> f, Tensor& y);
  virtual void dense_backward_fused(const Tensor& x, const Tensor& kernel, const Tensor& y,
                                    const Tensor& dy, std::optional<Pointwise> f, Tensor& dx,
                                    Tensor& dkernel, Tensor& dbias);

  // ---- convolution (no bias; the op adds it with add_bias or bias_activation_forward)
  virtual void conv2d_forward(const Conv2dGeometry& g, const Tensor& x, const Tensor& w,
                              Tensor& y) = 0;
  virtual void conv2d_backward_data(const Conv2dGeometry& g, const Tensor& dy, const Tensor& w,
                                    Tensor& dx) = 0;
  virtual void conv2d_backward_filter(const Conv2dGeometry& g, const Tensor& x, const Tensor& dy,
                                      Tensor& dw) = 0;

  // ---- pooling. The winner of a max / min window is its first largest / smallest unpadded
  // position in row-major scan order, where a NaN beats every number: the first NaN of a window
  // wins and the output is NaN (PyTorch's rule; cuDNN's CUDNN_PROPAGATE_NAN).
  // Forward: y (=). When `winners` is defined (i32, y's shape), max / min also write
  // winners[i] = iy * w + ix, the position within its image of y[i]'s winner (-1 for a window
  // with no unpadded position); avg ignores it. Undefined winners (inference) skip the writes.
  virtual void pool2d_forward(PoolMode mode, const Pool2dGeometry& g, const Tensor& x, Tensor& y,
                              Tensor& winners) = 0;
  // Backward: dx (=). max / min route dy[i] to winners[i] (from the forward pass; a position
  // that wins several windows gets their sum, added in row-major window order); avg spreads
  // dy / count evenly over the window's unpadded positions (winners unused, may be undefined).
  virtual void pool2d_backward(PoolMode mode, const Pool2dGeometry& g, const Tensor& winners,
                               const Tensor& dy, Tensor& dx) = 0;

  // ---- losses, per sample (the ops take the mean)
  // logits (rows, classes); target one-hot (rows, classes) of the logits' dtype, or i32 labels
  // (rows). probs = softmax(logits); loss[r] = -sum_k target[r,k] * log softmax(logits)[r,k],
  // computed stably from the logits. Labels out of [0, classes) are checked by the op.
  virtual void softmax_cross_entropy_forward(const Tensor& logits, const Tensor& target,
                                             Tensor& probs, Tensor& loss) = 0;
  // dlogits[r, k] = dloss[r] * (probs[r, k] - target[r, k])  (for one-hot: times sum_k target)
  virtual void softmax_cross_entropy_backward(const Tensor& probs, const Tensor& target,
                                              const Tensor& dloss, Tensor& dlogits) = 0;
  // Elementwise binary cross-entropy from logits z and targets t in [0, 1]:
  // loss = max(z, 0) - z t + log(1 + exp(-|z|))
  virtual void sigmoid_cross_entropy_forward(const Tensor& logits, const Tensor& target,
                                             Tensor& loss) = 0;
  // dlogits = dloss * (sigmoid(z) - t)
  virtual void sigmoid_cross_entropy_backward(const Tensor& logits, const Tensor& target,
                                              const Tensor& dloss, Tensor& dlogits) = 0;

  // ---- reductions
  // out (one element) = sum of all elements of x
  virtual void sum(const Tensor& x, Tensor& out) = 0;
  // out[r] (i32) = index of the largest element of row r of x viewed as (rows, cols): the first
  // NaN of the row if it has one, else the first maximum (numpy / PyTorch); 0 for an empty row.
  virtual void argmax(const Tensor& x, Tensor& out) = 0;

  // ---- randomness: counter-based, so every device draws the same numbers for a seed
  // mask[i] = (uniform(seed, i) >= rate) ? 1/(1-rate) : 0
  virtual void dropout_mask(Tensor& mask, double rate, std::uint64_t seed) = 0;

  // ---- optimizers: all parameters in one call
  virtual void adam_update(std::span<Tensor> params, std::span<const Tensor> grads,
                           std::span<Tensor> m, std::span<Tensor> v, const AdamStep& step) = 0;
  virtual void sgd_update(std::span<Tensor> params, std::span<const Tensor> grads,
                          std::span<Tensor> velocity, const SgdStep& step) = 0;

  // ---- metrics
  // correct (f32, one element) += the number of correct predictions: categorical, the rows of
  // y_pred (rows, classes) whose argmax equals that of one-hot y_true (same shape);
  // sparse_categorical, the rows whose argmax equals the i32 label y_true[r]; binary, the
  // elements where (y_pred > 0.5) == (y_true > 0.5). argmax with argmax()'s rule (first NaN, else
  // first maximum). Counts stay exact in f32 up to 2^24.
  virtual void accuracy_count(AccuracyKind kind, const Tensor& y_pred, const Tensor& y_true,
                              Tensor& correct) = 0;

  // ---- data
  // dst[i, ...] = src[indices[i], ...]; src (rows, ...), indices i32 (k), dst (k, ...).
  // Indices are checked by the caller.
  virtual void gather_rows(const Tensor& src, const Tensor& indices, Tensor& dst) = 0;
  // out (rows, classes) = one-hot of i32 labels (rows); out's dtype is floating
  virtual void one_hot(const Tensor& labels, Tensor& out) = 0;

  // ---- imported graphs (kiln/graph_ops.h), inference only. The defaults raise an Error naming
  // the kernel and the device; the CPU (cpu_graph_kernels.cpp) and CUDA (cuda_backend_graph.cpp)
  // implement them.
  // out = a op b, NumPy broadcasting from a's and b's shapes to out's (checked by the op).
  virtual void broadcast_binary(BinaryOp op, const Tensor& a, const Tensor& b, Tensor& out);
  // y (n, 1, 1, c) = mean of x (n, h, w, c) over h and w.
  virtual void spatial_mean(const Tensor& x, Tensor& y);
  // Bilinear resize of x (n, h, w, c) to y (n, oh, ow, c) in `mode` (graph_ops.h, ResizeMode).
  virtual void resize_bilinear_mode(const Tensor& x, ResizeMode mode, Tensor& y);
  // Per row of x viewed as (rows, cols): the values.dim(-1) largest, descending, ties to the
  // lower index; indices i32.
  virtual void top_k(const Tensor& x, Tensor& values, Tensor& indices);
  // y[i0, i1, …] = x[begin[0] + i0 * strides[0], …] for y's shape; positions checked by the op.
  virtual void strided_slice(const Tensor& x, const std::vector<std::int64_t>& begin,
                             const std::vector<std::int64_t>& strides, Tensor& y);
  // y = (x * scale) * min(max(x + shift, 0), 6), evaluated in that order (graph_ops.h,
  // hard_swish). The default composes broadcast_binary and general_relu_forward; the CPU fuses it.
  virtual void hard_swish(const Tensor& x, double scale, double shift, Tensor& y);

 private:
  std::atomic<std::uint64_t> waits_{0};
  std::atomic<std::uint64_t> graph_replays_{0};
};

// The backend of `device`: the CPU one, or the CUDA one for GPU N (Error when not compiled in
// or not usable).
Backend& backend_for(Device device);

}  // namespace kiln::backend
