// The TensorFlow ops an OpGraph runs (the ones of the packaged CenterNet and BlazeFace), each
// mapped onto kiln's ops: convolutions (with TF's fused BiasAdd / Relu epilogues), activations,
// broadcasting arithmetic, spatial mean, bilinear resize, pooling, and the shape and index ops
// of an in-graph decode (Reshape, ExpandDims, StridedSlice, TopKV2, GatherV2, …). Small integer
// inputs (axes, sizes, slice bounds) are read on the host.
#include <map>

#include "core/check.h"
#include "kiln/graph_ops.h"
#include "kiln/ops.h"
#include "model/op_graph_impl.h"
#include "ops/fused_ops.h"

namespace kiln::tf {

namespace {

using Inputs = std::vector<Tensor>;
using Outputs = std::vector<Tensor>;

void expect_inputs(const Inputs& in, std::size_t count) {
  KILN_CHECK(in.size() >= count, "expected {} inputs, found {}", count, in.size());
}

std::vector<std::int64_t> host_ints(const Tensor& t, const char* what) {
  KILN_CHECK(t.dtype() == DType::i32, "expected {} of dtype int32, found {}", what,
             dtype_name(t.dtype()));
  const std::vector<std::int32_t> v = t.to_vector<std::int32_t>();
  return {v.begin(), v.end()};
}

void expect_nhwc(const Attributes& a) {
  if (a.node().attr.contains("data_format")) {
    const std::string format = a.string("data_format");
    KILN_CHECK(format == "NHWC", "data_format {} is not supported (expected NHWC)", format);
  }
}

Padding padding_of(const Attributes& a) {
  const std::string p = a.string("padding");
  if (p == "SAME") return Padding::same();
  if (p == "VALID") return Padding::valid();
  fail("padding '{}' is not supported (expected SAME or VALID)", p);
}

// NHWC strides [1, sh, sw, 1] (or ksize) -> (sh, sw).
Size2 spatial_pair(const Attributes& a, const std::string& key) {
  const std::vector<std::int64_t> v = a.ints(key);
  KILN_CHECK(v.size() == 4 && v[0] == 1 && v[3] == 1, "{} {} not of the form [1, h, w, 1]", key,
             fmt::join(v, ","));
  return {v[1], v[2]};
}

void expect_no_dilation(const Attributes& a) {
  if (!a.node().attr.contains("dilations")) return;
  const std::vector<std::int64_t> d = a.ints("dilations");
  KILN_CHECK(std::all_of(d.begin(), d.end(), [](std::int64_t v) { return v == 1; }),
             "dilations {} are not supported (expected 1)", fmt::join(d, ","));
}

// A fused op's epilogue after the BiasAdd: none, Relu or Relu6.
Tensor fused_epilogue(const Attributes& a, Tensor y) {
  const std::vector<std::string> ops = a.strings("fused_ops");
  for (std::size_t i = 1; i < ops.size(); ++i) {
    if (ops[i] == "Relu") {
      y = relu(y);
    } else if (ops[i] == "Relu6") {
      y = relu(y, ReluOptions{0.0, 6.0, 0.0});
    } else {
      fail("fused op '{}' is not supported (expected BiasAdd, Relu, Relu6)", fmt::join(ops, "+"));
    }
  }
  return y;
}

Tensor fused_bias(const Attributes& a, const Inputs& in) {
  const std::vector<std::string> ops = a.strings("fused_ops");
  if (ops.empty()) return {};
  KILN_CHECK(ops[0] == "BiasAdd" && in.size() >= 3,
             "fused op '{}' is not supported (expected "
             "BiasAdd first, with a bias input)",
             fmt::join(ops, "+"));
  return in[2];
}

Outputs conv(const Attributes& a, const Inputs& in, bool depthwise) {
  expect_inputs(in, 2);
  expect_nhwc(a);
  expect_no_dilation(a);
  const Tensor bias = fused_bias(a, in);
  const Size2 strides = spatial_pair(a, "strides");
  const Padding padding = padding_of(a);
  if (depthwise) return {fused_epilogue(a, depthwise_conv2d(in[0], in[1], bias, strides, padding))};
  const std::vector<std::string> ops = a.strings("fused_ops");
  if (ops.size() == 2 && ops[1] == "Relu") {
    return {ops::conv2d_activation(in[0], in[1], bias, strides, padding, backend::Pointwise::relu)};
  }
  return {fused_epilogue(a, conv2d(in[0], in[1], bias, strides, padding))};
}

Outputs binary(const Inputs& in, BinaryOp op) { return {broadcast_binary(in[0], in[1], op)}; }

Outputs mean(const Attributes& a, const Inputs& in) {
  expect_inputs(in, 2);
  std::vector<std::int64_t> axes = host_ints(in[1], "the reduction axes");
  for (std::int64_t& axis : axes) axis = axis < 0 ? axis + in[0].rank() : axis;
  std::sort(axes.begin(), axes.end());
  KILN_CHECK(in[0].rank() == 4 && axes == std::vector<std::int64_t>({1, 2}),
             "Mean over axes [{}] of {} is not supported (expected axes 1, 2 of an NHWC image)",
             fmt::join(axes, ","), shape_str(in[0].shape()));
  const Tensor y = spatial_mean(in[0]);
  return {a.boolean("keep_dims", false) ? y : y.view({in[0].dim(0), in[0].dim(3)})};
}

Outputs resize(const Attributes& a, const Inputs& in) {
  expect_inputs(in, 2);
  const std::vector<std::int64_t> size = host_ints(in[1], "the size");
  KILN_CHECK(size.size() == 2, "expected a size of 2 values, found {}", size.size());
  return {
      resize_bilinear(in[0], Size2(size[0], size[1]),
                      {a.boolean("align_corners", false), a.boolean("half_pixel_centers", false)})};
}

Outputs concat(const Attributes&, const Inputs& in) {
  expect_inputs(in, 2);
  const std::vector<std::int64_t> axis = host_ints(in.back(), "the axis");
  return {concatenate(Inputs(in.begin(), in.end() - 1), static_cast<int>(axis.at(0)))};
}

Outputs max_pool(const Attributes& a, const Inputs& in) {
  expect_nhwc(a);
  return {
      max_pool2d(in.at(0), spatial_pair(a, "ksize"), spatial_pair(a, "strides"), padding_of(a))};
}

Outputs reshape_op(const Attributes&, const Inputs& in) {
  expect_inputs(in, 2);
  Shape shape = host_ints(in[1], "the shape");
  std::int64_t known = 1;
  std::ptrdiff_t unknown = -1;
  for (std::size_t i = 0; i < shape.size(); ++i) {
    if (shape[i] == -1) {
      KILN_CHECK(unknown < 0, "shape [{}] has more than one -1", fmt::join(shape, ","));
      unknown = static_cast<std::ptrdiff_t>(i);
    } else {
      known *= shape[i];
    }
  }
  if (unknown >= 0 && known > 0) shape[static_cast<std::size_t>(unknown)] = in[0].numel() / known;
  return {in[0].view(shape)};
}

Outputs expand_dims(const Attributes&, const Inputs& in) {
  expect_inputs(in, 2);
  std::int64_t axis = host_ints(in[1], "the axis").at(0);
  const std::int64_t rank = in[0].rank();
  if (axis < 0) axis += rank + 1;
  KILN_CHECK(axis >= 0 && axis <= rank, "axis {} out of range for shape {}", axis,
             shape_str(in[0].shape()));
  Shape shape = in[0].shape();
  shape.insert(shape.begin() + axis, 1);
  return {in[0].view(shape)};
}

Outputs cast(const Attributes& a, const Inputs& in) {
  const std::string to = a.type("DstT");
  if (to == "DT_FLOAT") return {in.at(0).astype(DType::f32)};
  if (to == "DT_INT32") return {in.at(0).astype(DType::i32)};
  fail("Cast to {} is not supported (expected DT_FLOAT or DT_INT32)", to);
}

// One axis of a StridedSlice, resolved as TensorFlow does (Python's slice rules, clamped).
struct SliceAxis {
  std::int64_t begin = 0, stride = 1, size = 0;
};

SliceAxis slice_axis(std::int64_t begin, std::int64_t end, std::int64_t stride, std::int64_t dim,
                     bool begin_masked, bool end_masked) {
  KILN_CHECK(stride != 0, "a stride of 0");
  const auto wrap = [dim](std::int64_t i) { return i < 0 ? i + dim : i; };
  std::int64_t b, e;
  if (stride > 0) {
    b = begin_masked ? 0 : std::clamp<std::int64_t>(wrap(begin), 0, dim);
    e = end_masked ? dim : std::clamp<std::int64_t>(wrap(end), 0, dim);
    return {b, stride, std::max<std::int64_t>(0, (e - b + stride - 1) / stride)};
  }
  b = begin_masked ? dim - 1 : std::clamp<std::int64_t>(wrap(begin), -1, dim - 1);
  e = end_masked ? -1 : std::clamp<std::int64_t>(wrap(end), -1, dim - 1);
  return {b, stride, std::max<std::int64_t>(0, (b - e - stride - 1) / -stride)};
}

Outputs strided_slice_op(const Attributes& a, const Inputs& in) {
  expect_inputs(in, 4);
  const Tensor& x = in[0];
  const std::vector<std::int64_t> begin = host_ints(in[1], "begin"), end = host_ints(in[2], "end"),
                                  strides = host_ints(in[3], "strides");
  KILN_CHECK(a.integer("ellipsis_mask", 0) == 0 && a.integer("new_axis_mask", 0) == 0,
             "ellipsis_mask and new_axis_mask are not supported");
  const std::int64_t begin_mask = a.integer("begin_mask", 0), end_mask = a.integer("end_mask", 0),
                     shrink_mask = a.integer("shrink_axis_mask", 0);
  KILN_CHECK(begin.size() == end.size() && begin.size() == strides.size() &&
                 static_cast<int>(begin.size()) <= x.rank(),
             "begin, end and strides of {}, {}, {} values for input {}", begin.size(), end.size(),
             strides.size(), shape_str(x.shape()));
  std::vector<std::int64_t> starts, steps, sizes;
  Shape shape;
  for (int i = 0; i < x.rank(); ++i) {
    const auto u = static_cast<std::size_t>(i);
    const bool given = u < begin.size();
    const bool shrink = given && ((shrink_mask >> i) & 1) != 0;
    SliceAxis s{0, 1, x.dim(i)};
    if (shrink) {
      s = {begin[u] < 0 ? begin[u] + x.dim(i) : begin[u], 1, 1};
    } else if (given) {
      s = slice_axis(begin[u], end[u], strides[u], x.dim(i), ((begin_mask >> i) & 1) != 0,
                     ((end_mask >> i) & 1) != 0);
    }
    starts.push_back(s.begin);
    steps.push_back(s.stride);
    sizes.push_back(s.size);
    if (!shrink) shape.push_back(s.size);
  }
  return {strided_slice(x, starts, steps, sizes).view(shape)};
}

Outputs top_k_op(const Attributes& a, const Inputs& in) {
  expect_inputs(in, 2);
  KILN_CHECK(a.boolean("sorted", true), "TopKV2 with sorted=false is not supported");
  const TopK result = top_k(in[0], host_ints(in[1], "k").at(0));
  return {result.values, result.indices};
}

Outputs gather_op(const Attributes& a, const Inputs& in) {
  expect_inputs(in, 3);
  const std::int64_t axis = host_ints(in[2], "the axis").at(0);
  KILN_CHECK(axis == 0 && a.integer("batch_dims", 0) == 0,
             "GatherV2 along axis {} with batch_dims {} is not supported (expected 0 and 0)", axis,
             a.integer("batch_dims", 0));
  return {gather(in[0], in[1])};
}

// Zeros before and after x's channels (BlazeFace widens a residual branch so).
Tensor pad_channels(const Tensor& x, std::int64_t before, std::int64_t after) {
  if (before == 0 && after == 0) return x;
  std::vector<Tensor> parts;
  Shape shape = x.shape();
  if (before > 0) {
    shape.back() = before;
    parts.push_back(Tensor::zeros(shape, x.dtype(), x.device()));
  }
  parts.push_back(x);
  if (after > 0) {
    shape.back() = after;
    parts.push_back(Tensor::zeros(shape, x.dtype(), x.device()));
  }
  return concatenate(parts, -1);
}

Outputs pad(const Attributes&, const Inputs& in) {
  expect_inputs(in, 2);
  const std::vector<std::int64_t> p = host_ints(in[1], "the paddings");
  KILN_CHECK(in[0].rank() == 4 && p.size() == 8 && p[0] == 0 && p[1] == 0 &&
                 std::all_of(p.begin(), p.end(), [](std::int64_t v) { return v >= 0; }),
             "Pad [{}] of {} is not supported (expected non-negative height, width and channel "
             "padding of an NHWC image)",
             fmt::join(p, ","), shape_str(in[0].shape()));
  const Tensor spatial = p[2] + p[3] + p[4] + p[5] == 0
                             ? in[0]
                             : zero_pad2d(in[0], Padding::explicit_amounts(p[2], p[3], p[4], p[5]));
  return {pad_channels(spatial, p[6], p[7])};
}

const std::map<std::string, OpKernel>& op_table() {
  static const std::map<std::string, OpKernel> table = {
      {"Const", nullptr},
      {"Placeholder", nullptr},
      {"Identity", [](const Attributes&, const Inputs& in) { return Outputs{in.at(0)}; }},
      {"_FusedConv2D", [](const Attributes& a, const Inputs& in) { return conv(a, in, false); }},
      {"Conv2D", [](const Attributes& a, const Inputs& in) { return conv(a, in, false); }},
      {"FusedDepthwiseConv2dNative",
       [](const Attributes& a, const Inputs& in) { return conv(a, in, true); }},
      {"DepthwiseConv2dNative",
       [](const Attributes& a, const Inputs& in) { return conv(a, in, true); }},
      {"Relu", [](const Attributes&, const Inputs& in) { return Outputs{relu(in.at(0))}; }},
      {"Relu6",
       [](const Attributes&, const Inputs& in) {
         return Outputs{relu(in.at(0), ReluOptions{0.0, 6.0, 0.0})};
       }},
      {"Sigmoid", [](const Attributes&, const Inputs& in) { return Outputs{sigmoid(in.at(0))}; }},
      {"Mul", [](const Attributes&, const Inputs& in) { return binary(in, BinaryOp::multiply); }},
      {"Add", [](const Attributes&, const Inputs& in) { return binary(in, BinaryOp::add); }},
      {"AddV2", [](const Attributes&, const Inputs& in) { return binary(in, BinaryOp::add); }},
      {"Sub", [](const Attributes&, const Inputs& in) { return binary(in, BinaryOp::subtract); }},
      {"FloorDiv",
       [](const Attributes&, const Inputs& in) { return binary(in, BinaryOp::floor_divide); }},
      {"FloorMod",
       [](const Attributes&, const Inputs& in) { return binary(in, BinaryOp::floor_mod); }},
      {"Equal", [](const Attributes&, const Inputs& in) { return binary(in, BinaryOp::equal); }},
      {"Mean", mean},
      {"ResizeBilinear", resize},
      {"ConcatV2", concat},
      {"MaxPool", max_pool},
      {"Reshape", reshape_op},
      {"ExpandDims", expand_dims},
      {"Cast", cast},
      {"StridedSlice", strided_slice_op},
      {"TopKV2", top_k_op},
      {"GatherV2", gather_op},
      {"Pad", pad},
      // kiln's own, made by fuse_ops (op_graph_fusion.cpp)
      {"_KilnHardSwish",
       [](const Attributes& a, const Inputs& in) {
         return Outputs{hard_swish(in.at(0), a.number("scale"), a.number("shift"))};
       }},
  };
  return table;
}

}  // namespace

const OpKernel* find_op(const std::string& op) {
  const auto& table = op_table();
  const auto it = table.find(op);
  return it == table.end() ? nullptr : &it->second;
}

}  // namespace kiln::tf
