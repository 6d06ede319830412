// reshape, flatten, concatenate, add, scale, sum, mean, dropout and the non-differentiable
// helpers (argmax, one_hot, gather_rows).
#include <cmath>

#include "autograd/record.h"
#include "kiln/ops.h"
#include "ops/op_helpers.h"

namespace kiln {

namespace {

int resolve_axis(const char* op, int axis, int rank, const Shape& shape) {
  const int resolved = axis < 0 ? axis + rank : axis;
  KILN_CHECK(resolved >= 0 && resolved < rank, "{}: axis {} is out of range for shape {}", op, axis,
             shape_str(shape));
  return resolved;
}

std::int64_t product(const Shape& shape, std::size_t from, std::size_t to) {
  std::int64_t p = 1;
  for (std::size_t i = from; i < to; ++i) p *= shape[i];
  return p;
}

// g (one element) broadcast to `shape`, times factor — on the device, through a GEMM with a
// column of ones, so no value travels to the host.
Tensor broadcast_scalar(const Tensor& g, const Shape& shape, double factor) {
  const std::int64_t count = shape_numel(shape);
  Tensor ones = Tensor::full({count, 1}, 1.0, g.dtype(), g.device());
  Tensor out = Tensor::empty({count, 1}, g.dtype(), g.device());
  ops::backend_of(g).gemm(false, false, factor, ones, g.view({1, 1}), 0.0, out);
  return out.view(shape);
}

}  // namespace

Tensor reshape(const Tensor& x, const Shape& shape) {
  ops::check_defined("reshape", x, "input");
  Tensor y = x.view(shape);
  const Shape original = x.shape();
  autograd::record("reshape", {x}, y, [original](const Tensor& dy, const std::vector<bool>&) {
    return std::vector<Tensor>{dy.view(original)};
  });
  return y;
}

Tensor flatten(const Tensor& x) {
  ops::check_defined("flatten", x, "input");
  KILN_CHECK(x.rank() >= 1, "flatten: expected a batch dimension, found shape {}",
             shape_str(x.shape()));
  return reshape(x, {x.dim(0), product(x.shape(), 1, x.shape().size())});
}

Tensor concatenate(const std::vector<Tensor>& xs, int axis) {
  const char* op = "concatenate";
  KILN_CHECK(!xs.empty(), "concatenate: expected at least one tensor, found none");
  ops::check_defined(op, xs[0], "input 0");
  const Shape& first = xs[0].shape();
  const int rank = xs[0].rank();
  const auto a = static_cast<std::size_t>(resolve_axis(op, axis, rank, first));
  Shape out_shape = first;
  out_shape[a] = 0;
  for (std::size_t i = 0; i < xs.size(); ++i) {
    ops::check_compatible(op, xs[0], xs[i], "input");
    Shape expected = xs[i].shape();
    KILN_CHECK(xs[i].rank() == rank, "concatenate: input 0 has shape {} but input {} has shape {}",
               shape_str(first), i, shape_str(xs[i].shape()));
    expected[a] = first[a];
    KILN_CHECK(expected == first,
               "concatenate: shapes {} (input 0) and {} (input {}) differ outside axis {}",
               shape_str(first), shape_str(xs[i].shape()), i, axis);
    out_shape[a] += xs[i].shape()[a];
  }
  const std::int64_t rows = product(first, 0, a);
  const std::int64_t total = product(out_shape, a, out_shape.size());
  Tensor y = ops::empty_as(xs[0], out_shape);
  backend::Backend& be = ops::backend_of(y);
  std::vector<std::int64_t> widths, offsets;
  std::int64_t offset = 0;
  for (const Tensor& x : xs) {
    const std::int64_t width = product(x.shape(), a, x.shape().size());
    be.copy_columns(x, width, 0, y, total, offset, rows, width, false);
    widths.push_back(width);
    offsets.push_back(offset);
    offset += width;
  }
  autograd::record(
      op, xs, y,
      [xs, widths, offsets, rows, total](const Tensor& dy, const std::vector<bool>& needed) {
        std::vector<Tensor> grads(xs.size());
        for (std::size_t i = 0; i < xs.size(); ++i) {
          if (!needed[i]) continue;
          grads[i] = ops::empty_like(xs[i]);
          ops::backend_of(dy).copy_columns(dy, total, offsets[i], grads[i], widths[i], 0, rows,
                                           widths[i], false);
        }
        return grads;
      });
  return y;
}

Tensor add(const Tensor& a, const Tensor& b) {
  ops::check_floating("add", a, "a");
  ops::check_compatible("add", a, b, "b");
  KILN_CHECK(a.shape() == b.shape(), "add: shapes {} and {} differ", shape_str(a.shape()),
             shape_str(b.shape()));
  Tensor y = a.clone();
  ops::backend_of(a).axpy(1.0, b, y);
  autograd::record("add", {a, b}, y, [](const Tensor& dy, const std::vector<bool>&) {
    return std::vector<Tensor>{dy, dy};
  });
  return y;
}

Tensor scale(const Tensor& x, double factor) {
  ops::check_floating("scale", x, "input");
  Tensor y = Tensor::zeros(x.shape(), x.dtype(), x.device());
  ops::backend_of(x).axpy(factor, x, y);
  autograd::record("scale", {x}, y, [factor](const Tensor& dy, const std::vector<bool>&) {
    Tensor dx = Tensor::zeros(dy.shape(), dy.dtype(), dy.device());
    ops::backend_of(dy).axpy(factor, dy, dx);
    return std::vector<Tensor>{dx};
  });
  return y;
}

Tensor sum(const Tensor& x) {
  ops::check_floating("sum", x, "input");
  Tensor y = ops::empty_as(x, {});
  ops::backend_of(x).sum(x, y);
  const Shape shape = x.shape();
  autograd::record("sum", {x}, y, [shape](const Tensor& dy, const std::vector<bool>&) {
    return std::vector<Tensor>{broadcast_scalar(dy, shape, 1.0)};
  });
  return y;
}

Tensor mean(const Tensor& x) {
  ops::check_floating("mean", x, "input");
  KILN_CHECK(x.numel() > 0, "mean: the input {} is empty", shape_str(x.shape()));
  return scale(sum(x), 1.0 / static_cast<double>(x.numel()));
}

Tensor dropout(const Tensor& x, double rate, bool training, std::uint64_t seed) {
  ops::check_floating("dropout", x, "input");
  KILN_CHECK(rate >= 0.0 && rate < 1.0, "dropout: rate must be in [0, 1), found {}", rate);
  if (!training || rate == 0.0) return x;
  Tensor mask = ops::empty_like(x);
  backend::Backend& be = ops::backend_of(x);
  be.dropout_mask(mask, rate, seed);
  Tensor y = ops::empty_like(x);
  be.multiply(x, mask, y);
  autograd::record("dropout", {x}, y, [mask](const Tensor& dy, const std::vector<bool>&) {
    Tensor dx = ops::empty_like(dy);
    ops::backend_of(dy).multiply(dy, mask, dx);
    return std::vector<Tensor>{dx};
  });
  return y;
}

Tensor argmax(const Tensor& x) {
  ops::check_floating("argmax", x, "input");
  KILN_CHECK(x.rank() >= 1 && x.dim(-1) > 0, "argmax: expected a non-empty last axis, found {}",
             shape_str(x.shape()));
  Shape out_shape(x.shape().begin(), x.shape().end() - 1);
  Tensor out = Tensor::empty(out_shape, DType::i32, x.device());
  ops::backend_of(x).argmax(x, out);
  return out;
}

namespace ops {

// Checks that every i32 value lies in [0, limit). Values on the CPU are read where they are
// (no copy, and no host wait counted: sync_stats counts what a GPU would wait for); values on a
// GPU are copied to the host first, which waits.
void check_index_range(const char* op, const Tensor& indices, std::int64_t limit,
                       const char* what) {
  KILN_CHECK(indices.dtype() == DType::i32, "{}: expected {} of dtype int32, found {}", op, what,
             dtype_name(indices.dtype()));
  std::vector<std::int32_t> copied;
  if (!indices.device().is_cpu()) copied = indices.to_vector<std::int32_t>();
  const std::int32_t* values =
      indices.device().is_cpu() ? indices.data<std::int32_t>() : copied.data();
  const auto count = static_cast<std::size_t>(indices.numel());
  for (std::size_t i = 0; i < count; ++i) {
    KILN_CHECK(values[i] >= 0 && values[i] < limit, "{}: {}[{}] = {} is out of range [0, {})", op,
               what, i, values[i], limit);
  }
}

}  // namespace ops

Tensor one_hot(const Tensor& labels, std::int64_t classes, DType dtype) {
  ops::check_rank("one_hot", labels, 1, "labels");
  KILN_CHECK(classes >= 1, "one_hot: classes must be >= 1, found {}", classes);
  KILN_CHECK(is_floating(dtype), "one_hot: expected a floating dtype, found {}", dtype_name(dtype));
  ops::check_index_range("one_hot", labels, classes, "labels");
  Tensor out = Tensor::empty({labels.dim(0), classes}, dtype, labels.device());
  ops::backend_of(labels).one_hot(labels, out);
  return out;
}

Tensor gather_rows(const Tensor& x, const Tensor& indices) {
  ops::check_defined("gather_rows", x, "input");
  KILN_CHECK(x.rank() >= 1, "gather_rows: expected rows, found shape {}", shape_str(x.shape()));
  ops::check_rank("gather_rows", indices, 1, "indices");
  KILN_CHECK(indices.device() == x.device(), "gather_rows: indices on {}, input on {}",
             indices.device().str(), x.device().str());
  ops::check_index_range("gather_rows", indices, x.dim(0), "indices");
  Shape out_shape = x.shape();
  out_shape[0] = indices.dim(0);
  Tensor out = Tensor::empty(out_shape, x.dtype(), x.device());
  ops::backend_of(x).gather_rows(x, indices, out);
  return out;
}

}  // namespace kiln
