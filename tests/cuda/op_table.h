// The op table of the parity suite (test_op_parity.cpp), in the style of ggml's test-backend-ops:
// one row per Backend method and representative case — odd sizes and tails, views with offsets,
// zero-size batches, ties, NaN and infinities — with its tolerance. The generator runs every row
// on the CPU backend and on every other usable device (a real GPU or the CUDA emulation) and
// compares all outputs. A new Backend method gets its parity test by adding rows here.
#pragma once

#include <functional>
#include <ostream>
#include <string>
#include <vector>

#include "backend/backend.h"
#include "cuda_test_util.h"
#include "kiln/tensor.h"

namespace kiln::cuda_test {

// Tolerances are cuda_test_util.h's (kElementwise, kStrict with TF32 off, kTf32) or exact.
constexpr double kExact = 0.0;

struct OpCase {
  std::string name;  // "<method>_<case>": letters, digits and underscores (a gtest name)
  double tolerance = kStrict;
  bool nan_expected = false;  // inputs hold NaN on purpose: outputs must put NaN at the same places
  bool tf32 = false;          // run with TF32 allowed (conv and GEMM rows only)
  // Builds the row's inputs from fixed seeds on `device`, calls the backend, and returns every
  // output (on `device`).
  std::function<std::vector<Tensor>(backend::Backend&, Device)> run;
};

// gtest prints a failing row by its name.
inline void PrintTo(const OpCase& row, std::ostream* out) { *out << row.name; }

std::vector<OpCase> memory_and_elementwise_cases();   // op_table_elementwise.cpp
std::vector<OpCase> loss_reduction_and_data_cases();  // op_table_losses.cpp
std::vector<OpCase> matrix_conv_and_pool_cases();     // op_table_nn.cpp
std::vector<OpCase> layer_cases();                    // op_table_layers.cpp
std::vector<OpCase> graph_cases();                    // op_table_graph.cpp

// ---- helpers for writing rows

// Uniform f32 values in [low, high) from `seed`, on `device`.
Tensor uniform_on(Device device, const Shape& shape, std::uint64_t seed, double low = -1.0,
                  double high = 1.0);
// `values` (f32) on `device`.
Tensor values_on(Device device, const std::vector<float>& values, const Shape& shape);
// A copy of `host` on `device` that is a view `offset` elements into a larger buffer, so the
// kernel sees a pointer that is not the start of an allocation (and not 16-byte aligned for odd
// offsets).
Tensor offset_copy(const Tensor& host, Device device, std::int64_t offset);
// Uniform values with some NaN, +inf and -inf planted at fixed places.
Tensor with_specials(Device device, const Shape& shape, std::uint64_t seed, double low = -3.0,
                     double high = 3.0);
// Values on a coarse grid (multiples of 0.5 in [-2, 2]), so windows and rows hold many ties.
Tensor with_ties(Device device, const Shape& shape, std::uint64_t seed);
Tensor empty_on(Device device, const Shape& shape, DType dtype = DType::f32);
// An output buffer: NaN-filled off the CPU (f32), so an element a kernel forgets to write shows
// up as a NaN the CPU result does not have; 7 elsewhere.
Tensor output_on(Device device, const Shape& shape, DType dtype = DType::f32);
// i32 labels in [0, classes).
Tensor labels_on(Device device, std::int64_t rows, std::int64_t classes, std::uint64_t seed);

}  // namespace kiln::cuda_test
