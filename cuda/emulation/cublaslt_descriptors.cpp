// Stands in for cuBLASLt's handle and descriptors: cublasLtCreate / Destroy,
// cublasLtMatmulDesc{Create,Destroy,SetAttribute,GetAttribute},
// cublasLtMatrixLayout{Create,Destroy,SetAttribute,GetAttribute} and
// cublasLtMatmulPreference{Create,Destroy,SetAttribute}. As documented, an attribute's buffer
// must be exactly the attribute's size (INVALID_VALUE otherwise), and a Get with sizeInBytes 0
// answers the size in *sizeWritten. A value that is no enumerant of its type is INVALID_VALUE; a
// valid one the stand-in does not emulate (a row-major or tiled order, batches, an unmodelled
// attribute) is NOT_SUPPORTED at once; types, the pointer mode and epilogues are checked when a
// heuristic query or a matmul uses the descriptor, as cuBLASLt does (cublaslt_problem.cpp).
#include <fmt/format.h>

#include <cstring>
#include <string>

#include "cublaslt_objects.h"

namespace kiln::emu::cublaslt {

namespace {

using cublas::run_cublas;

template <class T>
T attribute_value(const char* attribute, const void* buf, std::size_t size) {
  require_value(buf != nullptr, fmt::format("buf is NULL (setting {})", attribute));
  require_value(size == sizeof(T),
                fmt::format("sizeInBytes {} for {}, whose size is {}", size, attribute, sizeof(T)));
  T value;
  std::memcpy(&value, buf, sizeof(T));
  return value;
}

template <class T>
void write_attribute(const char* attribute, const T& value, void* buf, std::size_t size,
                     std::size_t* written) {
  if (size == 0) {
    require_value(written != nullptr, "sizeInBytes is 0 and sizeWritten is NULL");
    *written = sizeof(T);
    return;
  }
  require_value(buf != nullptr, fmt::format("buf is NULL (getting {})", attribute));
  require_value(size == sizeof(T),
                fmt::format("sizeInBytes {} for {}, whose size is {}", size, attribute, sizeof(T)));
  std::memcpy(buf, &value, sizeof(T));
  if (written != nullptr) *written = sizeof(T);
}

[[noreturn]] void not_emulated(const char* kind, int attribute) {
  throw cublas::CublasFailure{CUBLAS_STATUS_NOT_SUPPORTED,
                              fmt::format("{} attribute {} is not emulated", kind, attribute)};
}

bool is_operation(int32_t op) {
  return op == CUBLAS_OP_N || op == CUBLAS_OP_T || op == CUBLAS_OP_C;
}

bool is_epilogue(uint32_t e) {
  switch (e) {
    case CUBLASLT_EPILOGUE_DEFAULT:
    case CUBLASLT_EPILOGUE_RELU:
    case CUBLASLT_EPILOGUE_RELU_AUX:
    case CUBLASLT_EPILOGUE_BIAS:
    case CUBLASLT_EPILOGUE_RELU_BIAS:
    case CUBLASLT_EPILOGUE_RELU_AUX_BIAS:
    case CUBLASLT_EPILOGUE_DRELU:
    case CUBLASLT_EPILOGUE_DRELU_BGRAD:
    case CUBLASLT_EPILOGUE_GELU:
    case CUBLASLT_EPILOGUE_GELU_AUX:
    case CUBLASLT_EPILOGUE_GELU_BIAS:
    case CUBLASLT_EPILOGUE_GELU_AUX_BIAS:
    case CUBLASLT_EPILOGUE_DGELU:
    case CUBLASLT_EPILOGUE_DGELU_BGRAD:
    case CUBLASLT_EPILOGUE_BGRADA:
    case CUBLASLT_EPILOGUE_BGRADB: return true;
    default: return false;
  }
}

void set_desc(MatmulDesc& d, cublasLtMatmulDescAttributes_t attr, const void* buf,
              std::size_t size) {
  switch (attr) {
    case CUBLASLT_MATMUL_DESC_COMPUTE_TYPE:
      d.compute_type = attribute_value<int32_t>("COMPUTE_TYPE", buf, size);
      return;
    case CUBLASLT_MATMUL_DESC_SCALE_TYPE:
      d.scale_type = attribute_value<int32_t>("SCALE_TYPE", buf, size);
      return;
    case CUBLASLT_MATMUL_DESC_POINTER_MODE: {
      const auto mode = attribute_value<int32_t>("POINTER_MODE", buf, size);
      require_value(mode >= CUBLASLT_POINTER_MODE_HOST &&
                        mode <= CUBLASLT_POINTER_MODE_ALPHA_DEVICE_VECTOR_BETA_HOST,
                    fmt::format("POINTER_MODE {} is not a cublasLtPointerMode_t", mode));
      d.pointer_mode = mode;
      return;
    }
    case CUBLASLT_MATMUL_DESC_TRANSA:
    case CUBLASLT_MATMUL_DESC_TRANSB: {
      const auto op = attribute_value<int32_t>("TRANSA / TRANSB", buf, size);
      require_value(is_operation(op), fmt::format("TRANSA / TRANSB {} is not N, T or C", op));
      (attr == CUBLASLT_MATMUL_DESC_TRANSA ? d.transa : d.transb) = op;
      return;
    }
    case CUBLASLT_MATMUL_DESC_EPILOGUE: {
      const auto epilogue = attribute_value<uint32_t>("EPILOGUE", buf, size);
      require_value(is_epilogue(epilogue),
                    fmt::format("EPILOGUE {} is not a cublasLtEpilogue_t", epilogue));
      d.epilogue = epilogue;
      return;
    }
    case CUBLASLT_MATMUL_DESC_BIAS_POINTER:
      d.bias = attribute_value<const void*>("BIAS_POINTER", buf, size);
      return;
    case CUBLASLT_MATMUL_DESC_BIAS_DATA_TYPE:
      d.bias_type = attribute_value<int32_t>("BIAS_DATA_TYPE", buf, size);
      return;
    case CUBLASLT_MATMUL_DESC_EPILOGUE_AUX_POINTER:
      d.aux = attribute_value<void*>("EPILOGUE_AUX_POINTER", buf, size);
      return;
    case CUBLASLT_MATMUL_DESC_EPILOGUE_AUX_LD:
      d.aux_ld = attribute_value<int64_t>("EPILOGUE_AUX_LD", buf, size);
      return;
    default: not_emulated("matmul descriptor", attr);
  }
}

void get_desc(const MatmulDesc& d, cublasLtMatmulDescAttributes_t attr, void* buf, std::size_t size,
              std::size_t* written) {
  switch (attr) {
    case CUBLASLT_MATMUL_DESC_COMPUTE_TYPE:
      return write_attribute("COMPUTE_TYPE", d.compute_type, buf, size, written);
    case CUBLASLT_MATMUL_DESC_SCALE_TYPE:
      return write_attribute("SCALE_TYPE", d.scale_type, buf, size, written);
    case CUBLASLT_MATMUL_DESC_POINTER_MODE:
      return write_attribute("POINTER_MODE", d.pointer_mode, buf, size, written);
    case CUBLASLT_MATMUL_DESC_TRANSA:
      return write_attribute("TRANSA", d.transa, buf, size, written);
    case CUBLASLT_MATMUL_DESC_TRANSB:
      return write_attribute("TRANSB", d.transb, buf, size, written);
    case CUBLASLT_MATMUL_DESC_EPILOGUE:
      return write_attribute("EPILOGUE", d.epilogue, buf, size, written);
    case CUBLASLT_MATMUL_DESC_BIAS_POINTER:
      return write_attribute("BIAS_POINTER", d.bias, buf, size, written);
    case CUBLASLT_MATMUL_DESC_BIAS_DATA_TYPE:
      return write_attribute("BIAS_DATA_TYPE", d.bias_type, buf, size, written);
    case CUBLASLT_MATMUL_DESC_EPILOGUE_AUX_POINTER:
      return write_attribute("EPILOGUE_AUX_POINTER", d.aux, buf, size, written);
    case CUBLASLT_MATMUL_DESC_EPILOGUE_AUX_LD:
      return write_attribute("EPILOGUE_AUX_LD", d.aux_ld, buf, size, written);
    default: not_emulated("matmul descriptor", attr);
  }
}

void set_order(Layout& l, const void* buf, std::size_t size) {
  const auto order = attribute_value<int32_t>("ORDER", buf, size);
  require_value(order >= CUBLASLT_ORDER_COL && order <= CUBLASLT_ORDER_COL32_2R_4R4,
                fmt::format("ORDER {} is not a cublasLtOrder_t", order));
  require_supported(order == CUBLASLT_ORDER_COL,
                    fmt::format("ORDER {}: the emulation has only CUBLASLT_ORDER_COL", order));
  l.order = order;
}

void set_batch_count(Layout& l, const void* buf, std::size_t size) {
  const auto count = attribute_value<int32_t>("BATCH_COUNT", buf, size);
  require_value(count >= 1, fmt::format("BATCH_COUNT {} is less than 1", count));
  require_supported(count == 1, fmt::format("BATCH_COUNT {}: batches are not emulated", count));
  l.batch_count = count;
}

void set_layout(Layout& l, cublasLtMatrixLayoutAttribute_t attr, const void* buf,
                std::size_t size) {
  switch (attr) {
    case CUBLASLT_MATRIX_LAYOUT_TYPE: l.type = attribute_value<uint32_t>("TYPE", buf, size); return;
    case CUBLASLT_MATRIX_LAYOUT_ORDER: return set_order(l, buf, size);
    case CUBLASLT_MATRIX_LAYOUT_ROWS: l.rows = attribute_value<uint64_t>("ROWS", buf, size); return;
    case CUBLASLT_MATRIX_LAYOUT_COLS: l.cols = attribute_value<uint64_t>("COLS", buf, size); return;
    case CUBLASLT_MATRIX_LAYOUT_LD: l.ld = attribute_value<int64_t>("LD", buf, size); return;
    case CUBLASLT_MATRIX_LAYOUT_BATCH_COUNT: return set_batch_count(l, buf, size);
    case CUBLASLT_MATRIX_LAYOUT_STRIDED_BATCH_OFFSET:
      l.batch_stride = attribute_value<int64_t>("STRIDED_BATCH_OFFSET", buf, size);
      return;
    case CUBLASLT_MATRIX_LAYOUT_PLANE_OFFSET:
      require_supported(attribute_value<int64_t>("PLANE_OFFSET", buf, size) == 0,
                        "PLANE_OFFSET: planar complex layouts are not emulated");
      return;
    default: not_emulated("matrix layout", attr);
  }
}

void get_layout(const Layout& l, cublasLtMatrixLayoutAttribute_t attr, void* buf, std::size_t size,
                std::size_t* written) {
  switch (attr) {
    case CUBLASLT_MATRIX_LAYOUT_TYPE: return write_attribute("TYPE", l.type, buf, size, written);
    case CUBLASLT_MATRIX_LAYOUT_ORDER: return write_attribute("ORDER", l.order, buf, size, written);
    case CUBLASLT_MATRIX_LAYOUT_ROWS: return write_attribute("ROWS", l.rows, buf, size, written);
    case CUBLASLT_MATRIX_LAYOUT_COLS: return write_attribute("COLS", l.cols, buf, size, written);
    case CUBLASLT_MATRIX_LAYOUT_LD: return write_attribute("LD", l.ld, buf, size, written);
    case CUBLASLT_MATRIX_LAYOUT_BATCH_COUNT:
      return write_attribute("BATCH_COUNT", l.batch_count, buf, size, written);
    case CUBLASLT_MATRIX_LAYOUT_STRIDED_BATCH_OFFSET:
      return write_attribute("STRIDED_BATCH_OFFSET", l.batch_stride, buf, size, written);
    default: not_emulated("matrix layout", attr);
  }
}

void set_preference(Preference& p, cublasLtMatmulPreferenceAttributes_t attr, const void* buf,
                    std::size_t size) {
  switch (attr) {
    case CUBLASLT_MATMUL_PREF_SEARCH_MODE: {
      const auto mode = attribute_value<uint32_t>("SEARCH_MODE", buf, size);
      require_value(mode <= CUBLASLT_SEARCH_RESERVED_09,
                    fmt::format("SEARCH_MODE {} is not a cublasLtMatmulSearch_t", mode));
      require_supported(
          mode == CUBLASLT_SEARCH_BEST_FIT,
          fmt::format("SEARCH_MODE {}: only CUBLASLT_SEARCH_BEST_FIT is emulated", mode));
      p.search_mode = mode;
      return;
    }
    case CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES:
      p.max_workspace = attribute_value<uint64_t>("MAX_WORKSPACE_BYTES", buf, size);
      return;
    case CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES:
    case CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES:
    case CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES:
    case CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES:
      p.min_alignment[attr - CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES] =
          attribute_value<uint32_t>("MIN_ALIGNMENT_*_BYTES", buf, size);
      return;
    default: not_emulated("matmul preference", attr);
  }
}

template <class Object, class Handle>
cublasStatus_t create(const char* call, Handle* handle) {
  return run_cublas(call, [&] {
    require_value(handle != nullptr, "the descriptor pointer is NULL");
    *handle = &registry<Object>().create()->opaque;
  });
}

// Destroying NULL does nothing; a descriptor destroyed already is INVALID_VALUE.
template <class Object, class Handle>
cublasStatus_t destroy(const char* call, Handle handle) {
  return run_cublas(call, [&] {
    if (handle == nullptr) return;
    require_value(registry<Object>().destroy(reinterpret_cast<Object*>(handle)),
                  "the descriptor is not live (destroyed twice, or never created)");
  });
}

template <class Object, class Handle>
Object& live(const char* name, Handle handle) {
  auto* object = reinterpret_cast<Object*>(handle);
  require_value(handle != nullptr, fmt::format("{} is NULL", name));
  require_value(registry<Object>().is_live(object),
                fmt::format("{} is not a live descriptor (destroyed, or never created)", name));
  return *object;
}

}  // namespace

cublasLtContext& live_handle(cublasLtHandle_t handle) {
  require(handle != nullptr && registry<cublasLtContext>().is_live(handle),
          CUBLAS_STATUS_NOT_INITIALIZED,
          "lightHandle is not a live cuBLASLt handle (NULL, destroyed, or never created)");
  return *handle;
}

MatmulDesc& live_desc(const char* name, cublasLtMatmulDesc_t handle) {
  return live<MatmulDescObject>(name, handle).desc;
}

Layout& live_layout(const char* name, cublasLtMatrixLayout_t handle) {
  return live<LayoutObject>(name, handle).layout;
}

Preference& live_preference(const char* name, cublasLtMatmulPreference_t handle) {
  return live<PreferenceObject>(name, handle).preference;
}

}  // namespace kiln::emu::cublaslt

using namespace kiln::emu::cublaslt;
using kiln::emu::cublas::run_cublas;

cublasStatus_t cublasLtCreate(cublasLtHandle_t* lightHandle) {
  return run_cublas("cublasLtCreate", [&] {
    require_value(lightHandle != nullptr, "lightHandle is NULL");
    *lightHandle = registry<cublasLtContext>().create();
  });
}

cublasStatus_t cublasLtDestroy(cublasLtHandle_t lightHandle) {
  return run_cublas("cublasLtDestroy",
                    [&] { registry<cublasLtContext>().destroy(&live_handle(lightHandle)); });
}

cublasStatus_t cublasLtMatmulDescCreate(cublasLtMatmulDesc_t* matmulDesc,
                                        cublasComputeType_t computeType, cudaDataType_t scaleType) {
  const cublasStatus_t status = create<MatmulDescObject>("cublasLtMatmulDescCreate", matmulDesc);
  if (status == CUBLAS_STATUS_SUCCESS) {
    MatmulDesc& desc = reinterpret_cast<MatmulDescObject*>(*matmulDesc)->desc;
    desc.compute_type = computeType;
    desc.scale_type = scaleType;
  }
  return status;
}

cublasStatus_t cublasLtMatmulDescDestroy(cublasLtMatmulDesc_t matmulDesc) {
  return destroy<MatmulDescObject>("cublasLtMatmulDescDestroy", matmulDesc);
}

cublasStatus_t cublasLtMatmulDescSetAttribute(cublasLtMatmulDesc_t matmulDesc,
                                              cublasLtMatmulDescAttributes_t attr, const void* buf,
                                              size_t sizeInBytes) {
  return run_cublas("cublasLtMatmulDescSetAttribute",
                    [&] { set_desc(live_desc("matmulDesc", matmulDesc), attr, buf, sizeInBytes); });
}

cublasStatus_t cublasLtMatmulDescGetAttribute(cublasLtMatmulDesc_t matmulDesc,
                                              cublasLtMatmulDescAttributes_t attr, void* buf,
                                              size_t sizeInBytes, size_t* sizeWritten) {
  return run_cublas("cublasLtMatmulDescGetAttribute", [&] {
    get_desc(live_desc("matmulDesc", matmulDesc), attr, buf, sizeInBytes, sizeWritten);
  });
}

cublasStatus_t cublasLtMatrixLayoutCreate(cublasLtMatrixLayout_t* matLayout, cudaDataType type,
                                          uint64_t rows, uint64_t cols, int64_t ld) {
  const cublasStatus_t status = create<LayoutObject>("cublasLtMatrixLayoutCreate", matLayout);
  if (status == CUBLAS_STATUS_SUCCESS) {
    Layout& layout = reinterpret_cast<LayoutObject*>(*matLayout)->layout;
    layout.type = type;
    layout.rows = rows;
    layout.cols = cols;
    layout.ld = ld;
  }
  return status;
}

cublasStatus_t cublasLtMatrixLayoutDestroy(cublasLtMatrixLayout_t matLayout) {
  return destroy<LayoutObject>("cublasLtMatrixLayoutDestroy", matLayout);
}

cublasStatus_t cublasLtMatrixLayoutSetAttribute(cublasLtMatrixLayout_t matLayout,
                                                cublasLtMatrixLayoutAttribute_t attr,
                                                const void* buf, size_t sizeInBytes) {
  return run_cublas("cublasLtMatrixLayoutSetAttribute", [&] {
    set_layout(live_layout("matLayout", matLayout), attr, buf, sizeInBytes);
  });
}

cublasStatus_t cublasLtMatrixLayoutGetAttribute(cublasLtMatrixLayout_t matLayout,
                                                cublasLtMatrixLayoutAttribute_t attr, void* buf,
                                                size_t sizeInBytes, size_t* sizeWritten) {
  return run_cublas("cublasLtMatrixLayoutGetAttribute", [&] {
    get_layout(live_layout("matLayout", matLayout), attr, buf, sizeInBytes, sizeWritten);
  });
}

cublasStatus_t cublasLtMatmulPreferenceCreate(cublasLtMatmulPreference_t* pref) {
  return create<PreferenceObject>("cublasLtMatmulPreferenceCreate", pref);
}

cublasStatus_t cublasLtMatmulPreferenceDestroy(cublasLtMatmulPreference_t pref) {
  return destroy<PreferenceObject>("cublasLtMatmulPreferenceDestroy", pref);
}

cublasStatus_t cublasLtMatmulPreferenceSetAttribute(cublasLtMatmulPreference_t pref,
                                                    cublasLtMatmulPreferenceAttributes_t attr,
                                                    const void* buf, size_t sizeInBytes) {
  return run_cublas("cublasLtMatmulPreferenceSetAttribute",
                    [&] { set_preference(live_preference("pref", pref), attr, buf, sizeInBytes); });
}
