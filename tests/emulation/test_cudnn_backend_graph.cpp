// The cuDNN stand-in's graph (backend) API (cuda/emulation/cudnn_backend*.cpp): conv -> ADD bias
// -> RELU_FWD with asymmetric pre / post paddings against a direct reference in double, both
// emulated engines (Note [Emulated engines]), and planted misuse — attributes of the wrong type
// or count, a missing attribute, a descriptor that is not finalized, overlapping strides, a
// pointer below its promised alignment, a variant pack without a tensor, no workspace.
#include <cudnn.h>
#include <gtest/gtest.h>

#include <array>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

#include "library_standins_references.h"
#include "library_standins_support.h"

namespace kiln::emu_test {
namespace {

// An asymmetric 'same'-like geometry: x (2, 5, 6, 3), filter 4 x (2, 3), stride (2, 1),
// pre-paddings (0, 1), post-paddings (1, 1).
struct Geometry {
  std::int64_t n = 2, h = 5, w = 6, c = 3, k = 4, r = 2, s = 3;
  std::int64_t stride_h = 2, stride_w = 1, top = 0, left = 1, bottom = 1, right = 1;
  std::int64_t oh() const { return (h + top + bottom - r) / stride_h + 1; }
  std::int64_t ow() const { return (w + left + right - s) / stride_w + 1; }
};

// y = relu(conv(x, w) + bias), NHWC / OHWI, in double from the definition.
std::vector<double> reference(const Geometry& g, const std::vector<float>& x,
                              const std::vector<float>& w, const std::vector<float>& bias,
                              bool round) {
  std::vector<double> y;
  for (std::int64_t n = 0; n < g.n; ++n)
    for (std::int64_t oy = 0; oy < g.oh(); ++oy)
      for (std::int64_t ox = 0; ox < g.ow(); ++ox)
        for (std::int64_t k = 0; k < g.k; ++k) {
          double sum = 0.0;
          for (std::int64_t r = 0; r < g.r; ++r)
            for (std::int64_t s = 0; s < g.s; ++s)
              for (std::int64_t c = 0; c < g.c; ++c) {
                const std::int64_t iy = oy * g.stride_h - g.top + r;
                const std::int64_t ix = ox * g.stride_w - g.left + s;
                if (iy < 0 || iy >= g.h || ix < 0 || ix >= g.w) continue;
                sum += operand(x[((n * g.h + iy) * g.w + ix) * g.c + c], round) *
                       operand(w[((k * g.r + r) * g.s + s) * g.c + c], round);
              }
          sum += bias[k];
          y.push_back(sum > 0.0 ? sum : 0.0);
        }
  return y;
}

class Descriptor {
 public:
  explicit Descriptor(cudnnBackendDescriptorType_t type) {
    EXPECT_EQ(cudnnBackendCreateDescriptor(type, &d_), CUDNN_STATUS_SUCCESS);
  }
  ~Descriptor() {
    if (d_ != nullptr) cudnnBackendDestroyDescriptor(d_);
  }
  Descriptor(Descriptor&& other) noexcept : d_(other.d_) { other.d_ = nullptr; }
  Descriptor(const Descriptor&) = delete;
  Descriptor& operator=(const Descriptor&) = delete;

  cudnnBackendDescriptor_t get() const { return d_; }
  cudnnStatus_t set(cudnnBackendAttributeName_t name, cudnnBackendAttributeType_t type,
                    std::int64_t count, const void* values) {
    return cudnnBackendSetAttribute(d_, name, type, count, values);
  }
  template <class T>
  cudnnStatus_t one(cudnnBackendAttributeName_t name, cudnnBackendAttributeType_t type, T value) {
    return set(name, type, 1, &value);
  }
  cudnnStatus_t finalize() { return cudnnBackendFinalize(d_); }

 private:
  cudnnBackendDescriptor_t d_ = nullptr;
};

using Dims = std::array<std::int64_t, 4>;

// A tensor with every attribute set but not finalized.
Descriptor unfinalized_tensor(std::int64_t uid, const Dims& dims, const Dims& strides,
                              bool is_virtual = false, std::int64_t alignment = 16) {
  Descriptor t(CUDNN_BACKEND_TENSOR_DESCRIPTOR);
  EXPECT_EQ(t.one(CUDNN_ATTR_TENSOR_DATA_TYPE, CUDNN_TYPE_DATA_TYPE, CUDNN_DATA_FLOAT),
            CUDNN_STATUS_SUCCESS);
  EXPECT_EQ(t.set(CUDNN_ATTR_TENSOR_DIMENSIONS, CUDNN_TYPE_INT64, 4, dims.data()),
            CUDNN_STATUS_SUCCESS);
  EXPECT_EQ(t.set(CUDNN_ATTR_TENSOR_STRIDES, CUDNN_TYPE_INT64, 4, strides.data()),
            CUDNN_STATUS_SUCCESS);
  EXPECT_EQ(t.one(CUDNN_ATTR_TENSOR_UNIQUE_ID, CUDNN_TYPE_INT64, uid), CUDNN_STATUS_SUCCESS);
  EXPECT_EQ(t.one(CUDNN_ATTR_TENSOR_BYTE_ALIGNMENT, CUDNN_TYPE_INT64, alignment),
            CUDNN_STATUS_SUCCESS);
  EXPECT_EQ(t.one(CUDNN_ATTR_TENSOR_IS_VIRTUAL, CUDNN_TYPE_BOOLEAN, is_virtual),
            CUDNN_STATUS_SUCCESS);
  return t;
}

Descriptor tensor(std::int64_t uid, const Dims& dims, const Dims& strides, bool is_virtual = false,
                  std::int64_t alignment = 16) {
  Descriptor t = unfinalized_tensor(uid, dims, strides, is_virtual, alignment);
  EXPECT_EQ(t.finalize(), CUDNN_STATUS_SUCCESS);
  return t;
}

Dims nhwc_strides(const Dims& nchw) {
  return {nchw[1] * nchw[2] * nchw[3], 1, nchw[3] * nchw[1], nchw[1]};
}

constexpr std::int64_t kX = 1, kW = 2, kY = 3, kBias = 4, kConv = 5, kSum = 6;

// The graph kiln builds (cuda/cudnn_graph_conv.cpp), with knobs to plant misuse.
struct GraphBench {
  Geometry g;
  Handle handle;
  std::vector<Descriptor> kept;
  Dims x_dims{g.n, g.c, g.h, g.w}, w_dims{g.k, g.c, g.r, g.s}, y_dims{g.n, g.k, g.oh(), g.ow()};
  Dims x_strides = nhwc_strides(x_dims);

  cudnnBackendDescriptor_t keep(Descriptor d) {
    kept.push_back(std::move(d));
    return kept.back().get();
  }

  cudnnBackendDescriptor_t convolution() {
    Descriptor conv(CUDNN_BACKEND_CONVOLUTION_DESCRIPTOR);
    const std::array<std::int64_t, 2> dilations{1, 1}, strides{g.stride_h, g.stride_w},
        pre{g.top, g.left}, post{g.bottom, g.right};
    EXPECT_EQ(conv.one(CUDNN_ATTR_CONVOLUTION_COMP_TYPE, CUDNN_TYPE_DATA_TYPE, CUDNN_DATA_FLOAT),
              CUDNN_STATUS_SUCCESS);
    EXPECT_EQ(conv.one(CUDNN_ATTR_CONVOLUTION_CONV_MODE, CUDNN_TYPE_CONVOLUTION_MODE,
                       CUDNN_CROSS_CORRELATION),
              CUDNN_STATUS_SUCCESS);
    EXPECT_EQ(conv.one(CUDNN_ATTR_CONVOLUTION_SPATIAL_DIMS, CUDNN_TYPE_INT64, std::int64_t{2}),
              CUDNN_STATUS_SUCCESS);
    conv.set(CUDNN_ATTR_CONVOLUTION_DILATIONS, CUDNN_TYPE_INT64, 2, dilations.data());
    conv.set(CUDNN_ATTR_CONVOLUTION_FILTER_STRIDES, CUDNN_TYPE_INT64, 2, strides.data());
    conv.set(CUDNN_ATTR_CONVOLUTION_PRE_PADDINGS, CUDNN_TYPE_INT64, 2, pre.data());
    conv.set(CUDNN_ATTR_CONVOLUTION_POST_PADDINGS, CUDNN_TYPE_INT64, 2, post.data());
    EXPECT_EQ(conv.finalize(), CUDNN_STATUS_SUCCESS);
    return keep(std::move(conv));
  }

  cudnnBackendDescriptor_t pointwise(cudnnPointwiseMode_t mode, cudnnBackendDescriptor_t x,
                                     cudnnBackendDescriptor_t b, cudnnBackendDescriptor_t y) {
    Descriptor pw(CUDNN_BACKEND_POINTWISE_DESCRIPTOR);
    pw.one(CUDNN_ATTR_POINTWISE_MODE, CUDNN_TYPE_POINTWISE_MODE, mode);
    pw.one(CUDNN_ATTR_POINTWISE_MATH_PREC, CUDNN_TYPE_DATA_TYPE, CUDNN_DATA_FLOAT);
    EXPECT_EQ(pw.finalize(), CUDNN_STATUS_SUCCESS);
    Descriptor op(CUDNN_BACKEND_OPERATION_POINTWISE_DESCRIPTOR);
    op.one(CUDNN_ATTR_OPERATION_POINTWISE_PW_DESCRIPTOR, CUDNN_TYPE_BACKEND_DESCRIPTOR,
           keep(std::move(pw)));
    op.one(CUDNN_ATTR_OPERATION_POINTWISE_XDESC, CUDNN_TYPE_BACKEND_DESCRIPTOR, x);
    if (b != nullptr)
      op.one(CUDNN_ATTR_OPERATION_POINTWISE_BDESC, CUDNN_TYPE_BACKEND_DESCRIPTOR, b);
    op.one(CUDNN_ATTR_OPERATION_POINTWISE_YDESC, CUDNN_TYPE_BACKEND_DESCRIPTOR, y);
    EXPECT_EQ(op.finalize(), CUDNN_STATUS_SUCCESS);
    return keep(std::move(op));
  }

  // The operation graph, finalized (its status in *status).
  cudnnBackendDescriptor_t graph(cudnnStatus_t* status) {
    const auto conv_out = keep(tensor(kConv, y_dims, nhwc_strides(y_dims), true));
    Descriptor forward(CUDNN_BACKEND_OPERATION_CONVOLUTION_FORWARD_DESCRIPTOR);
    const auto t = CUDNN_TYPE_BACKEND_DESCRIPTOR;
    forward.one(CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_CONV_DESC, t, convolution());
    forward.one(CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_X, t, keep(tensor(kX, x_dims, x_strides)));
    forward.one(CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_W, t,
                keep(tensor(kW, w_dims, nhwc_strides(w_dims))));
    forward.one(CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_Y, t, conv_out);
    forward.one(CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_ALPHA, CUDNN_TYPE_FLOAT, 1.0f);
    forward.one(CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_BETA, CUDNN_TYPE_FLOAT, 0.0f);
    EXPECT_EQ(forward.finalize(), CUDNN_STATUS_SUCCESS);
    const auto bias = keep(tensor(kBias, {1, g.k, 1, 1}, {g.k, 1, g.k, g.k}));
    const auto sum = keep(tensor(kSum, y_dims, nhwc_strides(y_dims), true));
    const auto y = keep(tensor(kY, y_dims, nhwc_strides(y_dims)));
    const std::array<cudnnBackendDescriptor_t, 3> ops{
        keep(std::move(forward)), pointwise(CUDNN_POINTWISE_ADD, conv_out, bias, sum),
        pointwise(CUDNN_POINTWISE_RELU_FWD, sum, nullptr, y)};
    Descriptor graph(CUDNN_BACKEND_OPERATIONGRAPH_DESCRIPTOR);
    graph.one(CUDNN_ATTR_OPERATIONGRAPH_HANDLE, CUDNN_TYPE_HANDLE, handle.get());
    graph.set(CUDNN_ATTR_OPERATIONGRAPH_OPS, t, 3, ops.data());
    *status = graph.finalize();
    return keep(std::move(graph));
  }

  // The plan of heuristic result `engine`, finalized.
  // Finalized engine heuristics (mode A) of the graph.
  Descriptor heuristics() {
    cudnnStatus_t status = CUDNN_STATUS_SUCCESS;
    const auto op_graph = graph(&status);
    EXPECT_EQ(status, CUDNN_STATUS_SUCCESS) << last_cudnn_error();
    Descriptor heur(CUDNN_BACKEND_ENGINEHEUR_DESCRIPTOR);
    heur.one(CUDNN_ATTR_ENGINEHEUR_OPERATION_GRAPH, CUDNN_TYPE_BACKEND_DESCRIPTOR, op_graph);
    heur.one(CUDNN_ATTR_ENGINEHEUR_MODE, CUDNN_TYPE_HEUR_MODE, CUDNN_HEUR_MODE_A);
    EXPECT_EQ(heur.finalize(), CUDNN_STATUS_SUCCESS);
    return heur;
  }

  cudnnBackendDescriptor_t plan(int engine, std::int64_t* workspace) {
    const Descriptor heuristics = this->heuristics();
    std::int64_t count = 0;
    EXPECT_EQ(cudnnBackendGetAttribute(heuristics.get(), CUDNN_ATTR_ENGINEHEUR_RESULTS,
                                       CUDNN_TYPE_BACKEND_DESCRIPTOR, 0, &count, nullptr),
              CUDNN_STATUS_SUCCESS);
    EXPECT_EQ(count, 2) << "Note [Emulated engines]";
    std::vector<cudnnBackendDescriptor_t> configs;
    for (std::int64_t i = 0; i < count; ++i) {
      configs.push_back(keep(Descriptor(CUDNN_BACKEND_ENGINECFG_DESCRIPTOR)));
    }
    EXPECT_EQ(
        cudnnBackendGetAttribute(heuristics.get(), CUDNN_ATTR_ENGINEHEUR_RESULTS,
                                 CUDNN_TYPE_BACKEND_DESCRIPTOR, count, &count, configs.data()),
        CUDNN_STATUS_SUCCESS);
    Descriptor plan(CUDNN_BACKEND_EXECUTION_PLAN_DESCRIPTOR);
    plan.one(CUDNN_ATTR_EXECUTION_PLAN_HANDLE, CUDNN_TYPE_HANDLE, handle.get());
    plan.one(CUDNN_ATTR_EXECUTION_PLAN_ENGINE_CONFIG, CUDNN_TYPE_BACKEND_DESCRIPTOR,
             configs.at(static_cast<std::size_t>(engine)));
    EXPECT_EQ(plan.finalize(), CUDNN_STATUS_SUCCESS) << last_cudnn_error();
    EXPECT_EQ(cudnnBackendGetAttribute(plan.get(), CUDNN_ATTR_EXECUTION_PLAN_WORKSPACE_SIZE,
                                       CUDNN_TYPE_INT64, 1, &count, workspace),
              CUDNN_STATUS_SUCCESS);
    return keep(std::move(plan));
  }
};

struct Data {
  std::vector<float> x, w, bias;
  DeviceFloats dx, dw, dbias, dy;
  explicit Data(const Geometry& g)
      : x(random_floats(std::size_t(g.n * g.h * g.w * g.c), 31)),
        w(random_floats(std::size_t(g.k * g.r * g.s * g.c), 32)),
        bias(random_floats(std::size_t(g.k), 33)),
        dx(x),
        dw(w),
        dbias(bias),
        dy(std::size_t(g.n * g.oh() * g.ow() * g.k)) {}
};

cudnnStatus_t execute(GraphBench& b, cudnnBackendDescriptor_t plan, std::vector<std::int64_t> uids,
                      std::vector<void*> pointers, void* workspace) {
  Descriptor pack(CUDNN_BACKEND_VARIANT_PACK_DESCRIPTOR);
  pack.set(CUDNN_ATTR_VARIANT_PACK_UNIQUE_IDS, CUDNN_TYPE_INT64,
           static_cast<std::int64_t>(uids.size()), uids.data());
  pack.set(CUDNN_ATTR_VARIANT_PACK_DATA_POINTERS, CUDNN_TYPE_VOID_PTR,
           static_cast<std::int64_t>(pointers.size()), pointers.data());
  pack.one(CUDNN_ATTR_VARIANT_PACK_WORKSPACE, CUDNN_TYPE_VOID_PTR, workspace);
  EXPECT_EQ(pack.finalize(), CUDNN_STATUS_SUCCESS);
  return cudnnBackendExecute(b.handle.get(), plan, pack.get());
}

bool bad_param(cudnnStatus_t status) {
  return CUDNN_STATUS_CATEGORY(status) == CUDNN_STATUS_BAD_PARAM;
}

class CudnnBackendGraph : public ::testing::Test {
 protected:
  void TearDown() override {
    EXPECT_EQ(take_cuda_error(), cudaSuccess) << "a test left a fault unchecked";
  }
};

TEST_F(CudnnBackendGraph, ConvBiasReluWithAsymmetricPaddingMatchesTheDefinition) {
  for (int engine : {0, 1}) {
    GraphBench b;
    Data d(b.g);
    std::int64_t workspace_bytes = -1;
    const auto plan = b.plan(engine, &workspace_bytes);
    EXPECT_EQ(workspace_bytes, engine == 1 ? b.g.k * 8 : 0) << "Note [Emulated engines]";
    DeviceFloats workspace(
        static_cast<std::size_t>(std::max<std::int64_t>(workspace_bytes / 4, 1)));
    ASSERT_EQ(execute(b, plan, {kX, kW, kBias, kY},
                      {d.dx.get(), d.dw.get(), d.dbias.get(), d.dy.get()}, workspace.get()),
              CUDNN_STATUS_SUCCESS)
        << last_cudnn_error();
    // Engine 0 carries the tensor-core note and rounds its inputs to TF32.
    EXPECT_TRUE(all_close(d.dy.download(), reference(b.g, d.x, d.w, d.bias, engine == 0)))
        << "engine " << engine;
  }
}

TEST_F(CudnnBackendGraph, OnlyTheTensorCoreEngineCarriesItsNote) {
  GraphBench b;
  const Descriptor heuristics = b.heuristics();
  std::array<Descriptor, 2> configs{Descriptor(CUDNN_BACKEND_ENGINECFG_DESCRIPTOR),
                                    Descriptor(CUDNN_BACKEND_ENGINECFG_DESCRIPTOR)};
  std::array<cudnnBackendDescriptor_t, 2> raw{configs[0].get(), configs[1].get()};
  std::int64_t count = 0;
  ASSERT_EQ(cudnnBackendGetAttribute(heuristics.get(), CUDNN_ATTR_ENGINEHEUR_RESULTS,
                                     CUDNN_TYPE_BACKEND_DESCRIPTOR, 2, &count, raw.data()),
            CUDNN_STATUS_SUCCESS);
  for (int i = 0; i < 2; ++i) {
    Descriptor engine(CUDNN_BACKEND_ENGINE_DESCRIPTOR);
    cudnnBackendDescriptor_t out = engine.get();
    ASSERT_EQ(cudnnBackendGetAttribute(raw[i], CUDNN_ATTR_ENGINECFG_ENGINE,
                                       CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &count, &out),
              CUDNN_STATUS_SUCCESS);
    std::array<cudnnBackendNumericalNote_t, CUDNN_NUMERICAL_NOTE_TYPE_COUNT> notes{};
    ASSERT_EQ(
        cudnnBackendGetAttribute(engine.get(), CUDNN_ATTR_ENGINE_NUMERICAL_NOTE,
                                 CUDNN_TYPE_NUMERICAL_NOTE, notes.size(), &count, notes.data()),
        CUDNN_STATUS_SUCCESS);
    EXPECT_EQ(count, i == 0 ? 1 : 0);
    if (i == 0) {
      EXPECT_EQ(notes[0], CUDNN_NUMERICAL_NOTE_TENSOR_CORE);
    }
  }
}

TEST_F(CudnnBackendGraph, TheHeuristicsCanBeToldToOfferNoEngine) {
  GraphBench b;
  const Descriptor heuristics = b.heuristics();
  ASSERT_EQ(setenv("KILN_CUDA_EMULATION_GRAPH_ENGINES", "0", 1), 0);
  std::int64_t count = -1;
  EXPECT_EQ(cudnnBackendGetAttribute(heuristics.get(), CUDNN_ATTR_ENGINEHEUR_RESULTS,
                                     CUDNN_TYPE_BACKEND_DESCRIPTOR, 0, &count, nullptr),
            CUDNN_STATUS_SUCCESS);
  ASSERT_EQ(unsetenv("KILN_CUDA_EMULATION_GRAPH_ENGINES"), 0);
  EXPECT_EQ(count, 0);
}

TEST_F(CudnnBackendGraph, AttributesAreStoredStrictly) {
  Descriptor t(CUDNN_BACKEND_TENSOR_DESCRIPTOR);
  const std::int64_t uid = 7;
  EXPECT_EQ(t.set(CUDNN_ATTR_TENSOR_UNIQUE_ID, CUDNN_TYPE_INT32, 1, &uid),
            CUDNN_STATUS_BAD_PARAM_ATTRIBUTE_TYPE);
  const std::array<std::int64_t, 2> two{1, 2};
  EXPECT_EQ(t.set(CUDNN_ATTR_TENSOR_UNIQUE_ID, CUDNN_TYPE_INT64, 2, two.data()),
            CUDNN_STATUS_BAD_PARAM);
  EXPECT_NE(last_cudnn_error().find("elements"), std::string::npos) << last_cudnn_error();
  EXPECT_EQ(t.set(CUDNN_ATTR_TENSOR_UNIQUE_ID, CUDNN_TYPE_INT64, 1, nullptr),
            CUDNN_STATUS_BAD_PARAM_NULL_POINTER);
  EXPECT_EQ(t.one(CUDNN_ATTR_TENSOR_VECTOR_COUNT, CUDNN_TYPE_INT64, std::int64_t{1}),
            CUDNN_STATUS_NOT_SUPPORTED)
      << "an attribute kiln does not use is not emulated";

  // A tensor without its unique id does not finalize.
  Descriptor no_uid(CUDNN_BACKEND_TENSOR_DESCRIPTOR);
  const Dims dims{1, 2, 3, 4};
  const Dims strides = nhwc_strides(dims);
  no_uid.one(CUDNN_ATTR_TENSOR_DATA_TYPE, CUDNN_TYPE_DATA_TYPE, CUDNN_DATA_FLOAT);
  no_uid.set(CUDNN_ATTR_TENSOR_DIMENSIONS, CUDNN_TYPE_INT64, 4, dims.data());
  no_uid.set(CUDNN_ATTR_TENSOR_STRIDES, CUDNN_TYPE_INT64, 4, strides.data());
  no_uid.one(CUDNN_ATTR_TENSOR_BYTE_ALIGNMENT, CUDNN_TYPE_INT64, std::int64_t{16});
  EXPECT_EQ(no_uid.finalize(), CUDNN_STATUS_BAD_PARAM);
  EXPECT_NE(last_cudnn_error().find("UNIQUE_ID"), std::string::npos) << last_cudnn_error();

  // Referencing a descriptor that is not finalized; setting one that is.
  Descriptor open = unfinalized_tensor(1, dims, strides);
  Descriptor op(CUDNN_BACKEND_OPERATION_POINTWISE_DESCRIPTOR);
  EXPECT_EQ(op.one(CUDNN_ATTR_OPERATION_POINTWISE_XDESC, CUDNN_TYPE_BACKEND_DESCRIPTOR, open.get()),
            CUDNN_STATUS_BAD_PARAM_NOT_FINALIZED);
  ASSERT_EQ(open.finalize(), CUDNN_STATUS_SUCCESS);
  EXPECT_EQ(open.one(CUDNN_ATTR_TENSOR_UNIQUE_ID, CUDNN_TYPE_INT64, std::int64_t{2}),
            CUDNN_STATUS_NOT_INITIALIZED);
  EXPECT_EQ(op.one(CUDNN_ATTR_OPERATION_POINTWISE_PW_DESCRIPTOR, CUDNN_TYPE_BACKEND_DESCRIPTOR,
                   open.get()),
            CUDNN_STATUS_BAD_PARAM_DESCRIPTOR_TYPE);
}

TEST_F(CudnnBackendGraph, StridesThatOverlapOrDisagreeAreRefused) {
  Descriptor counts(CUDNN_BACKEND_TENSOR_DESCRIPTOR);
  const Dims dims{1, 2, 3, 4};
  const std::array<std::int64_t, 3> three{12, 4, 1};
  counts.one(CUDNN_ATTR_TENSOR_DATA_TYPE, CUDNN_TYPE_DATA_TYPE, CUDNN_DATA_FLOAT);
  counts.set(CUDNN_ATTR_TENSOR_DIMENSIONS, CUDNN_TYPE_INT64, 4, dims.data());
  counts.set(CUDNN_ATTR_TENSOR_STRIDES, CUDNN_TYPE_INT64, 3, three.data());
  counts.one(CUDNN_ATTR_TENSOR_UNIQUE_ID, CUDNN_TYPE_INT64, std::int64_t{1});
  counts.one(CUDNN_ATTR_TENSOR_BYTE_ALIGNMENT, CUDNN_TYPE_INT64, std::int64_t{16});
  EXPECT_EQ(counts.finalize(), CUDNN_STATUS_BAD_PARAM);

  GraphBench b;
  b.x_strides = {b.g.h * b.g.w * b.g.c, 1, b.g.c, 1};  // w and c overlap
  cudnnStatus_t status = CUDNN_STATUS_SUCCESS;
  b.graph(&status);
  EXPECT_EQ(status, CUDNN_STATUS_BAD_PARAM);
  EXPECT_NE(last_cudnn_error().find("overlap"), std::string::npos) << last_cudnn_error();
}

TEST_F(CudnnBackendGraph, AnOutputOfTheWrongShapeIsRefused) {
  GraphBench b;
  const Dims wrong{b.g.n, b.g.k, b.g.oh() + 1, b.g.ow()};
  Descriptor forward(CUDNN_BACKEND_OPERATION_CONVOLUTION_FORWARD_DESCRIPTOR);
  const auto t = CUDNN_TYPE_BACKEND_DESCRIPTOR;
  forward.one(CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_CONV_DESC, t, b.convolution());
  forward.one(CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_X, t,
              b.keep(tensor(kX, b.x_dims, nhwc_strides(b.x_dims))));
  forward.one(CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_W, t,
              b.keep(tensor(kW, b.w_dims, nhwc_strides(b.w_dims))));
  forward.one(CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_Y, t,
              b.keep(tensor(kY, wrong, nhwc_strides(wrong))));
  EXPECT_EQ(forward.finalize(), CUDNN_STATUS_BAD_PARAM_SHAPE_MISMATCH) << last_cudnn_error();
}

TEST_F(CudnnBackendGraph, ExecuteChecksTheVariantPack) {
  GraphBench b;
  Data d(b.g);
  std::int64_t workspace_bytes = 0;
  const auto plan = b.plan(1, &workspace_bytes);
  DeviceFloats workspace(static_cast<std::size_t>(workspace_bytes / 4));

  EXPECT_TRUE(bad_param(
      execute(b, plan, {kX, kW, kY}, {d.dx.get(), d.dw.get(), d.dy.get()}, workspace.get())))
      << "no pointer for the bias";
  EXPECT_NE(last_cudnn_error().find("non-virtual"), std::string::npos) << last_cudnn_error();

  DeviceFloats shifted(d.x.size() + 1);
  EXPECT_EQ(execute(b, plan, {kX, kW, kBias, kY},
                    {shifted.get() + 1, d.dw.get(), d.dbias.get(), d.dy.get()}, workspace.get()),
            CUDNN_STATUS_BAD_PARAM_MISALIGNED_POINTER)
      << "x is promised 16-byte alignment";

  EXPECT_EQ(execute(b, plan, {kX, kW, kBias, kY},
                    {d.dx.get(), d.dw.get(), d.dbias.get(), d.dy.get()}, nullptr),
            CUDNN_STATUS_BAD_PARAM)
      << "engine 1 needs its workspace";
  EXPECT_NE(take_cuda_error(), cudaSuccess) << "a NULL workspace is a fault too";

  EXPECT_EQ(execute(b, plan, {kX, kW, kBias, kY},
                    {d.dx.get(), d.dw.get(), d.dbias.get(), d.dx.get()}, workspace.get()),
            CUDNN_STATUS_BAD_PARAM)
      << "y over x";
  EXPECT_TRUE(all_bytes_ff(d.dy.download())) << "nothing ran";
}

}  // namespace
}  // namespace kiln::emu_test
