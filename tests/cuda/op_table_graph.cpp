// Rows of the op table (op_table.h) for the kernels of imported graphs (kiln/graph_ops.h):
// broadcasting arithmetic in every broadcast pattern CenterNet uses (scalar, per channel, same
// shape, both ways) on f32 and i32 with negative operands, spatial mean, bilinear resize in its
// three modes, top-k with ties, strided slice with a negative stride, and hard-swish (the CPU's
// fused loop against the backend default that composes the kernels above).
#include <string>
#include <vector>

#include <fmt/format.h>

#include "op_table.h"

namespace kiln::cuda_test {

namespace {

using backend::Backend;
using Outputs = std::vector<Tensor>;

// i32 values in [-20, 20) from `seed`, none zero (they divide).
Tensor nonzero_ints_on(Device device, const Shape& shape, std::uint64_t seed) {
  std::vector<float> v = uniform_on(Device::cpu(), shape, seed, -20.0, 20.0).to_vector<float>();
  std::vector<std::int32_t> ints;
  for (float x : v)
    ints.push_back(static_cast<std::int32_t>(x) == 0 ? 7 : static_cast<std::int32_t>(x));
  return Tensor::from_vector(ints, shape).to(device);
}

void add_broadcast_cases(std::vector<OpCase>& cases) {
  struct Pattern {
    const char* tag;
    Shape a, b, out;
  };
  const Pattern patterns[] = {{"scalar", {}, {2, 5, 3, 7}, {2, 5, 3, 7}},
                              {"channel", {2, 5, 3, 7}, {1, 1, 1, 7}, {2, 5, 3, 7}},
                              {"same", {3, 4099}, {3, 4099}, {3, 4099}},
                              {"both_ways", {4, 1, 6}, {5, 1}, {4, 5, 6}},
                              {"empty", {0, 3}, {1, 3}, {0, 3}}};
  const std::pair<BinaryOp, const char*> ops[] = {{BinaryOp::add, "add"},
                                                  {BinaryOp::subtract, "subtract"},
                                                  {BinaryOp::multiply, "multiply"},
                                                  {BinaryOp::floor_divide, "floor_divide"},
                                                  {BinaryOp::floor_mod, "floor_mod"},
                                                  {BinaryOp::equal, "equal"}};
  for (const Pattern& p : patterns) {
    for (const auto& [op, name] : ops) {
      const BinaryOp o = op;
      const DType out_dtype = o == BinaryOp::equal ? DType::u8 : DType::f32;
      cases.push_back({fmt::format("broadcast_binary_{}_{}_f32", name, p.tag), kElementwise, false,
                       false, [=](Backend& be, Device d) {
                         Tensor out = output_on(d, p.out, out_dtype);
                         be.broadcast_binary(o, with_ties(d, p.a, 470),
                                             uniform_on(d, p.b, 471, 0.5, 3.0), out);
                         return Outputs{out};
                       }});
      cases.push_back({fmt::format("broadcast_binary_{}_{}_i32", name, p.tag), kExact, false, false,
                       [=](Backend& be, Device d) {
                         Tensor out =
                             output_on(d, p.out, o == BinaryOp::equal ? DType::u8 : DType::i32);
                         be.broadcast_binary(o, nonzero_ints_on(d, p.a, 472),
                                             nonzero_ints_on(d, p.b, 473), out);
                         return Outputs{out};
                       }});
    }
  }
}

void add_spatial_mean_and_resize_cases(std::vector<OpCase>& cases) {
  for (const Shape& shape : {Shape{2, 7, 9, 5}, Shape{1, 16, 16, 160}, Shape{0, 3, 3, 2}}) {
    cases.push_back(
        {fmt::format("spatial_mean_{}x{}x{}x{}", shape[0], shape[1], shape[2], shape[3]),
         kElementwise, false, false, [=](Backend& be, Device d) {
           Tensor y = output_on(d, {shape[0], 1, 1, shape[3]});
           be.spatial_mean(uniform_on(d, shape, 474), y);
           return Outputs{y};
         }});
  }
  const std::pair<ResizeMode, const char*> modes[] = {{{false, false}, "asymmetric"},
                                                      {{true, false}, "align_corners"},
                                                      {{false, true}, "half_pixel"}};
  for (const auto& [mode, name] : modes) {
    const ResizeMode m = mode;
    cases.push_back({fmt::format("resize_bilinear_mode_{}", name), kElementwise, false, false,
                     [=](Backend& be, Device d) {
                       Tensor y = output_on(d, {2, 16, 10, 3});
                       be.resize_bilinear_mode(uniform_on(d, {2, 8, 5, 3}, 475), m, y);
                       return Outputs{y};
                     }});
  }
}

void add_top_k_and_slice_cases(std::vector<OpCase>& cases) {
  cases.push_back({"top_k_ties", kExact, false, false, [](Backend& be, Device d) {
                     Tensor values = output_on(d, {3, 9});
                     Tensor indices = output_on(d, {3, 9}, DType::i32);
                     be.top_k(with_ties(d, {3, 4099}, 476), values, indices);
                     return Outputs{values, indices};
                   }});
  cases.push_back({"hard_swish", kElementwise, false, false, [](Backend& be, Device d) {
                     Tensor y = output_on(d, {3, 4099});
                     be.hard_swish(uniform_on(d, {3, 4099}, 478, -6.0, 6.0), 1.0 / 6.0, 3.0, y);
                     return Outputs{y};
                   }});
  cases.push_back(
      {"strided_slice_negative_stride", kExact, false, false, [](Backend& be, Device d) {
         Tensor y = output_on(d, {2, 3, 3});
         be.strided_slice(uniform_on(d, {3, 6, 5}, 477), {1, 5, 0}, {1, -2, 2}, y);
         return Outputs{y};
       }});
}

}  // namespace

std::vector<OpCase> graph_cases() {
  std::vector<OpCase> cases;
  add_broadcast_cases(cases);
  add_spatial_mean_and_resize_cases(cases);
  add_top_k_and_slice_cases(cases);
  return cases;
}

}  // namespace kiln::cuda_test
