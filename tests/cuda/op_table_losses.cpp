// Rows of the op table (op_table.h): fused losses, reductions, dropout masks, optimizers and
// batch assembly.
#include <cmath>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "op_table.h"

namespace kiln::cuda_test {

namespace {

using backend::Backend;
using Outputs = std::vector<Tensor>;

Tensor one_hot_of(const Tensor& labels, std::int64_t classes) {
  Tensor out = Tensor::empty({labels.numel(), classes}, DType::f32, labels.device());
  backend::backend_for(labels.device()).one_hot(labels, out);
  return out;
}

void add_softmax_cross_entropy_cases(std::vector<OpCase>& cases) {
  for (std::int64_t rows : {0, 1, 64}) {
    for (std::int64_t classes : {1, 10, 77}) {
      for (const char* target_kind : {"labels", "onehot", "soft"}) {
        const std::string tag = fmt::format("{}x{}_{}", rows, classes, target_kind);
        const std::string kind = target_kind;
        auto target = [=](Device d) {
          const Tensor labels = labels_on(d, rows, classes, 20);
          if (kind == "labels") return labels;
          if (kind == "onehot") return one_hot_of(labels, classes);
          return uniform_on(d, {rows, classes}, 21, 0.0, 1.0);
        };
        cases.push_back({"softmax_cross_entropy_forward_" + tag, kStrict, false, false,
                         [=](Backend& be, Device d) {
                           const Tensor logits = uniform_on(d, {rows, classes}, 22, -30.0, 30.0);
                           Tensor probs = output_on(d, {rows, classes});
                           Tensor loss = output_on(d, {rows});
                           be.softmax_cross_entropy_forward(logits, target(d), probs, loss);
                           return Outputs{probs, loss};
                         }});
        cases.push_back({"softmax_cross_entropy_backward_" + tag, kStrict, false, false,
                         [=](Backend& be, Device d) {
                           Tensor probs = output_on(d, {rows, classes});
                           be.softmax_forward(uniform_on(d, {rows, classes}, 23, -5.0, 5.0), probs);
                           Tensor dlogits = output_on(d, {rows, classes});
                           be.softmax_cross_entropy_backward(probs, target(d),
                                                             uniform_on(d, {rows}, 24), dlogits);
                           return Outputs{dlogits};
                         }});
      }
    }
  }
  cases.push_back(
      {"softmax_cross_entropy_forward_nan_logits", kStrict, true, false, [](Backend& be, Device d) {
         const Tensor logits = with_specials(d, {50, 10}, 25);
         Tensor probs = output_on(d, {50, 10});
         Tensor loss = output_on(d, {50});
         be.softmax_cross_entropy_forward(logits, labels_on(d, 50, 10, 26), probs, loss);
         return Outputs{probs, loss};
       }});
}

void add_sigmoid_cross_entropy_cases(std::vector<OpCase>& cases) {
  for (const Shape& shape : {Shape{33, 17}, Shape{0, 1}, Shape{1, 1}, Shape{1000}}) {
    const std::string tag = fmt::format("{}_{}", shape.front(), shape.back());
    cases.push_back({"sigmoid_cross_entropy_forward_" + tag, kElementwise, false, false,
                     [=](Backend& be, Device d) {
                       Tensor loss = output_on(d, shape);
                       be.sigmoid_cross_entropy_forward(uniform_on(d, shape, 27, -40.0, 40.0),
                                                        uniform_on(d, shape, 28, 0.0, 1.0), loss);
                       return Outputs{loss};
                     }});
    cases.push_back({"sigmoid_cross_entropy_backward_" + tag, kElementwise, false, false,
                     [=](Backend& be, Device d) {
                       Tensor dz = output_on(d, shape);
                       be.sigmoid_cross_entropy_backward(uniform_on(d, shape, 29, -8.0, 8.0),
                                                         uniform_on(d, shape, 30, 0.0, 1.0),
                                                         uniform_on(d, shape, 31), dz);
                       return Outputs{dz};
                     }});
  }
}

void add_sum_cases(std::vector<OpCase>& cases) {
  for (std::int64_t n : {0, 1, 1000, 100003}) {
    cases.push_back(
        {fmt::format("sum_f32_{}", n), kStrict, false, false, [=](Backend& be, Device d) {
           Tensor out = output_on(d, {1});
           be.sum(uniform_on(d, {n}, 32), out);
           return Outputs{out};
         }});
    for (DType dtype : {DType::i32, DType::u8}) {
      cases.push_back({fmt::format("sum_{}_{}", dtype_name(dtype), n), kExact, false, false,
                       [=](Backend& be, Device d) {
                         const Tensor x =
                             uniform_on(Device::cpu(), {n}, 33, 0.0, 250.0).astype(dtype).to(d);
                         Tensor out = output_on(d, {1}, DType::i32);
                         be.sum(x, out);
                         return Outputs{out};
                       }});
    }
  }
  cases.push_back({"sum_f32_with_nan_and_inf", kStrict, true, false, [](Backend& be, Device d) {
                     Tensor out = output_on(d, {1});
                     be.sum(with_specials(d, {500}, 34), out);
                     return Outputs{out};
                   }});
}

void add_argmax_cases(std::vector<OpCase>& cases) {
  for (std::int64_t cols : {1, 10, 100}) {
    cases.push_back(
        {fmt::format("argmax_f32_ties_{}", cols), kExact, false, false, [=](Backend& be, Device d) {
           Tensor out = output_on(d, {129}, DType::i32);
           be.argmax(with_ties(d, {129, cols}, 35), out);
           return Outputs{out};
         }});
    cases.push_back(
        {fmt::format("argmax_f32_nan_{}", cols), kExact, false, false, [=](Backend& be, Device d) {
           Tensor out = output_on(d, {129}, DType::i32);
           be.argmax(with_specials(d, {129, cols}, 36), out);
           return Outputs{out};
         }});
    for (DType dtype : {DType::i32, DType::u8}) {
      cases.push_back(
          {fmt::format("argmax_{}_{}", dtype_name(dtype), cols), kExact, false, false,
           [=](Backend& be, Device d) {
             const Tensor x =
                 uniform_on(Device::cpu(), {65, cols}, 37, 0.0, 6.0).astype(dtype).to(d);
             Tensor out = output_on(d, {65}, DType::i32);
             be.argmax(x, out);
             return Outputs{out};
           }});
    }
  }
  cases.push_back({"argmax_zero_rows", kExact, false, false, [](Backend& be, Device d) {
                     Tensor out = output_on(d, {0}, DType::i32);
                     be.argmax(uniform_on(d, {0, 10}, 38), out);
                     return Outputs{out};
                   }});
}

// Counts into a counter that already holds 3 (the kernel adds).
void add_accuracy_cases(std::vector<OpCase>& cases) {
  for (std::int64_t cols : {1, 10, 77}) {
    for (bool nan : {false, true}) {
      const auto pred = [=](Device d) {
        return nan ? with_specials(d, {130, cols}, 80) : with_ties(d, {130, cols}, 81);
      };
      cases.push_back({fmt::format("accuracy_count_sparse_{}{}", cols, nan ? "_nan" : ""), kExact,
                       false, false, [=](Backend& be, Device d) {
                         Tensor correct = Tensor::full({1}, 3.0, DType::f32, d);
                         be.accuracy_count(backend::AccuracyKind::sparse_categorical, pred(d),
                                           labels_on(d, 130, cols, 82), correct);
                         return Outputs{correct};
                       }});
      cases.push_back({fmt::format("accuracy_count_categorical_{}{}", cols, nan ? "_nan" : ""),
                       kExact, false, false, [=](Backend& be, Device d) {
                         Tensor correct = Tensor::full({1}, 3.0, DType::f32, d);
                         be.accuracy_count(backend::AccuracyKind::categorical, pred(d),
                                           with_ties(d, {130, cols}, 83), correct);
                         return Outputs{correct};
                       }});
    }
  }
  cases.push_back({"accuracy_count_binary", kExact, false, false, [](Backend& be, Device d) {
                     Tensor correct = Tensor::full({1}, 3.0, DType::f32, d);
                     be.accuracy_count(backend::AccuracyKind::binary,
                                       with_specials(d, {1001, 1}, 84, 0.0, 1.0),
                                       uniform_on(d, {1001, 1}, 85, 0.0, 1.0), correct);
                     return Outputs{correct};
                   }});
  cases.push_back({"accuracy_count_no_rows", kExact, false, false, [](Backend& be, Device d) {
                     Tensor correct = Tensor::full({1}, 3.0, DType::f32, d);
                     be.accuracy_count(backend::AccuracyKind::sparse_categorical,
                                       uniform_on(d, {0, 10}, 86), labels_on(d, 0, 10, 87),
                                       correct);
                     return Outputs{correct};
                   }});
}

void add_dropout_cases(std::vector<OpCase>& cases) {
  const double rates[] = {0.0, 0.3, 0.9};
  for (std::size_t r = 0; r < std::size(rates); ++r) {
    for (std::int64_t n : {0, 10007}) {
      cases.push_back({fmt::format("dropout_mask_rate{}_{}", r, n), kExact, false, false,
                       [=](Backend& be, Device d) {
                         Tensor mask = output_on(d, {n});
                         be.dropout_mask(mask, rates[r], 42);
                         return Outputs{mask};
                       }});
    }
  }
}

// More tensors than one launch carries (32), of awkward sizes, three steps.
void add_optimizer_cases(std::vector<OpCase>& cases) {
  std::vector<std::int64_t> sizes = {1, 1000, 3000, 70001, 0};
  for (int i = 0; i < 36; ++i) sizes.push_back(17 + i);
  cases.push_back(
      {"adam_update_41_tensors_3_steps", kStrict, false, false, [=](Backend& be, Device d) {
         std::vector<Tensor> p, m, v;
         for (std::size_t i = 0; i < sizes.size(); ++i) {
           p.push_back(uniform_on(d, {sizes[i]}, 100 + i));
           m.push_back(Tensor::zeros({sizes[i]}, DType::f32, d));
           v.push_back(Tensor::zeros({sizes[i]}, DType::f32, d));
         }
         const backend::AdamStep s = backend::AdamStep::on(d, 2e-3, 4);
         for (std::int64_t step = 1; step <= 3; ++step) {
           std::vector<Tensor> g;
           for (std::size_t i = 0; i < sizes.size(); ++i) {
             g.push_back(uniform_on(d, {sizes[i]}, 1000 * step + i));
           }
           be.adam_update(p, g, m, v, s);
         }
         Outputs out = p;
         out.push_back(s.step);  // advanced on the device: 7
         out.insert(out.end(), m.begin(), m.end());
         out.insert(out.end(), v.begin(), v.end());
         return out;
       }});
  for (int variant = 0; variant < 3; ++variant) {  // plain, momentum, nesterov
    cases.push_back(
        {fmt::format("sgd_update_variant{}", variant), kStrict, false, false,
         [=](Backend& be, Device d) {
           std::vector<Tensor> p = {uniform_on(d, {5001}, 40), uniform_on(d, {3}, 41)};
           std::vector<Tensor> velocity;
           if (variant > 0) {
             velocity = {Tensor::zeros({5001}, DType::f32, d), Tensor::zeros({3}, DType::f32, d)};
           }
           backend::SgdStep s;
           s.momentum = variant > 0 ? 0.9 : 0.0;
           s.nesterov = variant == 2;
           for (std::uint64_t step = 0; step < 3; ++step) {
             const std::vector<Tensor> g = {uniform_on(d, {5001}, 42 + step),
                                            uniform_on(d, {3}, 52 + step)};
             be.sgd_update(p, g, velocity, s);
           }
           Outputs out = p;
           out.insert(out.end(), velocity.begin(), velocity.end());
           return out;
         }});
  }
}

void add_data_cases(std::vector<OpCase>& cases) {
  // f32 images (16-byte rows), 3-byte u8 rows, a source at an odd offset (byte copies), none.
  cases.push_back({"gather_rows_f32_images", kExact, false, false, [](Backend& be, Device d) {
                     const Tensor images = uniform_on(d, {50, 28, 28, 1}, 60);
                     Tensor out = output_on(d, {17, 28, 28, 1});
                     be.gather_rows(images, labels_on(d, 17, 50, 61), out);
                     return Outputs{out};
                   }});
  cases.push_back({"gather_rows_u8_3_byte_rows", kExact, false, false, [](Backend& be, Device d) {
                     const Tensor bytes =
                         uniform_on(Device::cpu(), {50, 3}, 62, 0.0, 255.0).astype(DType::u8).to(d);
                     Tensor out = output_on(d, {17, 3}, DType::u8);
                     be.gather_rows(bytes, labels_on(d, 17, 50, 63), out);
                     return Outputs{out};
                   }});
  cases.push_back({"gather_rows_offset_source", kExact, false, false, [](Backend& be, Device d) {
                     const Tensor src = offset_copy(uniform_on(Device::cpu(), {40, 12}, 64), d, 1);
                     Tensor out = output_on(d, {9, 12});
                     be.gather_rows(src, labels_on(d, 9, 40, 65), out);
                     return Outputs{out};
                   }});
  cases.push_back({"gather_rows_none", kExact, false, false, [](Backend& be, Device d) {
                     Tensor out = output_on(d, {0, 5});
                     be.gather_rows(uniform_on(d, {8, 5}, 66), labels_on(d, 0, 8, 67), out);
                     return Outputs{out};
                   }});
  for (std::int64_t rows : {0, 33}) {
    cases.push_back(
        {fmt::format("one_hot_{}", rows), kExact, false, false, [=](Backend& be, Device d) {
           Tensor out = output_on(d, {rows, 10});
           be.one_hot(labels_on(d, rows, 10, 68), out);
           return Outputs{out};
         }});
  }
}

}  // namespace

std::vector<OpCase> loss_reduction_and_data_cases() {
  std::vector<OpCase> cases;
  add_softmax_cross_entropy_cases(cases);
  add_sigmoid_cross_entropy_cases(cases);
  add_sum_cases(cases);
  add_argmax_cases(cases);
  add_accuracy_cases(cases);
  add_dropout_cases(cases);
  add_optimizer_cases(cases);
  add_data_cases(cases);
  return cases;
}

}  // namespace kiln::cuda_test
