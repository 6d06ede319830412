// Rows of the op table (op_table.h): memory, elementwise, activations, softmax, losses,
// reductions, randomness, optimizers and batch assembly; plus the row helpers.
#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "op_table.h"

namespace kiln::cuda_test {

namespace {

using backend::Backend;
using backend::Pointwise;
using Outputs = std::vector<Tensor>;

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

std::string shape_name(const Shape& shape) {
  return shape.empty() ? std::string("scalar") : fmt::format("{}", fmt::join(shape, "x"));
}

const char* pointwise_name(Pointwise f) {
  switch (f) {
    case Pointwise::relu: return "relu";
    case Pointwise::sigmoid: return "sigmoid";
    case Pointwise::tanh: return "tanh";
  }
  return "pointwise";
}

void add_fill_cases(std::vector<OpCase>& cases) {
  const double values[] = {3.75, -2.5, 300.0, 1e10, kNaN};  // integers saturate, NaN gives 0
  for (DType dtype : {DType::f32, DType::u8, DType::i32}) {
    for (std::int64_t n : {0, 1, 1001}) {
      for (std::size_t v = 0; v < std::size(values); ++v) {
        const double value = values[v];
        const std::string name = fmt::format("fill_{}_{}_value{}", dtype_name(dtype), n, v);
        cases.push_back({name, kExact, std::isnan(value), false, [=](Backend& be, Device d) {
                           Tensor x = Tensor::empty({n}, dtype, d);
                           be.fill(x, value);
                           return Outputs{x};
                         }});
      }
    }
  }
}

void add_axpy_multiply_cases(std::vector<OpCase>& cases) {
  for (std::int64_t n : {0, 1, 33, 10007}) {
    for (std::int64_t offset : {0, 3}) {
      const std::string tag = fmt::format("{}_offset{}", n, offset);
      cases.push_back({"axpy_" + tag, kElementwise, false, false, [=](Backend& be, Device d) {
                         const Tensor x = offset_copy(uniform_on(Device::cpu(), {n}, 1), d, offset);
                         Tensor y = offset_copy(uniform_on(Device::cpu(), {n}, 2), d, offset + 1);
                         be.axpy(0.37, x, y);
                         return Outputs{y};
                       }});
      cases.push_back({"multiply_" + tag, kElementwise, true, false, [=](Backend& be, Device d) {
                         const Tensor a =
                             offset_copy(with_specials(Device::cpu(), {n}, 3), d, offset);
                         const Tensor b = with_specials(d, {n}, 4);
                         Tensor out = output_on(d, {n});
                         be.multiply(a, b, out);
                         return Outputs{out};
                       }});
    }
  }
}

void add_cast_cases(std::vector<OpCase>& cases) {
  for (DType from : {DType::f32, DType::u8, DType::i32}) {
    for (DType to : {DType::f32, DType::u8, DType::i32}) {
      for (double scale : {1.0, 0.5, -1.5}) {
        const std::string name = fmt::format("cast_{}_to_{}_scale{}", dtype_name(from),
                                             dtype_name(to), static_cast<int>(scale * 10 + 100));
        cases.push_back(
            {name, kExact, from == DType::f32 && to == DType::f32, false,
             [=](Backend& be, Device d) {
               // f32 sources include NaN and +-inf (integers take 0 and saturate).
               const Tensor f = with_specials(Device::cpu(), {517}, 5, -3e9, 3e9);
               const Tensor src =
                   (from == DType::f32
                        ? f
                        : uniform_on(Device::cpu(), {517}, 6, -300.0, 300.0).astype(from))
                       .to(d);
               Tensor out = output_on(d, {517}, to);
               be.cast(src, out, scale);
               return Outputs{out};
             }});
      }
    }
  }
}

void add_copy_columns_cases(std::vector<OpCase>& cases) {
  for (DType dtype : {DType::f32, DType::i32, DType::u8}) {
    for (bool accumulate : {false, true}) {
      const std::string name = std::string("copy_columns_") + dtype_name(dtype) +
                               (accumulate ? "_accumulate" : "_assign");
      cases.push_back(
          {name, kElementwise, false, false, [=](Backend& be, Device d) {
             const Tensor src =
                 uniform_on(Device::cpu(), {7, 10}, 7, 0.0, 100.0).astype(dtype).to(d);
             Tensor dst = uniform_on(Device::cpu(), {7, 12}, 8, 0.0, 100.0).astype(dtype).to(d);
             be.copy_columns(src, 10, 3, dst, 12, 4, 7, 6, accumulate);
             return Outputs{dst};
           }});
    }
  }
  cases.push_back({"copy_columns_zero_rows", kExact, false, false, [](Backend& be, Device d) {
                     const Tensor src = uniform_on(d, {0, 4}, 9);
                     Tensor dst = uniform_on(d, {0, 6}, 10);
                     be.copy_columns(src, 4, 0, dst, 6, 2, 0, 4, false);
                     return Outputs{dst};
                   }});
}

void add_pointwise_cases(std::vector<OpCase>& cases) {
  for (Pointwise f : {Pointwise::relu, Pointwise::sigmoid, Pointwise::tanh}) {
    for (std::int64_t n : {0, 1, 4099}) {
      const std::string tag = fmt::format("{}_{}", pointwise_name(f), n);
      cases.push_back(
          {"pointwise_forward_" + tag, kElementwise, true, false, [=](Backend& be, Device d) {
             const Tensor x = with_specials(d, {n}, 11, -9.0, 9.0);
             Tensor y = output_on(d, {n});
             be.pointwise_forward(f, x, y);
             return Outputs{y};
           }});
      cases.push_back(
          {"pointwise_backward_" + tag, kElementwise, true, false, [=](Backend& be, Device d) {
             Tensor y = output_on(d, {n});
             be.pointwise_forward(f, with_specials(d, {n}, 12, -9.0, 9.0), y);
             const Tensor dy = uniform_on(d, {n}, 13);
             Tensor dx = output_on(d, {n});
             be.pointwise_backward(f, y, dy, dx);
             return Outputs{dx};
           }});
    }
  }
}

void add_softmax_cases(std::vector<OpCase>& cases) {
  for (const Shape& shape :
       {Shape{37, 10}, Shape{5, 1000}, Shape{0, 10}, Shape{3, 1}, Shape{2, 3, 7}}) {
    cases.push_back(
        {"softmax_forward_" + shape_name(shape), kStrict, false, false, [=](Backend& be, Device d) {
           const Tensor x = uniform_on(d, shape, 14, -80.0, 80.0);
           Tensor y = output_on(d, shape);
           be.softmax_forward(x, y);
           return Outputs{y};
         }});
    cases.push_back({"softmax_backward_" + shape_name(shape), kStrict, false, false,
                     [=](Backend& be, Device d) {
                       Tensor y = output_on(d, shape);
                       be.softmax_forward(uniform_on(d, shape, 15, -5.0, 5.0), y);
                       Tensor dx = output_on(d, shape);
                       be.softmax_backward(y, uniform_on(d, shape, 16), dx);
                       return Outputs{dx};
                     }});
  }
  cases.push_back(
      {"softmax_forward_nan_row", kStrict, true, false, [](Backend& be, Device d) {
         std::vector<float> v = uniform_on(Device::cpu(), {4, 6}, 17).to_vector<float>();
         v[9] = std::nanf("");  // row 1
         Tensor y = output_on(d, {4, 6});
         be.softmax_forward(values_on(d, v, {4, 6}), y);
         return Outputs{y};
       }});
}

}  // namespace

// ---- helpers (op_table.h)

Tensor uniform_on(Device device, const Shape& shape, std::uint64_t seed, double low, double high) {
  return Tensor::uniform(shape, low, high, seed, DType::f32, device);
}

Tensor values_on(Device device, const std::vector<float>& values, const Shape& shape) {
  return Tensor::from_vector(values, shape, device);
}

Tensor offset_copy(const Tensor& host, Device device, std::int64_t offset) {
  const Tensor buffer = Tensor::zeros({host.numel() + offset}, host.dtype(), device);
  Tensor view = buffer.narrow(offset, offset + host.numel()).view(host.shape());
  view.copy_from(host);
  return view;
}

Tensor with_specials(Device device, const Shape& shape, std::uint64_t seed, double low,
                     double high) {
  std::vector<float> v = uniform_on(Device::cpu(), shape, seed, low, high).to_vector<float>();
  const float specials[] = {std::nanf(""), INFINITY, -INFINITY};
  for (std::size_t i = 0; i < v.size(); i += 97) v[i] = specials[(i / 97) % 3];
  return values_on(device, v, shape);
}

Tensor with_ties(Device device, const Shape& shape, std::uint64_t seed) {
  std::vector<float> v = uniform_on(Device::cpu(), shape, seed, -2.0, 2.5).to_vector<float>();
  for (float& x : v) x = std::floor(x * 2.0f) / 2.0f;
  return values_on(device, v, shape);
}

Tensor empty_on(Device device, const Shape& shape, DType dtype) {
  return Tensor::empty(shape, dtype, device);
}

Tensor output_on(Device device, const Shape& shape, DType dtype) {
  const double sentinel = device.is_cpu() || dtype != DType::f32 ? 7.0 : kNaN;
  return Tensor::full(shape, sentinel, dtype, device);
}

Tensor labels_on(Device device, std::int64_t rows, std::int64_t classes, std::uint64_t seed) {
  std::vector<std::int32_t> labels(static_cast<std::size_t>(rows));
  const std::vector<float> u = uniform_on(Device::cpu(), {rows}, seed, 0.0, 1.0).to_vector<float>();
  for (std::size_t i = 0; i < labels.size(); ++i) {
    labels[i] = std::min(static_cast<std::int32_t>(u[i] * static_cast<float>(classes)),
                         static_cast<std::int32_t>(classes - 1));
  }
  return Tensor::from_vector(labels, {rows}, device);
}

std::vector<OpCase> memory_and_elementwise_cases() {
  std::vector<OpCase> cases;
  add_fill_cases(cases);
  add_axpy_multiply_cases(cases);
  add_cast_cases(cases);
  add_copy_columns_cases(cases);
  add_pointwise_cases(cases);
  add_softmax_cases(cases);
  return cases;
}

}  // namespace kiln::cuda_test
