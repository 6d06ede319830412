// The ops of imported inference graphs (kiln/graph_ops.h): argument checks, output allocation
// and one Backend kernel each. Nothing is recorded on the tape.
#include "kiln/graph_ops.h"

#include <algorithm>

#include "ops/op_helpers.h"

namespace kiln {

namespace {

const char* binary_name(BinaryOp op) {
  switch (op) {
    case BinaryOp::add: return "add";
    case BinaryOp::subtract: return "subtract";
    case BinaryOp::multiply: return "multiply";
    case BinaryOp::floor_divide: return "floor_divide";
    case BinaryOp::floor_mod: return "floor_mod";
    case BinaryOp::equal: return "equal";
  }
  return "binary";
}

// NumPy's broadcast of two shapes, or an Error naming the op and both shapes.
Shape broadcast_shape(const char* op, const Shape& a, const Shape& b) {
  const std::size_t rank = std::max(a.size(), b.size());
  Shape out(rank, 1);
  for (std::size_t i = 0; i < rank; ++i) {
    const std::int64_t da = i < a.size() ? a[a.size() - 1 - i] : 1;
    const std::int64_t db = i < b.size() ? b[b.size() - 1 - i] : 1;
    KILN_CHECK(da == db || da == 1 || db == 1,
               "{}: shapes {} and {} do not broadcast (axis {} from the end: {} vs {})", op,
               shape_str(a), shape_str(b), i, da, db);
    out[rank - 1 - i] = da == 1 ? db : da;
  }
  return out;
}

// Integer floor division and modulo by zero are errors in TensorFlow; here too.
void check_no_zero_divisor(const char* op, const Tensor& b) {
  if (b.dtype() != DType::i32) return;
  const std::vector<std::int32_t> values = b.to_vector<std::int32_t>();
  KILN_CHECK(std::find(values.begin(), values.end(), 0) == values.end(),
             "{}: integer division by zero", op);
}

}  // namespace

Tensor broadcast_binary(const Tensor& a, const Tensor& b, BinaryOp op) {
  const char* name = binary_name(op);
  ops::check_defined(name, a, "a");
  ops::check_compatible(name, a, b, "b");
  KILN_CHECK(a.dtype() != DType::u8 || op == BinaryOp::equal,
             "{}: expected float or int32 operands, found uint8", name);
  if (op == BinaryOp::floor_divide || op == BinaryOp::floor_mod) check_no_zero_divisor(name, b);
  const Shape shape = broadcast_shape(name, a.shape(), b.shape());
  Tensor out = Tensor::empty(shape, op == BinaryOp::equal ? DType::u8 : a.dtype(), a.device());
  ops::backend_of(a).broadcast_binary(op, a, b, out);
  return out;
}

Tensor spatial_mean(const Tensor& x) {
  const char* op = "spatial_mean";
  ops::check_floating(op, x, "input");
  ops::check_rank(op, x, 4, "input (batch, height, width, channels)");
  KILN_CHECK(x.dim(1) > 0 && x.dim(2) > 0, "{}: input {} has no pixels", op, shape_str(x.shape()));
  Tensor y = ops::empty_as(x, {x.dim(0), 1, 1, x.dim(3)});
  ops::backend_of(x).spatial_mean(x, y);
  return y;
}

Tensor resize_bilinear(const Tensor& x, Size2 size, ResizeMode mode) {
  const char* op = "resize_bilinear";
  ops::check_floating(op, x, "input");
  ops::check_rank(op, x, 4, "input (batch, height, width, channels)");
  KILN_CHECK(size.h >= 1 && size.w >= 1, "{}: size must be >= 1, found {}x{}", op, size.h, size.w);
  KILN_CHECK(!(mode.align_corners && mode.half_pixel_centers),
             "{}: align_corners and half_pixel_centers cannot both be set", op);
  Tensor y = ops::empty_as(x, {x.dim(0), size.h, size.w, x.dim(3)});
  ops::backend_of(x).resize_bilinear_mode(x, mode, y);
  return y;
}

TopK top_k(const Tensor& x, std::int64_t k) {
  const char* op = "top_k";
  ops::check_defined(op, x, "input");
  KILN_CHECK(x.rank() >= 1, "{}: expected at least one axis, found a scalar", op);
  KILN_CHECK(k >= 0 && k <= x.dim(-1), "{}: k must be in [0, {}] for input {}, found {}", op,
             x.dim(-1), shape_str(x.shape()), k);
  Shape shape = x.shape();
  shape.back() = k;
  TopK result{ops::empty_as(x, shape), Tensor::empty(shape, DType::i32, x.device())};
  if (k > 0) ops::backend_of(x).top_k(x, result.values, result.indices);
  return result;
}

Tensor strided_slice(const Tensor& x, const std::vector<std::int64_t>& begin,
                     const std::vector<std::int64_t>& strides,
                     const std::vector<std::int64_t>& sizes) {
  const char* op = "strided_slice";
  ops::check_defined(op, x, "input");
  const auto rank = static_cast<std::size_t>(x.rank());
  KILN_CHECK(begin.size() == rank && strides.size() == rank && sizes.size() == rank,
             "{}: expected begin, strides and sizes of {} values for input {}, found {}, {}, {}",
             op, rank, shape_str(x.shape()), begin.size(), strides.size(), sizes.size());
  for (std::size_t i = 0; i < rank; ++i) {
    const std::int64_t extent = x.dim(static_cast<int>(i));
    const std::int64_t last = begin[i] + (sizes[i] - 1) * strides[i];
    KILN_CHECK(
        sizes[i] >= 0 && strides[i] != 0 &&
            (sizes[i] == 0 || (begin[i] >= 0 && begin[i] < extent && last >= 0 && last < extent)),
        "{}: axis {} of input {}: begin {}, stride {}, {} elements leave [0, {})", op, i,
        shape_str(x.shape()), begin[i], strides[i], sizes[i], extent);
  }
  Tensor y = ops::empty_as(x, Shape(sizes.begin(), sizes.end()));
  if (y.numel() > 0) ops::backend_of(x).strided_slice(x, begin, strides, y);
  return y;
}

Tensor hard_swish(const Tensor& x, double scale, double shift) {
  ops::check_floating("hard_swish", x, "input");
  Tensor y = ops::empty_like(x);
  ops::backend_of(x).hard_swish(x, scale, shift, y);
  return y;
}

Tensor gather(const Tensor& x, const Tensor& indices) {
  ops::check_defined("gather", indices, "indices");
  Shape shape = indices.shape();
  const Tensor rows = gather_rows(x, indices.view({indices.numel()}));
  shape.insert(shape.end(), x.shape().begin() + 1, x.shape().end());
  return rows.view(shape);
}

}  // namespace kiln
