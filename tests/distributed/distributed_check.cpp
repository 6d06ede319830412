// kiln_distributed_check: the programs the data-parallel tests run, one process or under
// `mpirun -np 2` (tests/distributed/*.sh). Each mode prints what it measured and exits non-zero
// when a check fails.
//   train seed|two_heads adam|sgd OUT
//                              5 steps of global batch 256 from the same weights; rank 0 writes
//                              every weight to OUT (name, count, floats)
//   compare A B TOLERANCE      the weights of two train runs agree to TOLERANCE, relative to each
//                              tensor's largest value
//   buckets                    bucketed all-reduce == one flat all-reduce; buckets launch during
//                              the backward pass of a real step
//   throw                      rank 1 throws during fit; every rank must stop (MPI_Abort)
//   overhead STEPS             the all-reduce's share of a step (benchmarks/bench_distributed.sh)
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include "distributed/data_parallel.h"
#include "distributed/gradient_reducer.h"
#include "kiln/distributed.h"
#include "kiln/kiln.h"

namespace {

using namespace kiln;

constexpr std::int64_t kBatch = 256, kSteps = 5;

// The first n MNIST training images (scripts/fetch-data.sh; $KILN_DATA or ~/.kiln/datasets), or
// deterministic random images and labels for the checks that only need shapes.
struct Data {
  Tensor images, labels, odd;
};

Data with_odd(Tensor images, Tensor labels) {
  const std::vector<std::int32_t> l = labels.to_vector<std::int32_t>();
  std::vector<float> odd(l.size());
  for (std::size_t i = 0; i < l.size(); ++i) odd[i] = static_cast<float>(l[i] % 2);
  const auto n = static_cast<std::int64_t>(l.size());
  return {std::move(images), std::move(labels), Tensor::from_vector(odd, {n, 1})};
}

Data mnist(std::int64_t n) {
  const Dataset d = load_mnist();
  return with_odd(d.x_train.narrow(0, n).clone(), d.y_train.narrow(0, n).clone());
}

Data synthetic(std::int64_t n) {
  const std::vector<float> u = Tensor::uniform({n}, 0.0, 10.0, 12).to_vector<float>();
  std::vector<std::int32_t> labels(u.size());
  for (std::size_t i = 0; i < u.size(); ++i) labels[i] = std::min(9, static_cast<int>(u[i]));
  return with_odd(Tensor::uniform({n, 28, 28, 1}, 0.0, 1.0, 11), Tensor::from_vector(labels, {n}));
}

std::unique_ptr<Model> compiled(const std::string& which, const std::string& optimizer = "adam") {
  set_random_seed(3);
  std::unique_ptr<Model> model;
  CompileOptions options;
  if (optimizer == "sgd") {
    options.optimizer = std::make_shared<SGD>(SGDOptions{.learning_rate = 0.05});
  } else {
    options.optimizer = std::make_shared<Adam>();
  }
  if (which == "seed") {
    model = seed_model();
    options.loss[""] = "sparse_categorical_crossentropy";
    options.metrics[""] = {"accuracy"};
  } else {
    model = odd_even_model();
    options.loss["num_out"] = "sparse_categorical_crossentropy";
    options.loss["odd_out"] = "binary_crossentropy";
    options.loss_weights["odd_out"] = 0.5;
    options.metrics["num_out"] = {"accuracy"};
  }
  model->compile(options);
  return model;
}

TensorMap targets(const Model& model, const Data& d) {
  if (model.output_names().size() == 1) return {{model.output_names()[0], d.labels}};
  return {{"num_out", d.labels}, {"odd_out", d.odd}};
}

int train(const std::string& which, const std::string& optimizer, const std::string& out) {
  const char* steps = std::getenv("KILN_CHECK_STEPS");  // 5 unless set (for measurements)
  const Data d = mnist(kBatch * (steps != nullptr ? std::atoi(steps) : kSteps));
  std::unique_ptr<Model> model = compiled(which, optimizer);
  if (std::getenv("KILN_CHECK_ONE_BUCKET") != nullptr)
    distributed::set_bucket_bytes({1LL << 40, 1LL << 40});
  FitOptions fit;
  fit.batch_size = kBatch;
  fit.epochs = 1;
  fit.seed = 5;
  fit.verbose = 0;
  const History h = model->fit({{model->input_names()[0], d.images}}, targets(*model, d), fit);
  const auto scores =
      model->evaluate({{model->input_names()[0], d.images}}, targets(*model, d), 100);
  if (distributed::rank() != 0) return 0;
  std::printf("%s: world %d, loss %.7f, evaluate loss %.7f\n", which.c_str(),
              distributed::world_size(), h.values.at("loss").back(), scores.at("loss"));
  std::ofstream file(out);
  for (const auto& v : model->weights()) {
    const std::vector<float> values = v->value().to_vector<float>();
    file.precision(9);
    file << v->name() << " " << values.size();
    for (float x : values) file << " " << x;
    file << "\n";
  }
  file << "evaluate_loss 1 " << scores.at("loss") << "\n";
  return 0;
}

std::map<std::string, std::vector<double>> read_weights(const std::string& path) {
  std::map<std::string, std::vector<double>> weights;
  std::ifstream file(path);
  std::string name;
  std::size_t count = 0;
  while (file >> name >> count) {
    std::vector<double>& values = weights[name];
    values.resize(count);
    for (double& x : values) file >> x;
  }
  return weights;
}

int compare(const std::string& a_path, const std::string& b_path, double tolerance) {
  const auto a = read_weights(a_path), b = read_weights(b_path);
  if (a.size() != b.size() || a.empty()) {
    std::printf("FAIL: %zu tensors in %s, %zu in %s\n", a.size(), a_path.c_str(), b.size(),
                b_path.c_str());
    return 1;
  }
  double worst = 0, worst_l2 = 0;
  std::string worst_name;
  std::int64_t over = 0, total = 0;
  for (const auto& [name, values] : a) {
    const std::vector<double>& other = b.at(name);
    double largest = 0, diff = 0, norm = 0, diff_norm = 0;
    for (std::size_t i = 0; i < values.size(); ++i) {
      largest = std::max(largest, std::abs(values[i]));
      diff = std::max(diff, std::abs(values[i] - other.at(i)));
      norm += values[i] * values[i];
      diff_norm += (values[i] - other[i]) * (values[i] - other[i]);
    }
    for (std::size_t i = 0; i < values.size(); ++i) {
      over += std::abs(values[i] - other[i]) > tolerance * std::max(largest, 1e-30);
    }
    total += static_cast<std::int64_t>(values.size());
    const double relative = diff / std::max(largest, 1e-30);
    worst_l2 = std::max(worst_l2, std::sqrt(diff_norm / std::max(norm, 1e-300)));
    if (relative > worst) worst = relative, worst_name = name;
  }
  std::printf(
      "%s: largest difference %.3g of the tensor's largest value (in %s), tolerance %.1g; "
      "%lld of %lld values beyond it; largest relative L2 difference of a tensor %.3g\n",
      worst <= tolerance ? "ok" : "FAIL", worst, worst_name.c_str(), tolerance,
      static_cast<long long>(over), static_cast<long long>(total), worst_l2);
  return worst <= tolerance ? 0 : 1;
}

// Many small and a few large tensors, rank-dependent values: the bucketed sums equal one flat
// all-reduce of the same values, element for element.
int bucket_sums() {
  std::vector<std::int64_t> sizes;
  for (int i = 0; i < 40; ++i) sizes.push_back(1 + (i * 37) % 300);
  sizes.insert(sizes.begin() + 5, 300000);
  sizes.insert(sizes.begin() + 25, 700000);
  std::int64_t total = 0;
  for (std::int64_t s : sizes) total += s;
  std::vector<float> values(static_cast<std::size_t>(total));
  for (std::size_t i = 0; i < values.size(); ++i) {
    values[i] = std::sin(0.001f * static_cast<float>(i) + static_cast<float>(distributed::rank()));
  }
  std::vector<float> flat = values;
  distributed::all_reduce_sum(flat.data(), total);
  for (float& x : flat) x *= 0.5f;  // sum / world for 2 ranks
  distributed::GradientReducer reducer(
      sizes, {64 << 10, 512 << 10},
      [](float* data, std::int64_t count) { distributed::all_reduce_sum(data, count); });
  reducer.start(values.data(), 0.5f);
  for (std::size_t v = sizes.size(); v-- > 0;) reducer.ready(v);
  reducer.finish();
  std::int64_t differing = 0;
  for (std::size_t i = 0; i < values.size(); ++i) differing += values[i] != flat[i];
  std::printf(
      "rank %d: %zu buckets over %zu tensors (%lld floats); %lld elements differ from one flat all-reduce\n",
      distributed::rank(), reducer.buckets().size(), sizes.size(), static_cast<long long>(total),
      static_cast<long long>(differing));
  return differing == 0 && reducer.buckets().size() >= 3 ? 0 : 1;
}

// A real step of the seed model with DDP's bucket sizes: the first bucket (the dense layers,
// 1 MB) is launched while the convolutions' backward is still to come.
int bucket_overlap() {
  const Data d = synthetic(kBatch);
  std::unique_ptr<Model> model = compiled("seed");
  distributed::set_bucket_bytes({1 << 20, 25 << 20});
  model->train_step({{model->input_names()[0], d.images}}, {{model->output_names()[0], d.labels}});
  const distributed::StepReducer* step = distributed::last_step_reducer();
  if (step == nullptr || step->reducer() == nullptr) {
    std::printf("FAIL: the step did not use the bucketed reducer\n");
    return 1;
  }
  const distributed::GradientReducer& r = *step->reducer();
  const std::size_t variables = model->trainable_weights().size();
  std::printf(
      "rank %d: %zu buckets (first: variables %zu..%zu), %zu launched before the backward "
      "pass ended; the first when %zu of %zu gradients were final\n",
      distributed::rank(), r.buckets().size(), r.buckets()[0].first_variable,
      r.buckets()[0].last_variable, r.launched_before_finish(), r.final_at_launch()[0], variables);
  // The first bucket (the dense layers) goes out while the convolutions' gradients are not final.
  return r.buckets().size() >= 2 && r.launched_before_finish() == r.buckets().size() &&
                 r.final_at_launch()[0] < variables - 2
             ? 0
             : 1;
}

int buckets() {
  if (distributed::world_size() != 2) {
    std::printf("FAIL: buckets runs under mpirun -np 2 (world size %d)\n",
                distributed::world_size());
    return 1;
  }
  const int sums = bucket_sums(), overlap = bucket_overlap();
  return sums != 0 || overlap != 0 ? 1 : 0;
}

int throw_on_rank1() {
  const Data d = synthetic(kBatch * 20);
  std::unique_ptr<Model> model = compiled("seed");
  FitOptions fit;
  fit.batch_size = kBatch;
  fit.verbose = 0;
  fit.on_batch_end = [](int, std::int64_t step) {
    if (distributed::rank() == 1 && step == 1) throw Error("rank 1 fails on purpose at step 2");
  };
  model->fit({{model->input_names()[0], d.images}}, {{model->output_names()[0], d.labels}}, fit);
  std::printf("rank %d: fit finished, which it must not\n", distributed::rank());
  return 0;
}

// Steps of the seed model on MNIST, global batch 256: the seconds per step, and the share of it in
// the all-reduces and waited for them after the backward pass (benchmarks/bench_distributed.sh).
int overhead(int steps) {
  const Data d = mnist(kBatch * steps);
  std::unique_ptr<Model> model = compiled("seed");
  FitOptions fit;
  fit.batch_size = kBatch;
  fit.verbose = 0;
  const auto start = std::chrono::steady_clock::now();
  model->fit({{model->input_names()[0], d.images}}, {{model->output_names()[0], d.labels}}, fit);
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  const distributed::StepReducer* step = distributed::last_step_reducer();
  const double reduce =
      step != nullptr && step->reducer() ? step->reducer()->reduce_seconds() : 0.0;
  const double wait = step != nullptr && step->reducer() ? step->reducer()->wait_seconds() : 0.0;
  std::printf(
      "rank %d of %d: %d steps of global batch %lld, %.1f ms/step; all-reduce %.2f ms/step "
      "(%.2f%% of a step), waited after the backward %.2f ms/step (%.2f%%)\n",
      distributed::rank(), distributed::world_size(), steps, static_cast<long long>(kBatch),
      1e3 * seconds / steps, 1e3 * reduce / steps, 100 * reduce / seconds, 1e3 * wait / steps,
      100 * wait / seconds);
  return 0;
}

int run(int argc, char** argv) {
  const std::string mode = argc > 1 ? argv[1] : "";
  if (mode == "train" && argc == 5) return train(argv[2], argv[3], argv[4]);
  if (mode == "compare" && argc == 5) return compare(argv[2], argv[3], std::stod(argv[4]));
  if (mode == "buckets") return buckets();
  if (mode == "throw") return throw_on_rank1();
  if (mode == "overhead" && argc == 3) return overhead(std::atoi(argv[2]));
  std::fprintf(
      stderr,
      "usage: kiln_distributed_check train seed|two_heads adam|sgd OUT | compare A B TOL | buckets | throw\n");
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    kiln::distributed::init();
    const int status = run(argc, argv);
    kiln::distributed::finalize();
    return status;
  } catch (const kiln::Error& e) {
    kiln::distributed::abort_all(e.what(), 3);
  }
}
