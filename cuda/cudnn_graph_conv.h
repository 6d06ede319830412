// A Conv2D forward with its bias and ReLU fused into one cuDNN call, through cuDNN's graph
// (backend) API, in kiln's layouts: x (n, h, w, c) NHWC, the filter (o, kh, kw, c) OHWI (the
// caller transposes kiln's HWIO, Note [HWIO filters] in cudnn_conv.cpp), bias (o), y (n, oh, ow,
// o):
//   y = relu?(conv(x, w) + bias?)   (=), f32, Keras's asymmetric padding as pre / post paddings.
// A FusedConvPlan is built once per problem (Note [Fused convolution plans] in the .cpp) and
// executed on the handle's stream; building never synchronises and executing queues work only.
#pragma once

#include <cudnn.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "backend/backend.h"

namespace kiln::cuda {

// What one plan computes, and the byte alignments (powers of two, at most 16) its data pointers
// are promised to have.
struct FusedConvSpec {
  backend::Conv2dGeometry g;
  bool bias = false;
  bool relu = false;
  bool tf32 = true;
  std::int64_t x_alignment = 16, w_alignment = 16, y_alignment = 16, bias_alignment = 16;
};

// The largest power of two up to 16 that divides the address (cuDNN's BYTE_ALIGNMENT promise).
std::int64_t pointer_alignment(const void* p);

class FusedConvPlan {
 public:
  ~FusedConvPlan();
  FusedConvPlan(const FusedConvPlan&) = delete;
  FusedConvPlan& operator=(const FusedConvPlan&) = delete;

  // The plan of the first engine configuration cuDNN's heuristics (mode A) offer for `spec` that
  // respects its TF32 setting and finalizes; nullptr, with the reason in `why`, when cuDNN
  // supports no such graph or plan. A descriptor cuDNN refuses to build throws kiln::Error.
  static std::unique_ptr<FusedConvPlan> build(cudnnHandle_t handle, const FusedConvSpec& spec,
                                              std::string& why);

  std::size_t workspace_bytes() const { return workspace_; }

  // Queues the plan on the handle's stream; bias is ignored unless the spec has one, and
  // `workspace` holds at least workspace_bytes().
  void execute(cudnnHandle_t handle, const float* x, const float* w, const float* bias, float* y,
               void* workspace) const;

 private:
  struct Parts;
  FusedConvPlan();

  std::unique_ptr<Parts> parts_;
  std::size_t workspace_ = 0;
  bool bias_ = false;
};

}  // namespace kiln::cuda
