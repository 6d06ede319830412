// kiln_distributed_check: the programs the data-parallel tests run, one process or under
// `mpirun -np 2` (tests/distributed/*.sh). Each mode prints what it measured and exits non-zero
// when a check fails.
//   train seed|two_heads adam|sgd OUT
//                              5 steps of global batch 256 from the same weights; rank 0 writes
//                              every weight to OUT (name, count, floats)
//                              (KILN_CHECK_BATCH, KILN_CHECK_STEPS: another batch and step count;
//                              KILN_CHECK_DEVICE=cpu|cuda|rank: the device, "rank" = this rank's
//                              own, cuda:local_rank; on a GPU the step's buckets must go out
//                              during the backward pass, through NCCL)
//   compare A B TOLERANCE      the weights of two train runs agree to TOLERANCE, relative to each
//                              tensor's largest value
//   evaluate seed|two_heads|bn N BATCH OUT
//                              evaluate on the first N MNIST test images, BATCH per rank's batch;
//                              every rank writes its scores to OUT.<rank>
//   scores A B TOLERANCE       two evaluate results: the same keys, accuracies equal, losses to
//                              TOLERANCE relative
//   batchnorm OUT              4 steps (no shuffle) of a model with two BatchNormalization layers;
//                              every rank writes their moving statistics to OUT.<rank>; the input
//                              BatchNormalization's must be what Note [Moving statistics]
//                              predicts from the data
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

#include <fmt/format.h>

#ifdef KILN_CHECK_NCCL_STANDIN
#include <cuda_runtime_api.h>
#include <nccl.h>

#include <cstring>
#endif

#include "distributed/data_parallel.h"
#include "distributed/device_reduce.h"
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

// Input → BatchNormalization → Conv2D → BatchNormalization → Flatten → Dense: the first layer's
// batch statistics are the pixels' (independent of the weights), so its moving statistics can be
// predicted from the data alone.
std::unique_ptr<Model> batchnorm_model() {
  auto model = std::make_unique<Sequential>();
  model->add(InputLayer({28, 28, 1}));
  model->add(BatchNormalization({.momentum = 0.5, .name = "bn_input"}));
  model->add(Conv2D(4, 3, {.activation = "relu"}));
  model->add(BatchNormalization({.momentum = 0.5, .name = "bn_features"}));
  model->add(Flatten());
  model->add(Dense(10, {.activation = "softmax"}));
  return model;
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
  if (which == "seed" || which == "bn") {
    model = which == "seed" ? seed_model() : batchnorm_model();
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

std::int64_t env_int(const char* name, std::int64_t otherwise) {
  const char* value = std::getenv(name);
  return value != nullptr ? std::atoll(value) : otherwise;
}

// KILN_CHECK_DEVICE: cpu (the default), cuda, or rank (this rank's own: cuda:local_rank).
Device check_device() {
  const char* value = std::getenv("KILN_CHECK_DEVICE");
  const std::string name = value != nullptr ? value : "cpu";
  if (name == "rank") return distributed::rank_device();
  return name == "cuda" ? Device::cuda(0) : Device::cpu();
}

// On a GPU, the last step's gradients went through NCCL in buckets launched during the backward
// pass (Note [Gradient buckets on a GPU]): 0 when so.
int check_device_buckets(const Model& model) {
  const distributed::StepReducer* step = distributed::last_step_reducer();
  if (!distributed::built_with_nccl() || distributed::device_all_reduce().reduce == nullptr) {
    std::printf("FAIL: this kiln has no NCCL (nor the emulation's stand-in)\n");
    return 1;
  }
  if (step == nullptr || step->reducer() == nullptr) {
    std::printf("FAIL: the GPU step did not use the bucketed reducer\n");
    return 1;
  }
  const distributed::GradientReducer& r = *step->reducer();
  const std::size_t variables = model.trainable_weights().size();
  std::string launches;
  for (std::size_t b = 0; b < r.buckets().size(); ++b) {
    launches += fmt::format("{}bucket {} (variables {}..{}) when {} of {} gradients were final",
                            b == 0 ? "" : ", ", b, r.buckets()[b].first_variable,
                            r.buckets()[b].last_variable, r.final_at_launch()[b], variables);
  }
  std::printf("rank %d: NCCL, %zu buckets, %zu launched before the backward pass ended: %s\n",
              distributed::rank(), r.buckets().size(), r.launched_before_finish(),
              launches.c_str());
  const bool overlapped = r.buckets().size() >= 2 &&
                          r.launched_before_finish() == r.buckets().size() &&
                          r.final_at_launch()[0] < variables - 2;
  if (!overlapped) std::printf("FAIL: the buckets did not go out during the backward pass\n");
  return overlapped ? 0 : 1;
}

int train(const std::string& which, const std::string& optimizer, const std::string& out) {
  const std::int64_t batch = env_int("KILN_CHECK_BATCH", kBatch);
  const Data d = mnist(batch * env_int("KILN_CHECK_STEPS", kSteps));
  std::unique_ptr<Model> model = compiled(which, optimizer);
  const Device device = check_device();
  model->to(device);
  if (std::getenv("KILN_CHECK_ONE_BUCKET") != nullptr)
    distributed::set_bucket_bytes({1LL << 40, 1LL << 40});
  FitOptions fit;
  fit.batch_size = batch;
  fit.epochs = 1;
  fit.seed = 5;
  fit.verbose = 0;
  const History h = model->fit({{model->input_names()[0], d.images}}, targets(*model, d), fit);
  const int buckets = device.is_cuda() && distributed::active() ? check_device_buckets(*model) : 0;
  const auto scores =
      model->evaluate({{model->input_names()[0], d.images}}, targets(*model, d), 100);
  if (distributed::rank() != 0) return buckets;
  std::printf("%s on %s: world %d, loss %.7f, evaluate loss %.7f\n", which.c_str(),
              device.str().c_str(), distributed::world_size(), h.values.at("loss").back(),
              scores.at("loss"));
  std::ofstream file(out);
  for (const auto& v : model->weights()) {
    const std::vector<float> values = v->value().to_vector<float>();
    file.precision(9);
    file << v->name() << " " << values.size();
    for (float x : values) file << " " << x;
    file << "\n";
  }
  file << "evaluate_loss 1 " << scores.at("loss") << "\n";
  return buckets;
}

// The first n MNIST test images and their targets.
Data mnist_test(std::int64_t n) {
  const Dataset d = load_mnist();
  n = std::min(n, d.x_test.dim(0));
  return with_odd(d.x_test.narrow(0, n).clone(), d.y_test.narrow(0, n).clone());
}

// Every rank writes what its evaluate returned (the reduced scores, the same on every rank).
int evaluate(const std::string& which, std::int64_t n, std::int64_t batch, const std::string& out) {
  const Data d = mnist_test(n);
  std::unique_ptr<Model> model = compiled(which);
  model->to(check_device());
  const auto scores =
      model->evaluate({{model->input_names()[0], d.images}}, targets(*model, d), batch);
  std::ofstream file(out + "." + std::to_string(distributed::rank()));
  file.precision(17);
  for (const auto& [key, value] : scores) file << key << " 1 " << value << "\n";
  if (distributed::rank() == 0) {
    std::printf("evaluate %s on %lld images, batch %lld, world %d:", which.c_str(),
                static_cast<long long>(n), static_cast<long long>(batch),
                distributed::world_size());
    for (const auto& [key, value] : scores) std::printf(" %s %.9g", key.c_str(), value);
    std::printf("\n");
  }
  return 0;
}

std::map<std::string, std::vector<double>> read_weights(const std::string& path);

int compare_scores(const std::string& a_path, const std::string& b_path, double tolerance) {
  const auto a = read_weights(a_path), b = read_weights(b_path);
  if (a.empty() || a.size() != b.size()) {
    std::printf("FAIL: %zu scores in %s, %zu in %s\n", a.size(), a_path.c_str(), b.size(),
                b_path.c_str());
    return 1;
  }
  int failed = 0;
  for (const auto& [key, values] : a) {
    if (b.count(key) == 0) {
      std::printf("FAIL: %s is missing from %s\n", key.c_str(), b_path.c_str());
      return 1;
    }
    const double x = values.at(0), y = b.at(key).at(0);
    const double relative = std::abs(x - y) / std::max(std::abs(x), 1e-30);
    const bool accuracy = key.find("accuracy") != std::string::npos;
    const bool ok = accuracy ? x == y : relative <= tolerance;
    std::printf("%s %s: %.9g and %.9g (relative difference %.3g%s)\n", ok ? "ok" : "FAIL",
                key.c_str(), x, y, relative, accuracy ? ", must be equal" : "");
    failed += ok ? 0 : 1;
  }
  return failed == 0 ? 0 : 1;
}

// Moving mean and variance (biased, per channel) of BatchNormalization on the images themselves,
// as Note [Moving statistics] predicts for `world` ranks: each step's statistics are the mean
// over the ranks of their shards' statistics. In double.
std::pair<std::vector<double>, std::vector<double>> predicted_input_statistics(const Tensor& images,
                                                                               std::int64_t batch,
                                                                               int world,
                                                                               double momentum) {
  const std::vector<float> pixels = images.to_vector<float>();
  const std::int64_t per_image = images.numel() / images.dim(0);
  double mean = 0.0, variance = 1.0;  // Keras's initial values; one channel
  for (std::int64_t begin = 0; begin < images.dim(0); begin += batch) {
    const std::int64_t rows = std::min(batch, images.dim(0) - begin);
    double step_mean = 0.0, step_variance = 0.0;
    for (int r = 0; r < world; ++r) {  // the shards of distributed::shard
      const std::int64_t first = begin + rows * r / world, last = begin + rows * (r + 1) / world;
      double sum = 0.0, squares = 0.0;
      const auto count = static_cast<double>((last - first) * per_image);
      for (std::int64_t i = first * per_image; i < last * per_image; ++i) sum += pixels[i];
      const double m = sum / count;
      for (std::int64_t i = first * per_image; i < last * per_image; ++i)
        squares += (pixels[i] - m) * (pixels[i] - m);
      step_mean += m / world;
      step_variance += squares / count / world;
    }
    mean = mean * momentum + step_mean * (1 - momentum);
    variance = variance * momentum + step_variance * (1 - momentum);
  }
  return {{mean}, {variance}};
}

int batchnorm(const std::string& out) {
  constexpr std::int64_t kBnBatch = 64, kBnSteps = 4;
  const Data d = mnist(kBnBatch * kBnSteps);
  std::unique_ptr<Model> model = compiled("bn", "sgd");
  model->to(check_device());
  FitOptions fit;
  fit.batch_size = kBnBatch;
  fit.shuffle = false;  // batch k is rows [64k, 64k + 64): the prediction below needs no shuffle
  fit.verbose = 0;
  model->fit({{model->input_names()[0], d.images}}, targets(*model, d), fit);
  std::ofstream file(out + "." + std::to_string(distributed::rank()));
  file.precision(9);
  std::vector<float> mean, variance;
  for (const LayerPtr& layer : model->layers()) {
    for (const auto& w : layer->weights()) {
      if (w->trainable()) continue;
      const std::vector<float> values = w->value().to_vector<float>();
      file << layer->name() << "/" << w->name() << " " << values.size();
      for (float x : values) file << " " << x;
      file << "\n";
      if (layer->name() == "bn_input")
        (w->name().find("mean") != std::string::npos ? mean : variance) = values;
    }
  }
  const int world = distributed::world_size();
  const auto [want_mean, want_variance] =
      predicted_input_statistics(d.images, kBnBatch, world, 0.5);
  const auto [one_mean, one_variance] = predicted_input_statistics(d.images, kBnBatch, 1, 0.5);
  const double mean_error = std::abs(mean.at(0) - want_mean[0]) / std::abs(want_mean[0]);
  const double variance_error =
      std::abs(variance.at(0) - want_variance[0]) / std::abs(want_variance[0]);
  const bool ok = mean_error <= 1e-5 && variance_error <= 1e-5;
  std::printf(
      "%s rank %d of %d: bn_input moving mean %.8g (predicted %.8g, relative error %.2g), moving "
      "variance %.8g (predicted %.8g, relative error %.2g); one process would have %.8g and "
      "%.8g\n",
      ok ? "ok" : "FAIL", distributed::rank(), world, mean[0], want_mean[0], mean_error,
      variance[0], want_variance[0], variance_error, one_mean[0], one_variance[0]);
  return ok ? 0 : 1;
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

#ifdef KILN_CHECK_NCCL_STANDIN
// The CUDA emulation's NCCL stand-in itself (cuda/emulation/nccl/nccl.cpp, Note [NCCL over MPI]),
// under mpirun -np 2: sums plain and pre-multiplied, in place and not, group calls held to their
// end, and the refusals, each with its result and its reason for ncclGetLastError.
int standin() {
  int failures = 0;
  auto expect = [&](bool ok, const std::string& what) {
    if (!ok) ++failures;
    std::printf("%s rank %d: %s\n", ok ? "ok" : "FAIL", distributed::rank(), what.c_str());
  };
  auto refused = [&](ncclResult_t got, ncclResult_t want, const std::string& reason,
                     const std::string& what) {
    const std::string last = ncclGetLastError(nullptr);
    expect(got == want && last.find(reason) != std::string::npos,
           fmt::format("{} is refused: {} ({})", what, ncclGetErrorString(got), last));
  };
  const int rank = distributed::rank();
  cudaSetDevice(distributed::local_rank());
  ncclUniqueId id;
  std::memset(&id, 0, sizeof id);
  if (rank == 0) ncclGetUniqueId(&id);
  std::string bytes(reinterpret_cast<const char*>(&id), sizeof id);
  distributed::broadcast(bytes);
  std::memcpy(&id, bytes.data(), sizeof id);

  ncclComm_t comm = nullptr;
  expect(ncclCommInitRank(&comm, 2, id, rank) == ncclSuccess, "ncclCommInitRank of 2 ranks");
  ncclComm_t wrong = nullptr;
  refused(ncclCommInitRank(&wrong, 3, id, rank), ncclInvalidUsage, "disagree",
          "3 ranks announced, 2 joining (on every rank, none hangs)");
  ncclUniqueId zero;
  std::memset(&zero, 0, sizeof zero);
  refused(ncclCommInitRank(&wrong, 2, zero, rank), ncclInvalidArgument, "ncclGetUniqueId",
          "a unique id not made by ncclGetUniqueId");

  constexpr std::size_t n = 1000;
  float* a = nullptr;
  float* b = nullptr;
  cudaMalloc(reinterpret_cast<void**>(&a), n * sizeof(float));
  cudaMalloc(reinterpret_cast<void**>(&b), n * sizeof(float));
  std::vector<float> host(n);
  for (std::size_t i = 0; i < n; ++i)
    host[i] = static_cast<float>(rank + 1) * static_cast<float>(i);
  cudaMemcpy(a, host.data(), n * sizeof(float), cudaMemcpyHostToDevice);
  cudaStream_t stream = nullptr;
  cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking);
  // Group: in place on the first half, into b from the second; nothing runs before the end.
  ncclGroupStart();
  ncclAllReduce(a, a, n / 2, ncclFloat, ncclSum, comm, stream);
  ncclAllReduce(a + n / 2, b, n / 2, ncclFloat, ncclSum, comm, stream);
  std::vector<float> seen(n);
  cudaMemcpy(seen.data(), a, n * sizeof(float), cudaMemcpyDeviceToHost);
  expect(seen == host, "collectives inside a group are held until ncclGroupEnd");
  expect(ncclGroupEnd() == ncclSuccess, "ncclGroupEnd");
  cudaMemcpy(seen.data(), a, n / 2 * sizeof(float), cudaMemcpyDeviceToHost);
  cudaMemcpy(seen.data() + n / 2, b, n / 2 * sizeof(float), cudaMemcpyDeviceToHost);
  bool sums = true;
  for (std::size_t i = 0; i < n; ++i) sums = sums && seen[i] == 3.0f * static_cast<float>(i);
  expect(sums, "the sums over 2 ranks, in place and into another buffer");
  // Pre-multiplied: 0.25 on rank 0, 0.75 on rank 1, of 4 * i on each: 4 * i.
  for (std::size_t i = 0; i < n; ++i) host[i] = 4.0f * static_cast<float>(i);
  cudaMemcpy(a, host.data(), n * sizeof(float), cudaMemcpyHostToDevice);
  float weight = rank == 0 ? 0.25f : 0.75f;
  ncclRedOp_t op = ncclSum;
  expect(ncclRedOpCreatePreMulSum(&op, &weight, ncclFloat, ncclScalarHostImmediate, comm) ==
             ncclSuccess,
         "ncclRedOpCreatePreMulSum");
  weight = 100.0f;  // read at creation (ncclScalarHostImmediate)
  expect(ncclAllReduce(a, a, n, ncclFloat, op, comm, stream) == ncclSuccess,
         "ncclAllReduce with the operator");
  expect(ncclRedOpDestroy(op, comm) == ncclSuccess, "ncclRedOpDestroy");
  cudaMemcpy(seen.data(), a, n * sizeof(float), cudaMemcpyDeviceToHost);
  expect(seen == host, "pre-multiplied sum: 0.25 x + 0.75 x = x");
  refused(ncclAllReduce(a, a, n, ncclFloat, op, comm, stream), ncclInvalidArgument, "reduction",
          "a destroyed operator");
  refused(ncclAllReduce(host.data(), a, n, ncclFloat, ncclSum, comm, stream), ncclInvalidArgument,
          "sendbuff", "a host buffer");
  refused(ncclAllReduce(a, a, n + 1, ncclFloat, ncclSum, comm, stream), ncclInvalidArgument,
          "sendbuff", "a count beyond the allocation");
  refused(ncclAllReduce(a, a + 1, n - 1, ncclFloat, ncclSum, comm, stream), ncclInvalidArgument,
          "overlap", "partly overlapping buffers");
  refused(ncclAllReduce(a, a, n, ncclDouble, ncclSum, comm, stream), ncclInvalidArgument,
          "not emulated", "a type other than ncclFloat");
  refused(ncclGroupEnd(), ncclInvalidUsage, "without ncclGroupStart", "ncclGroupEnd alone");
  cudaStreamDestroy(stream);
  cudaFree(a);
  cudaFree(b);
  expect(ncclCommDestroy(comm) == ncclSuccess, "ncclCommDestroy");
  refused(ncclCommDestroy(comm), ncclInvalidArgument, "does not exist", "a second ncclCommDestroy");
  return failures == 0 ? 0 : 1;
}
#endif

int run(int argc, char** argv) {
  const std::string mode = argc > 1 ? argv[1] : "";
  if (mode == "train" && argc == 5) return train(argv[2], argv[3], argv[4]);
  if (mode == "compare" && argc == 5) return compare(argv[2], argv[3], std::stod(argv[4]));
  if (mode == "evaluate" && argc == 6)
    return evaluate(argv[2], std::atoll(argv[3]), std::atoll(argv[4]), argv[5]);
  if (mode == "scores" && argc == 5) return compare_scores(argv[2], argv[3], std::stod(argv[4]));
  if (mode == "batchnorm" && argc == 3) return batchnorm(argv[2]);
#ifdef KILN_CHECK_NCCL_STANDIN
  if (mode == "standin") return standin();
#endif
  if (mode == "buckets") return buckets();
  if (mode == "throw") return throw_on_rank1();
  if (mode == "overhead" && argc == 3) return overhead(std::atoi(argv[2]));
  std::fprintf(
      stderr,
      "usage: kiln_distributed_check train seed|two_heads adam|sgd OUT | compare A B TOL | "
      "evaluate seed|two_heads|bn N BATCH OUT | scores A B TOL | batchnorm OUT | buckets | "
      "throw | overhead STEPS\n");
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
