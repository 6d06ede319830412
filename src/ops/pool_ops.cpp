// max / min / average pooling: shape checks, geometry and the backward step.
#include <cstdint>

#include "autograd/record.h"
#include "kiln/ops.h"
#include "ops/op_helpers.h"

namespace kiln {

namespace {

const char* pool_name(backend::PoolMode mode) {
  switch (mode) {
    case backend::PoolMode::max: return "max_pool2d";
    case backend::PoolMode::min: return "min_pool2d";
    case backend::PoolMode::avg: return "avg_pool2d";
  }
  return "pool2d";
}

// Winners are int32 positions iy * w + ix within an image (backend.h).
constexpr std::int64_t kMaxWinnerPositions = std::int64_t{1} << 31;

backend::Pool2dGeometry pool_geometry(backend::PoolMode mode, const Tensor& x, Size2 pool_size,
                                      std::optional<Size2> strides_given, const Padding& padding) {
  const char* op = pool_name(mode);
  const Size2 strides = strides_given.value_or(pool_size);
  ops::check_rank(op, x, 4, "input");
  ops::check_floating(op, x, "input");
  ops::check_window(op, pool_size, strides, padding);
  KILN_CHECK(mode == backend::PoolMode::avg || x.dim(1) * x.dim(2) < kMaxWinnerPositions,
             "{}: input {} has {}x{} = {} positions per image; max / min pooling supports fewer "
             "than 2^31 (its winners are int32 positions)",
             op, shape_str(x.shape()), x.dim(1), x.dim(2), x.dim(1) * x.dim(2));
  const WindowAxis rows = window_axis(x.dim(1), pool_size.h, strides.h, padding, true);
  const WindowAxis cols = window_axis(x.dim(2), pool_size.w, strides.w, padding, false);
  KILN_CHECK(rows.output > 0 && cols.output > 0,
             "{}: pool size {}x{} is larger than the padded input: input {}, padding {}", op,
             pool_size.h, pool_size.w, shape_str(x.shape()), padding.str());
  KILN_CHECK(rows.pad_before < pool_size.h && cols.pad_before < pool_size.w &&
                 rows.pad_after < pool_size.h && cols.pad_after < pool_size.w,
             "{}: padding {} must be smaller than the pool size {}x{}", op, padding.str(),
             pool_size.h, pool_size.w);
  backend::Pool2dGeometry g;
  g.n = x.dim(0), g.h = x.dim(1), g.w = x.dim(2), g.c = x.dim(3);
  g.ph = pool_size.h, g.pw = pool_size.w;
  g.oh = rows.output, g.ow = cols.output;
  g.stride_h = strides.h, g.stride_w = strides.w;
  g.pad_top = rows.pad_before, g.pad_left = cols.pad_before;
  return g;
}

// Max / min keep each window's winner for the backward pass (Note [Stored winners] in
// src/backend/cpu/cpu_pool.cpp), and only when the op is recorded for one: under NoGrad or
// without a tape, winners stay undefined and the kernel skips them. The step holds the winners,
// not x and y.
Tensor pool2d(backend::PoolMode mode, const Tensor& x, Size2 pool_size,
              std::optional<Size2> strides, const Padding& padding) {
  const backend::Pool2dGeometry g = pool_geometry(mode, x, pool_size, strides, padding);
  Tensor y = ops::empty_as(x, {g.n, g.oh, g.ow, g.c});
  Tensor winners;
  if (mode != backend::PoolMode::avg && autograd::recording()) {
    winners = Tensor::empty({g.n, g.oh, g.ow, g.c}, DType::i32, x.device());
  }
  ops::backend_of(x).pool2d_forward(mode, g, x, y, winners);
  autograd::record(pool_name(mode), {x}, y,
                   [mode, g, winners, shape = x.shape(), dtype = x.dtype()](
                       const Tensor& dy, const std::vector<bool>&) {
                     Tensor dx = Tensor::empty(shape, dtype, dy.device());
                     ops::backend_of(dy).pool2d_backward(mode, g, winners, dy, dx);
                     return std::vector<Tensor>{dx};
                   });
  return y;
}

}  // namespace

Tensor max_pool2d(const Tensor& x, Size2 pool_size, std::optional<Size2> strides,
                  const Padding& padding) {
  return pool2d(backend::PoolMode::max, x, pool_size, strides, padding);
}

Tensor min_pool2d(const Tensor& x, Size2 pool_size, std::optional<Size2> strides,
                  const Padding& padding) {
  return pool2d(backend::PoolMode::min, x, pool_size, strides, padding);
}

Tensor avg_pool2d(const Tensor& x, Size2 pool_size, std::optional<Size2> strides,
                  const Padding& padding) {
  return pool2d(backend::PoolMode::avg, x, pool_size, strides, padding);
}

}  // namespace kiln
