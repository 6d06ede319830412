// cudnnBackendFinalize's checks for each descriptor type the stand-in emulates (cudnn_backend.h).
// A required attribute that was never set, or values that contradict each other (shapes, counts,
// duplicated unique ids, overlapping strides, a virtual tensor at the graph's boundary) are
// BAD_PARAM (its specific codes where cuDNN 9 has one); what the stand-in does not emulate (other
// data types, ranks, modes, dilation, graph patterns other than Note [Emulated engines]'s) is
// NOT_SUPPORTED.
#include <algorithm>
#include <cstring>
#include <numeric>
#include <set>
#include <string>

#include "cudnn_backend.h"

namespace kiln::emu::cudnn {

namespace {

const StoredAttribute& required(const BackendDescriptor& d, cudnnBackendAttributeName_t name,
                                const char* what) {
  const StoredAttribute* a = find_attribute(d, name);
  require_param(a != nullptr, std::string(what) + " was never set");
  return *a;
}

template <class T>
T element(const StoredAttribute& a, std::int64_t i = 0) {
  T value;
  std::memcpy(&value, a.bytes.data() + i * sizeof(T), sizeof(T));
  return value;
}

std::vector<std::int64_t> int64s(const BackendDescriptor& d, cudnnBackendAttributeName_t name,
                                 const char* what) {
  const StoredAttribute& a = required(d, name, what);
  std::vector<std::int64_t> values(static_cast<std::size_t>(a.count));
  for (std::int64_t i = 0; i < a.count; ++i) values[i] = element<std::int64_t>(a, i);
  return values;
}

const BackendDescriptor& referenced(const BackendDescriptor& d, cudnnBackendAttributeName_t name,
                                    const char* what) {
  return *required(d, name, what).descriptors.at(0);
}

double float_or_double(const BackendDescriptor& d, cudnnBackendAttributeName_t name,
                       double otherwise) {
  const StoredAttribute* a = find_attribute(d, name);
  if (a == nullptr) return otherwise;
  return a->type == CUDNN_TYPE_DOUBLE ? element<double>(*a) : element<float>(*a);
}

bool power_of_two(std::int64_t v) { return v > 0 && (v & (v - 1)) == 0; }

// No two index tuples of `t` share an address: sorted by stride, each stride spans the extent of
// the dimensions inside it.
void require_no_overlap(const GraphTensor& t, const char* what) {
  std::vector<std::size_t> order(t.dims.size());
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(),
            [&](std::size_t a, std::size_t b) { return t.strides[a] < t.strides[b]; });
  std::int64_t span = 1;
  for (std::size_t i : order) {
    if (t.dims[i] == 1) continue;
    require_param(t.strides[i] >= span, std::string(what) + " (uid " + std::to_string(t.uid) +
                                            ") has strides under which elements overlap");
    span = t.strides[i] * t.dims[i];
  }
}

void finalize_tensor(BackendDescriptor& d) {
  GraphTensor t;
  const auto type = element<cudnnDataType_t>(required(d, CUDNN_ATTR_TENSOR_DATA_TYPE, "DATA_TYPE"));
  require(type == CUDNN_DATA_FLOAT, CUDNN_STATUS_NOT_SUPPORTED_DATA_TYPE,
          "only CUDNN_DATA_FLOAT tensors are emulated");
  t.dims = int64s(d, CUDNN_ATTR_TENSOR_DIMENSIONS, "DIMENSIONS");
  t.strides = int64s(d, CUDNN_ATTR_TENSOR_STRIDES, "STRIDES");
  require_param(t.dims.size() == t.strides.size(),
                "DIMENSIONS has " + std::to_string(t.dims.size()) + " elements but STRIDES " +
                    std::to_string(t.strides.size()));
  require(t.dims.size() == 4, CUDNN_STATUS_NOT_SUPPORTED_SHAPE,
          "only 4-D tensors (n, c, h, w) are emulated");
  for (std::size_t i = 0; i < 4; ++i) {
    require_param(t.dims[i] > 0 && t.strides[i] > 0, "dimensions and strides must be positive");
  }
  t.uid = element<std::int64_t>(required(d, CUDNN_ATTR_TENSOR_UNIQUE_ID, "UNIQUE_ID"));
  t.alignment =
      element<std::int64_t>(required(d, CUDNN_ATTR_TENSOR_BYTE_ALIGNMENT, "BYTE_ALIGNMENT"));
  require_param(power_of_two(t.alignment) && t.alignment >= 4,
                "BYTE_ALIGNMENT " + std::to_string(t.alignment) +
                    " is not a power of two at least the element size (4)");
  const StoredAttribute* is_virtual = find_attribute(d, CUDNN_ATTR_TENSOR_IS_VIRTUAL);
  t.is_virtual = is_virtual != nullptr && element<bool>(*is_virtual);
  d.tensor = t;
}

void finalize_convolution(BackendDescriptor& d) {
  const auto type = element<cudnnDataType_t>(
      required(d, CUDNN_ATTR_CONVOLUTION_COMP_TYPE, "CONVOLUTION_COMP_TYPE"));
  require(type == CUDNN_DATA_FLOAT, CUDNN_STATUS_NOT_SUPPORTED_DATA_TYPE,
          "only a CUDNN_DATA_FLOAT compute type is emulated");
  const auto mode = element<cudnnConvolutionMode_t>(
      required(d, CUDNN_ATTR_CONVOLUTION_CONV_MODE, "CONVOLUTION_CONV_MODE"));
  require_supported(mode == CUDNN_CROSS_CORRELATION, "only CUDNN_CROSS_CORRELATION is emulated");
  const auto dims = element<std::int64_t>(
      required(d, CUDNN_ATTR_CONVOLUTION_SPATIAL_DIMS, "CONVOLUTION_SPATIAL_DIMS"));
  require(dims == 2, CUDNN_STATUS_NOT_SUPPORTED_SHAPE, "only 2 spatial dimensions are emulated");
  const auto dilations = int64s(d, CUDNN_ATTR_CONVOLUTION_DILATIONS, "CONVOLUTION_DILATIONS");
  d.strides = int64s(d, CUDNN_ATTR_CONVOLUTION_FILTER_STRIDES, "CONVOLUTION_FILTER_STRIDES");
  d.pre_paddings = int64s(d, CUDNN_ATTR_CONVOLUTION_PRE_PADDINGS, "CONVOLUTION_PRE_PADDINGS");
  d.post_paddings = int64s(d, CUDNN_ATTR_CONVOLUTION_POST_PADDINGS, "CONVOLUTION_POST_PADDINGS");
  const std::vector<std::int64_t>* lists[] = {&dilations, &d.strides, &d.pre_paddings,
                                              &d.post_paddings};
  for (const std::vector<std::int64_t>* list : lists) {
    require_param(static_cast<std::int64_t>(list->size()) == dims,
                  "dilations, filter strides and paddings need one element per spatial dimension");
  }
  for (int i = 0; i < 2; ++i) {
    require_supported(dilations[i] == 1, "dilation is not emulated");
    require_param(d.strides[i] > 0, "filter strides must be positive");
    require_param(d.pre_paddings[i] >= 0 && d.post_paddings[i] >= 0,
                  "paddings must not be negative");
  }
}

void finalize_pointwise(BackendDescriptor& d) {
  d.pointwise_mode =
      element<cudnnPointwiseMode_t>(required(d, CUDNN_ATTR_POINTWISE_MODE, "POINTWISE_MODE"));
  require_supported(
      d.pointwise_mode == CUDNN_POINTWISE_ADD || d.pointwise_mode == CUDNN_POINTWISE_RELU_FWD,
      "only CUDNN_POINTWISE_ADD and CUDNN_POINTWISE_RELU_FWD are emulated");
  const auto precision =
      element<cudnnDataType_t>(required(d, CUDNN_ATTR_POINTWISE_MATH_PREC, "POINTWISE_MATH_PREC"));
  require(precision == CUDNN_DATA_FLOAT, CUDNN_STATUS_NOT_SUPPORTED_DATA_TYPE,
          "only a CUDNN_DATA_FLOAT math precision is emulated");
}

// A convolution-forward operation's parts.
struct ConvolutionOp {
  const GraphTensor *x, *w, *y;
  const BackendDescriptor* conv;
};

std::int64_t output_extent(std::int64_t in, std::int64_t pre, std::int64_t post,
                           std::int64_t window, std::int64_t stride) {
  const std::int64_t padded = in + pre + post;
  return padded < window ? 0 : 1 + (padded - window) / stride;
}

ConvolutionOp convolution_op(const BackendDescriptor& d) {
  ConvolutionOp op{};
  op.conv = &referenced(d, CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_CONV_DESC, "CONV_DESC");
  op.x = &*referenced(d, CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_X, "X").tensor;
  op.w = &*referenced(d, CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_W, "W").tensor;
  op.y = &*referenced(d, CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_Y, "Y").tensor;
  const auto& x = op.x->dims;
  const auto& w = op.w->dims;
  const auto& y = op.y->dims;
  require(x[1] == w[1], CUDNN_STATUS_BAD_PARAM_SHAPE_MISMATCH,
          "X has " + std::to_string(x[1]) + " channels but W expects " + std::to_string(w[1]));
  const std::int64_t oh = output_extent(x[2], op.conv->pre_paddings[0], op.conv->post_paddings[0],
                                        w[2], op.conv->strides[0]);
  const std::int64_t ow = output_extent(x[3], op.conv->pre_paddings[1], op.conv->post_paddings[1],
                                        w[3], op.conv->strides[1]);
  require(y[0] == x[0] && y[1] == w[0] && y[2] == oh && y[3] == ow && oh > 0 && ow > 0,
          CUDNN_STATUS_BAD_PARAM_SHAPE_MISMATCH,
          "Y is (" + std::to_string(y[0]) + ", " + std::to_string(y[1]) + ", " +
              std::to_string(y[2]) + ", " + std::to_string(y[3]) + ") but the convolution gives (" +
              std::to_string(x[0]) + ", " + std::to_string(w[0]) + ", " + std::to_string(oh) +
              ", " + std::to_string(ow) + ")");
  return op;
}

struct PointwiseOp {
  cudnnPointwiseMode_t mode{};
  const GraphTensor *x, *b, *y;
};

PointwiseOp pointwise_op(const BackendDescriptor& d) {
  PointwiseOp op{};
  op.mode =
      referenced(d, CUDNN_ATTR_OPERATION_POINTWISE_PW_DESCRIPTOR, "PW_DESCRIPTOR").pointwise_mode;
  op.x = &*referenced(d, CUDNN_ATTR_OPERATION_POINTWISE_XDESC, "XDESC").tensor;
  op.y = &*referenced(d, CUDNN_ATTR_OPERATION_POINTWISE_YDESC, "YDESC").tensor;
  const bool binary = op.mode == CUDNN_POINTWISE_ADD;
  const StoredAttribute* b = find_attribute(d, CUDNN_ATTR_OPERATION_POINTWISE_BDESC);
  require_param((b != nullptr) == binary, binary ? "CUDNN_POINTWISE_ADD needs BDESC"
                                                 : "CUDNN_POINTWISE_RELU_FWD takes no BDESC");
  require(op.x->dims == op.y->dims, CUDNN_STATUS_BAD_PARAM_SHAPE_MISMATCH,
          "XDESC and YDESC have different dimensions");
  if (binary) {
    op.b = &*b->descriptors.at(0)->tensor;
    for (std::size_t i = 0; i < 4; ++i) {
      require(op.b->dims[i] == 1 || op.b->dims[i] == op.x->dims[i],
              CUDNN_STATUS_BAD_PARAM_SHAPE_MISMATCH,
              "BDESC does not broadcast to XDESC (each dimension equal or 1)");
    }
  }
  return op;
}

void require_pattern(bool condition, const std::string& message) {
  require(condition, CUDNN_STATUS_NOT_SUPPORTED_GRAPH_PATTERN,
          message + " (the stand-in emulates conv [-> add bias] [-> relu] only)");
}

Strides strides_of(const GraphTensor& t) {
  return {t.strides[0], t.strides[1], t.strides[2], t.strides[3]};
}

ConvolutionProblem problem_of(const ConvolutionOp& op) {
  ConvolutionProblem p;
  const auto to_int = [](std::int64_t v) { return static_cast<int>(v); };
  p.n = to_int(op.x->dims[0]);
  p.c = to_int(op.x->dims[1]);
  p.h = to_int(op.x->dims[2]);
  p.w = to_int(op.x->dims[3]);
  p.k = to_int(op.w->dims[0]);
  p.r = to_int(op.w->dims[2]);
  p.s = to_int(op.w->dims[3]);
  p.oh = to_int(op.y->dims[2]);
  p.ow = to_int(op.y->dims[3]);
  p.pad_h = to_int(op.conv->pre_paddings[0]);
  p.pad_w = to_int(op.conv->pre_paddings[1]);
  p.stride_h = to_int(op.conv->strides[0]);
  p.stride_w = to_int(op.conv->strides[1]);
  p.x = strides_of(*op.x);
  p.y = strides_of(*op.y);
  p.filter = strides_of(*op.w);
  p.x_bytes = op.x->bytes();
  p.y_bytes = op.y->bytes();
  p.filter_bytes = op.w->bytes();
  return p;
}

// Follows the dataflow from the convolution's output through the pointwise operations.
void chain_pointwise(FusedGraph& g, const std::vector<PointwiseOp>& ops,
                     const GraphTensor& conv_y) {
  const GraphTensor* current = &conv_y;
  std::size_t used = 0;
  for (;;) {
    const auto next = std::find_if(
        ops.begin(), ops.end(), [&](const PointwiseOp& op) { return op.x->uid == current->uid; });
    if (next == ops.end()) break;
    require_pattern(current->is_virtual, "the tensor between two operations is not virtual");
    if (next->mode == CUDNN_POINTWISE_ADD) {
      require_pattern(!g.has_bias && !g.relu, "an ADD after an ADD or a RELU");
      g.has_bias = true;
      g.bias = *next->b;
    } else {
      require_pattern(!g.relu, "two RELU_FWD operations");
      g.relu = true;
    }
    current = next->y;
    ++used;
  }
  require_pattern(used == ops.size(), "a pointwise operation that does not follow the chain");
  g.y = *current;
}

void require_boundary(const FusedGraph& g) {
  std::set<std::int64_t> uids;
  for (const GraphTensor* t : g.boundary()) {
    require_param(!t->is_virtual, "tensor uid " + std::to_string(t->uid) +
                                      " is an input or output of the graph but virtual");
    require(uids.insert(t->uid).second, CUDNN_STATUS_BAD_PARAM_DUPLICATED_ENTRIES,
            "two tensors of the graph share unique id " + std::to_string(t->uid));
    require_no_overlap(*t, "a tensor");
  }
}

void finalize_operation_graph(BackendDescriptor& d) {
  const StoredAttribute& handle = required(d, CUDNN_ATTR_OPERATIONGRAPH_HANDLE, "HANDLE");
  const StoredAttribute& ops = required(d, CUDNN_ATTR_OPERATIONGRAPH_OPS, "OPS");
  auto graph = std::make_shared<FusedGraph>();
  graph->handle = element<cudnnHandle_t>(handle);
  live("HANDLE", graph->handle);
  std::vector<ConvolutionOp> convolutions;
  std::vector<PointwiseOp> pointwise;
  for (const auto& op : ops.descriptors) {
    if (op->type == CUDNN_BACKEND_OPERATION_CONVOLUTION_FORWARD_DESCRIPTOR) {
      convolutions.push_back(convolution_op(*op));
      graph->alpha = float_or_double(*op, CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_ALPHA, 1.0);
      graph->beta = float_or_double(*op, CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_BETA, 0.0);
    } else {
      pointwise.push_back(pointwise_op(*op));
    }
  }
  require_pattern(convolutions.size() == 1,
                  "the graph has " + std::to_string(convolutions.size()) + " convolutions");
  require_supported(graph->beta == 0.0, "a convolution beta other than 0 is not emulated");
  const ConvolutionOp& conv = convolutions.front();
  graph->conv = problem_of(conv);
  graph->x = *conv.x;
  graph->w = *conv.w;
  chain_pointwise(*graph, pointwise, *conv.y);
  require_boundary(*graph);
  d.graph = std::move(graph);
}

void finalize_heuristics(BackendDescriptor& d) {
  const BackendDescriptor& graph =
      referenced(d, CUDNN_ATTR_ENGINEHEUR_OPERATION_GRAPH, "ENGINEHEUR_OPERATION_GRAPH");
  const auto mode =
      element<cudnnBackendHeurMode_t>(required(d, CUDNN_ATTR_ENGINEHEUR_MODE, "ENGINEHEUR_MODE"));
  require_param(mode >= CUDNN_HEUR_MODE_INSTANT && mode < CUDNN_HEUR_MODES_COUNT,
                "ENGINEHEUR_MODE " + std::to_string(static_cast<int>(mode)) +
                    " is no cudnnBackendHeurMode_t");
  d.graph = graph.graph;
}

void finalize_plan(BackendDescriptor& d) {
  live("HANDLE", element<cudnnHandle_t>(required(d, CUDNN_ATTR_EXECUTION_PLAN_HANDLE, "HANDLE")));
  const BackendDescriptor& config =
      referenced(d, CUDNN_ATTR_EXECUTION_PLAN_ENGINE_CONFIG, "EXECUTION_PLAN_ENGINE_CONFIG");
  d.graph = config.graph;
  d.engine = config.engine;
  d.workspace = engine_workspace(d.engine, *d.graph);
}

void finalize_variant_pack(BackendDescriptor& d) {
  d.uids = int64s(d, CUDNN_ATTR_VARIANT_PACK_UNIQUE_IDS, "VARIANT_PACK_UNIQUE_IDS");
  const StoredAttribute& pointers =
      required(d, CUDNN_ATTR_VARIANT_PACK_DATA_POINTERS, "VARIANT_PACK_DATA_POINTERS");
  require_param(pointers.count == static_cast<std::int64_t>(d.uids.size()),
                "VARIANT_PACK_UNIQUE_IDS has " + std::to_string(d.uids.size()) +
                    " elements but VARIANT_PACK_DATA_POINTERS " + std::to_string(pointers.count));
  for (std::int64_t i = 0; i < pointers.count; ++i)
    d.pointers.push_back(element<void*>(pointers, i));
  const std::set<std::int64_t> distinct(d.uids.begin(), d.uids.end());
  require(distinct.size() == d.uids.size(), CUDNN_STATUS_BAD_PARAM_DUPLICATED_ENTRIES,
          "VARIANT_PACK_UNIQUE_IDS lists a unique id twice");
  const StoredAttribute* workspace = find_attribute(d, CUDNN_ATTR_VARIANT_PACK_WORKSPACE);
  d.workspace_pointer = workspace == nullptr ? nullptr : element<void*>(*workspace);
}

}  // namespace

std::size_t GraphTensor::bytes() const {
  std::int64_t last = 0;
  for (std::size_t i = 0; i < dims.size(); ++i) last += (dims[i] - 1) * strides[i];
  return static_cast<std::size_t>(last + 1) * sizeof(float);
}

std::vector<const GraphTensor*> FusedGraph::boundary() const {
  std::vector<const GraphTensor*> tensors{&x, &w, &y};
  if (has_bias) tensors.push_back(&bias);
  return tensors;
}

void finalize_descriptor(BackendDescriptor& d) {
  switch (d.type) {
    case CUDNN_BACKEND_TENSOR_DESCRIPTOR: return finalize_tensor(d);
    case CUDNN_BACKEND_CONVOLUTION_DESCRIPTOR: return finalize_convolution(d);
    case CUDNN_BACKEND_POINTWISE_DESCRIPTOR: return finalize_pointwise(d);
    case CUDNN_BACKEND_OPERATION_CONVOLUTION_FORWARD_DESCRIPTOR: (void)convolution_op(d); return;
    case CUDNN_BACKEND_OPERATION_POINTWISE_DESCRIPTOR: (void)pointwise_op(d); return;
    case CUDNN_BACKEND_OPERATIONGRAPH_DESCRIPTOR: return finalize_operation_graph(d);
    case CUDNN_BACKEND_ENGINEHEUR_DESCRIPTOR: return finalize_heuristics(d);
    case CUDNN_BACKEND_EXECUTION_PLAN_DESCRIPTOR: return finalize_plan(d);
    case CUDNN_BACKEND_VARIANT_PACK_DESCRIPTOR: return finalize_variant_pack(d);
    default:
      require_supported(false, "finalizing descriptor type " +
                                   std::to_string(static_cast<int>(d.type)) +
                                   " is not emulated: engine configurations and engines come "
                                   "from the heuristics' results");
  }
}

}  // namespace kiln::emu::cudnn
