// Stands in for cudnnBackendCreateDescriptor, cudnnBackendDestroyDescriptor,
// cudnnBackendSetAttribute, cudnnBackendGetAttribute and cudnnBackendFinalize (whose checks live
// in cudnn_backend_finalize.cpp).
//
// Note [Backend attributes]
// ~~~~~~~~~~~~~~~~~~~~~~~~~
// Each (descriptor type, attribute) pair kiln uses is listed with the attribute type cuDNN's
// documentation gives it and the element counts it allows. cudnnBackendSetAttribute refuses
// what cuDNN refuses: a NULL or destroyed descriptor (BAD_PARAM), a finalized one
// (NOT_INITIALIZED, as documented), another attribute type (BAD_PARAM_ATTRIBUTE_TYPE), a count
// outside the allowed range or a NULL array (BAD_PARAM), a referenced descriptor that is
// destroyed, of the wrong type (BAD_PARAM_DESCRIPTOR_TYPE) or not finalized
// (BAD_PARAM_NOT_FINALIZED). cuDNN copies a referenced descriptor's content when it is set, so
// the stand-in keeps a snapshot. A pair that is no part of the table — a real cuDNN attribute kiln
// does not use, or one that is only read (heuristics results, workspace size) — is
// NOT_SUPPORTED: never a guess. cudnnBackendGetAttribute answers only the read-only attributes
// kiln reads, on a finalized descriptor (BAD_PARAM_NOT_FINALIZED otherwise).
#include <cudnn.h>

#include <algorithm>
#include <cstring>
#include <string>

#include "cudnn_backend.h"

namespace kiln::emu::cudnn {

namespace {

struct AttributeRule {
  cudnnBackendDescriptorType_t descriptor;
  cudnnBackendAttributeName_t name;
  cudnnBackendAttributeType_t type;
  std::int64_t min_count, max_count;
  // For CUDNN_TYPE_BACKEND_DESCRIPTOR: the referenced descriptors' types (one or two).
  cudnnBackendDescriptorType_t referenced = CUDNN_BACKEND_TENSOR_DESCRIPTOR;
  cudnnBackendDescriptorType_t referenced_too = CUDNN_BACKEND_TENSOR_DESCRIPTOR;
};

constexpr std::int64_t kMany = 64;

const AttributeRule kRules[] = {
    {CUDNN_BACKEND_TENSOR_DESCRIPTOR, CUDNN_ATTR_TENSOR_DATA_TYPE, CUDNN_TYPE_DATA_TYPE, 1, 1},
    {CUDNN_BACKEND_TENSOR_DESCRIPTOR, CUDNN_ATTR_TENSOR_DIMENSIONS, CUDNN_TYPE_INT64, 1, 8},
    {CUDNN_BACKEND_TENSOR_DESCRIPTOR, CUDNN_ATTR_TENSOR_STRIDES, CUDNN_TYPE_INT64, 1, 8},
    {CUDNN_BACKEND_TENSOR_DESCRIPTOR, CUDNN_ATTR_TENSOR_UNIQUE_ID, CUDNN_TYPE_INT64, 1, 1},
    {CUDNN_BACKEND_TENSOR_DESCRIPTOR, CUDNN_ATTR_TENSOR_BYTE_ALIGNMENT, CUDNN_TYPE_INT64, 1, 1},
    {CUDNN_BACKEND_TENSOR_DESCRIPTOR, CUDNN_ATTR_TENSOR_IS_VIRTUAL, CUDNN_TYPE_BOOLEAN, 1, 1},
    {CUDNN_BACKEND_CONVOLUTION_DESCRIPTOR, CUDNN_ATTR_CONVOLUTION_COMP_TYPE, CUDNN_TYPE_DATA_TYPE,
     1, 1},
    {CUDNN_BACKEND_CONVOLUTION_DESCRIPTOR, CUDNN_ATTR_CONVOLUTION_CONV_MODE,
     CUDNN_TYPE_CONVOLUTION_MODE, 1, 1},
    {CUDNN_BACKEND_CONVOLUTION_DESCRIPTOR, CUDNN_ATTR_CONVOLUTION_SPATIAL_DIMS, CUDNN_TYPE_INT64, 1,
     1},
    {CUDNN_BACKEND_CONVOLUTION_DESCRIPTOR, CUDNN_ATTR_CONVOLUTION_DILATIONS, CUDNN_TYPE_INT64, 1,
     3},
    {CUDNN_BACKEND_CONVOLUTION_DESCRIPTOR, CUDNN_ATTR_CONVOLUTION_FILTER_STRIDES, CUDNN_TYPE_INT64,
     1, 3},
    {CUDNN_BACKEND_CONVOLUTION_DESCRIPTOR, CUDNN_ATTR_CONVOLUTION_PRE_PADDINGS, CUDNN_TYPE_INT64, 1,
     3},
    {CUDNN_BACKEND_CONVOLUTION_DESCRIPTOR, CUDNN_ATTR_CONVOLUTION_POST_PADDINGS, CUDNN_TYPE_INT64,
     1, 3},
    {CUDNN_BACKEND_POINTWISE_DESCRIPTOR, CUDNN_ATTR_POINTWISE_MODE, CUDNN_TYPE_POINTWISE_MODE, 1,
     1},
    {CUDNN_BACKEND_POINTWISE_DESCRIPTOR, CUDNN_ATTR_POINTWISE_MATH_PREC, CUDNN_TYPE_DATA_TYPE, 1,
     1},
    {CUDNN_BACKEND_OPERATION_CONVOLUTION_FORWARD_DESCRIPTOR,
     CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_CONV_DESC, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, 1,
     CUDNN_BACKEND_CONVOLUTION_DESCRIPTOR, CUDNN_BACKEND_CONVOLUTION_DESCRIPTOR},
    {CUDNN_BACKEND_OPERATION_CONVOLUTION_FORWARD_DESCRIPTOR,
     CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_X, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, 1},
    {CUDNN_BACKEND_OPERATION_CONVOLUTION_FORWARD_DESCRIPTOR,
     CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_W, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, 1},
    {CUDNN_BACKEND_OPERATION_CONVOLUTION_FORWARD_DESCRIPTOR,
     CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_Y, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, 1},
    {CUDNN_BACKEND_OPERATION_CONVOLUTION_FORWARD_DESCRIPTOR,
     CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_ALPHA, CUDNN_TYPE_FLOAT, 1, 1},
    {CUDNN_BACKEND_OPERATION_CONVOLUTION_FORWARD_DESCRIPTOR,
     CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_BETA, CUDNN_TYPE_FLOAT, 1, 1},
    {CUDNN_BACKEND_OPERATION_POINTWISE_DESCRIPTOR, CUDNN_ATTR_OPERATION_POINTWISE_PW_DESCRIPTOR,
     CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, 1, CUDNN_BACKEND_POINTWISE_DESCRIPTOR,
     CUDNN_BACKEND_POINTWISE_DESCRIPTOR},
    {CUDNN_BACKEND_OPERATION_POINTWISE_DESCRIPTOR, CUDNN_ATTR_OPERATION_POINTWISE_XDESC,
     CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, 1},
    {CUDNN_BACKEND_OPERATION_POINTWISE_DESCRIPTOR, CUDNN_ATTR_OPERATION_POINTWISE_BDESC,
     CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, 1},
    {CUDNN_BACKEND_OPERATION_POINTWISE_DESCRIPTOR, CUDNN_ATTR_OPERATION_POINTWISE_YDESC,
     CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, 1},
    {CUDNN_BACKEND_OPERATIONGRAPH_DESCRIPTOR, CUDNN_ATTR_OPERATIONGRAPH_HANDLE, CUDNN_TYPE_HANDLE,
     1, 1},
    {CUDNN_BACKEND_OPERATIONGRAPH_DESCRIPTOR, CUDNN_ATTR_OPERATIONGRAPH_OPS,
     CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, kMany,
     CUDNN_BACKEND_OPERATION_CONVOLUTION_FORWARD_DESCRIPTOR,
     CUDNN_BACKEND_OPERATION_POINTWISE_DESCRIPTOR},
    {CUDNN_BACKEND_ENGINEHEUR_DESCRIPTOR, CUDNN_ATTR_ENGINEHEUR_OPERATION_GRAPH,
     CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, 1, CUDNN_BACKEND_OPERATIONGRAPH_DESCRIPTOR,
     CUDNN_BACKEND_OPERATIONGRAPH_DESCRIPTOR},
    {CUDNN_BACKEND_ENGINEHEUR_DESCRIPTOR, CUDNN_ATTR_ENGINEHEUR_MODE, CUDNN_TYPE_HEUR_MODE, 1, 1},
    {CUDNN_BACKEND_EXECUTION_PLAN_DESCRIPTOR, CUDNN_ATTR_EXECUTION_PLAN_HANDLE, CUDNN_TYPE_HANDLE,
     1, 1},
    {CUDNN_BACKEND_EXECUTION_PLAN_DESCRIPTOR, CUDNN_ATTR_EXECUTION_PLAN_ENGINE_CONFIG,
     CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, 1, CUDNN_BACKEND_ENGINECFG_DESCRIPTOR,
     CUDNN_BACKEND_ENGINECFG_DESCRIPTOR},
    {CUDNN_BACKEND_VARIANT_PACK_DESCRIPTOR, CUDNN_ATTR_VARIANT_PACK_UNIQUE_IDS, CUDNN_TYPE_INT64, 0,
     kMany},
    {CUDNN_BACKEND_VARIANT_PACK_DESCRIPTOR, CUDNN_ATTR_VARIANT_PACK_DATA_POINTERS,
     CUDNN_TYPE_VOID_PTR, 0, kMany},
    {CUDNN_BACKEND_VARIANT_PACK_DESCRIPTOR, CUDNN_ATTR_VARIANT_PACK_WORKSPACE, CUDNN_TYPE_VOID_PTR,
     1, 1},
};

const AttributeRule* rule_for(cudnnBackendDescriptorType_t type, cudnnBackendAttributeName_t name) {
  for (const AttributeRule& rule : kRules) {
    if (rule.descriptor == type && rule.name == name) return &rule;
  }
  return nullptr;
}

std::size_t element_size(cudnnBackendAttributeType_t type) {
  switch (type) {
    case CUDNN_TYPE_HANDLE: return sizeof(cudnnHandle_t);
    case CUDNN_TYPE_DATA_TYPE: return sizeof(cudnnDataType_t);
    case CUDNN_TYPE_BOOLEAN: return sizeof(bool);
    case CUDNN_TYPE_INT64: return sizeof(std::int64_t);
    case CUDNN_TYPE_FLOAT: return sizeof(float);
    case CUDNN_TYPE_DOUBLE: return sizeof(double);
    case CUDNN_TYPE_VOID_PTR: return sizeof(void*);
    case CUDNN_TYPE_CONVOLUTION_MODE: return sizeof(cudnnConvolutionMode_t);
    case CUDNN_TYPE_HEUR_MODE: return sizeof(cudnnBackendHeurMode_t);
    case CUDNN_TYPE_POINTWISE_MODE: return sizeof(cudnnPointwiseMode_t);
    case CUDNN_TYPE_BACKEND_DESCRIPTOR: return sizeof(cudnnBackendDescriptor_t);
    case CUDNN_TYPE_NUMERICAL_NOTE: return sizeof(cudnnBackendNumericalNote_t);
    default: return 0;
  }
}

std::string attribute_text(cudnnBackendAttributeName_t name) {
  return "attribute " + std::to_string(static_cast<int>(name));
}

// Alpha and beta may be given as float or double (cuDNN's documentation).
bool type_accepted(const AttributeRule& rule, cudnnBackendAttributeType_t type) {
  if (type == rule.type) return true;
  return rule.type == CUDNN_TYPE_FLOAT && type == CUDNN_TYPE_DOUBLE;
}

std::shared_ptr<const BackendDescriptor> referenced_snapshot(const AttributeRule& rule,
                                                             cudnnBackendDescriptor_t element) {
  const BackendDescriptor& ref = live_backend("a referenced descriptor", element);
  require(ref.type == rule.referenced || ref.type == rule.referenced_too,
          CUDNN_STATUS_BAD_PARAM_DESCRIPTOR_TYPE,
          attribute_text(rule.name) + " references a descriptor of type " +
              std::to_string(static_cast<int>(ref.type)));
  require(ref.finalized, CUDNN_STATUS_BAD_PARAM_NOT_FINALIZED,
          attribute_text(rule.name) + " references a descriptor that is not finalized");
  return std::make_shared<const BackendDescriptor>(ref);
}

void set_attribute(BackendDescriptor& d, cudnnBackendAttributeName_t name,
                   cudnnBackendAttributeType_t type, std::int64_t count, const void* elements) {
  require(!d.finalized, CUDNN_STATUS_NOT_INITIALIZED,
          "the descriptor is finalized; its attributes can no longer be set");
  const AttributeRule* rule = rule_for(d.type, name);
  require_supported(rule != nullptr, attribute_text(name) + " of descriptor type " +
                                         std::to_string(static_cast<int>(d.type)) +
                                         " is not emulated (Note [Backend attributes])");
  require(type_accepted(*rule, type), CUDNN_STATUS_BAD_PARAM_ATTRIBUTE_TYPE,
          attribute_text(name) + " takes attribute type " +
              std::to_string(static_cast<int>(rule->type)) + ", not " +
              std::to_string(static_cast<int>(type)));
  require_param(count >= rule->min_count && count <= rule->max_count,
                attribute_text(name) + " takes " + std::to_string(rule->min_count) + " to " +
                    std::to_string(rule->max_count) + " elements, not " + std::to_string(count));
  require(count == 0 || elements != nullptr, CUDNN_STATUS_BAD_PARAM_NULL_POINTER,
          "arrayOfElements is NULL");
  StoredAttribute stored;
  stored.type = type;
  stored.count = count;
  const auto* first = static_cast<const unsigned char*>(elements);
  stored.bytes.assign(first, first + count * element_size(type));
  if (type == CUDNN_TYPE_BACKEND_DESCRIPTOR) {
    const auto* refs = static_cast<const cudnnBackendDescriptor_t*>(elements);
    for (std::int64_t i = 0; i < count; ++i) {
      stored.descriptors.push_back(referenced_snapshot(*rule, refs[i]));
    }
  }
  d.attributes[name] = std::move(stored);
}

// Fills a user-created descriptor of `type` (live, not finalized) from `source`.
void fill_created(cudnnBackendDescriptor_t element, cudnnBackendDescriptorType_t type,
                  const BackendDescriptor& source, int engine) {
  BackendDescriptor& out = live_backend("an element of arrayOfElements", element);
  require(out.type == type, CUDNN_STATUS_BAD_PARAM_DESCRIPTOR_TYPE,
          "an element of arrayOfElements is a descriptor of type " +
              std::to_string(static_cast<int>(out.type)) + ", not " +
              std::to_string(static_cast<int>(type)));
  out.graph = source.graph;
  out.engine = engine;
  out.finalized = true;
}

struct GetRequest {
  cudnnBackendAttributeType_t type;
  std::int64_t requested;
  std::int64_t* count;
  void* elements;
};

void require_get_type(const GetRequest& r, cudnnBackendAttributeType_t type) {
  require(r.type == type, CUDNN_STATUS_BAD_PARAM_ATTRIBUTE_TYPE,
          "the attribute has type " + std::to_string(static_cast<int>(type)) + ", not " +
              std::to_string(static_cast<int>(r.type)));
  require(r.requested == 0 || r.elements != nullptr, CUDNN_STATUS_BAD_PARAM_NULL_POINTER,
          "arrayOfElements is NULL");
}

void get_attribute(const BackendDescriptor& d, cudnnBackendAttributeName_t name,
                   const GetRequest& r) {
  require(r.count != nullptr, CUDNN_STATUS_BAD_PARAM_NULL_POINTER, "elementCount is NULL");
  require(d.finalized, CUDNN_STATUS_BAD_PARAM_NOT_FINALIZED, "the descriptor is not finalized");
  auto* out = static_cast<cudnnBackendDescriptor_t*>(r.elements);
  if (d.type == CUDNN_BACKEND_ENGINEHEUR_DESCRIPTOR && name == CUDNN_ATTR_ENGINEHEUR_RESULTS) {
    require_get_type(r, CUDNN_TYPE_BACKEND_DESCRIPTOR);
    const std::int64_t offered = engines_offered();
    const std::int64_t filled = std::min<std::int64_t>(r.requested, offered);
    for (std::int64_t i = 0; i < filled; ++i) {
      fill_created(out[i], CUDNN_BACKEND_ENGINECFG_DESCRIPTOR, d, static_cast<int>(i));
    }
    *r.count = r.requested == 0 ? offered : filled;
  } else if (d.type == CUDNN_BACKEND_ENGINECFG_DESCRIPTOR && name == CUDNN_ATTR_ENGINECFG_ENGINE) {
    require_get_type(r, CUDNN_TYPE_BACKEND_DESCRIPTOR);
    if (r.requested > 0) fill_created(out[0], CUDNN_BACKEND_ENGINE_DESCRIPTOR, d, d.engine);
    *r.count = 1;
  } else if (d.type == CUDNN_BACKEND_ENGINE_DESCRIPTOR &&
             name == CUDNN_ATTR_ENGINE_NUMERICAL_NOTE) {
    require_get_type(r, CUDNN_TYPE_NUMERICAL_NOTE);
    const std::int64_t notes = engine_is_tensor_core(d.engine) ? 1 : 0;
    if (r.requested > 0 && notes > 0) {
      static_cast<cudnnBackendNumericalNote_t*>(r.elements)[0] = CUDNN_NUMERICAL_NOTE_TENSOR_CORE;
    }
    *r.count = notes;
  } else if (d.type == CUDNN_BACKEND_EXECUTION_PLAN_DESCRIPTOR &&
             name == CUDNN_ATTR_EXECUTION_PLAN_WORKSPACE_SIZE) {
    require_get_type(r, CUDNN_TYPE_INT64);
    require_param(r.requested == 1, "the workspace size is one element");
    *static_cast<std::int64_t*>(r.elements) = static_cast<std::int64_t>(d.workspace);
    *r.count = 1;
  } else {
    require_supported(false, "reading " + attribute_text(name) + " of descriptor type " +
                                 std::to_string(static_cast<int>(d.type)) +
                                 " is not emulated (Note [Backend attributes])");
  }
}

bool creatable(cudnnBackendDescriptorType_t type) {
  switch (type) {
    case CUDNN_BACKEND_TENSOR_DESCRIPTOR:
    case CUDNN_BACKEND_CONVOLUTION_DESCRIPTOR:
    case CUDNN_BACKEND_POINTWISE_DESCRIPTOR:
    case CUDNN_BACKEND_OPERATION_CONVOLUTION_FORWARD_DESCRIPTOR:
    case CUDNN_BACKEND_OPERATION_POINTWISE_DESCRIPTOR:
    case CUDNN_BACKEND_OPERATIONGRAPH_DESCRIPTOR:
    case CUDNN_BACKEND_ENGINEHEUR_DESCRIPTOR:
    case CUDNN_BACKEND_ENGINECFG_DESCRIPTOR:
    case CUDNN_BACKEND_ENGINE_DESCRIPTOR:
    case CUDNN_BACKEND_EXECUTION_PLAN_DESCRIPTOR:
    case CUDNN_BACKEND_VARIANT_PACK_DESCRIPTOR: return true;
    default: return false;
  }
}

}  // namespace

BackendDescriptor& live_backend(const char* name, cudnnBackendDescriptor_t d) {
  return live(name, static_cast<BackendDescriptor*>(d));
}

const StoredAttribute* find_attribute(const BackendDescriptor& d,
                                      cudnnBackendAttributeName_t name) {
  const auto it = d.attributes.find(name);
  return it == d.attributes.end() ? nullptr : &it->second;
}

}  // namespace kiln::emu::cudnn

using namespace kiln::emu;
using namespace kiln::emu::cudnn;

cudnnStatus_t cudnnBackendCreateDescriptor(cudnnBackendDescriptorType_t descriptorType,
                                           cudnnBackendDescriptor_t* descriptor) {
  return run_cudnn("cudnnBackendCreateDescriptor", [&] {
    require(descriptor != nullptr, CUDNN_STATUS_BAD_PARAM_NULL_POINTER, "descriptor is NULL");
    require_supported(creatable(descriptorType),
                      "descriptor type " + std::to_string(static_cast<int>(descriptorType)) +
                          " is not emulated (Note [Backend attributes])");
    BackendDescriptor* d = registry<BackendDescriptor>().create();
    d->type = descriptorType;
    *descriptor = d;
  });
}

cudnnStatus_t cudnnBackendDestroyDescriptor(cudnnBackendDescriptor_t descriptor) {
  return run_cudnn("cudnnBackendDestroyDescriptor", [&] {
    require_param(descriptor != nullptr, "descriptor is NULL");
    require_param(
        registry<BackendDescriptor>().destroy(static_cast<BackendDescriptor*>(descriptor)),
        "descriptor is not a live descriptor (destroyed twice, or never created)");
  });
}

cudnnStatus_t cudnnBackendSetAttribute(cudnnBackendDescriptor_t descriptor,
                                       cudnnBackendAttributeName_t attributeName,
                                       cudnnBackendAttributeType_t attributeType,
                                       int64_t elementCount, const void* arrayOfElements) {
  return run_cudnn("cudnnBackendSetAttribute", [&] {
    set_attribute(live_backend("descriptor", descriptor), attributeName, attributeType,
                  elementCount, arrayOfElements);
  });
}

cudnnStatus_t cudnnBackendGetAttribute(cudnnBackendDescriptor_t const descriptor,
                                       cudnnBackendAttributeName_t attributeName,
                                       cudnnBackendAttributeType_t attributeType,
                                       int64_t requestedElementCount, int64_t* elementCount,
                                       void* arrayOfElements) {
  return run_cudnn("cudnnBackendGetAttribute", [&] {
    get_attribute(live_backend("descriptor", descriptor), attributeName,
                  GetRequest{attributeType, requestedElementCount, elementCount, arrayOfElements});
  });
}

cudnnStatus_t cudnnBackendFinalize(cudnnBackendDescriptor_t descriptor) {
  return run_cudnn("cudnnBackendFinalize", [&] {
    BackendDescriptor& d = live_backend("descriptor", descriptor);
    require_param(!d.finalized, "the descriptor is already finalized");
    finalize_descriptor(d);
    d.finalized = true;
  });
}
