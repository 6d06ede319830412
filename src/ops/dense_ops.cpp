// dense and matmul: x (n, in) @ kernel (in, out) [+ bias], then the activation, as one backend
// call each way (Backend::dense_forward_fused / dense_backward_fused).
#include "autograd/record.h"
#include "kiln/ops.h"
#include "ops/fused_ops.h"
#include "ops/op_helpers.h"

namespace kiln {

namespace {

Tensor linear(const char* op, const Tensor& x, const Tensor& kernel, const Tensor& bias,
              std::optional<backend::Pointwise> f) {
  ops::check_rank(op, x, 2, "input");
  ops::check_floating(op, x, "input");
  ops::check_rank(op, kernel, 2, "kernel");
  ops::check_compatible(op, x, kernel, "kernel");
  KILN_CHECK(x.dim(1) == kernel.dim(0),
             "{}: input {} has {} features but kernel {} expects {} (kernel is (in, out))", op,
             shape_str(x.shape()), x.dim(1), shape_str(kernel.shape()), kernel.dim(0));
  const bool has_bias = bias.defined();
  if (has_bias) {
    ops::check_compatible(op, x, bias, "bias");
    KILN_CHECK(bias.rank() == 1 && bias.dim(0) == kernel.dim(1),
               "{}: bias must have shape ({},) for kernel {}, found {}", op, kernel.dim(1),
               shape_str(kernel.shape()), shape_str(bias.shape()));
  }
  backend::Backend& be = ops::backend_of(x);
  Tensor y = ops::empty_as(x, {x.dim(0), kernel.dim(1)});
  be.dense_forward_fused(x, kernel, bias, f, y);

  std::vector<Tensor> inputs{x, kernel};
  if (has_bias) inputs.push_back(bias);
  const Tensor output = f ? y : Tensor();  // held only for the activation's slope
  autograd::record(ops::fused_op_name(op, f), std::move(inputs), y,
                   [x, kernel, f, output](const Tensor& dy, const std::vector<bool>& needed) {
                     std::vector<Tensor> grads(needed.size());
                     if (needed[0]) grads[0] = ops::empty_like(x);
                     if (needed[1]) grads[1] = ops::empty_like(kernel);
                     if (needed.size() == 3 && needed[2])
                       grads[2] = ops::empty_as(dy, {kernel.dim(1)});
                     Tensor none;
                     ops::backend_of(dy).dense_backward_fused(x, kernel, output, dy, f, grads[0],
                                                              grads[1],
                                                              grads.size() == 3 ? grads[2] : none);
                     return grads;
                   });
  return y;
}

}  // namespace

Tensor dense(const Tensor& x, const Tensor& kernel, const Tensor& bias) {
  return linear("dense", x, kernel, bias, std::nullopt);
}

Tensor matmul(const Tensor& a, const Tensor& b) {
  return linear("matmul", a, b, Tensor(), std::nullopt);
}

Tensor ops::dense_activation(const Tensor& x, const Tensor& kernel, const Tensor& bias,
                             std::optional<backend::Pointwise> f) {
  return linear("dense", x, kernel, bias, f);
}

}  // namespace kiln
