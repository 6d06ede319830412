// The data-parallel parts of fit() and evaluate() (data_parallel.h).
#include "distributed/data_parallel.h"

#include "core/check.h"
#include "distributed/device_reduce.h"
#include "kiln/build_info.h"
#include "kiln/distributed.h"
#include "kiln/model.h"
#include "kiln/model_io.h"

namespace kiln::distributed {

namespace {

const StepReducer* last_reducer = nullptr;
DeviceAllReduce device_reduce = nullptr;

// The model as rank 0 and this rank see it: its config when it has one, its weights' names and
// shapes in any case, and kiln's version.
std::string model_identity(const Model& model) {
  std::string text = "kiln " + version() + "\n";
  try {
    text += model_config_json(model) + "\n";
  } catch (const Error&) {
    text += "(no Keras config)\n";
  }
  for (const auto& v : model.weights()) text += v->name() + " " + v->value().str() + "\n";
  return text;
}

// Sums `t` (f32) over the ranks after scaling it by `weight`, through a host copy.
void reduce_through_host(Tensor& t, float weight) {
  KILN_CHECK(t.dtype() == DType::f32,
             "distributed: gradients are all-reduced as f32; found a {} "
             "gradient",
             dtype_name(t.dtype()));
  std::vector<float> host = t.to_vector<float>();
  for (float& x : host) x *= weight;
  all_reduce_sum(host.data(), static_cast<std::int64_t>(host.size()));
  t.copy_from(Tensor::from_vector(host, t.shape()));
}

// Whether every gradient is a view of `buffer` (Note [Gradient buffers] in model/training.cpp).
bool in_buffer(const Tensor& buffer, const std::vector<std::shared_ptr<Variable>>& variables) {
  if (!buffer.defined()) return false;
  for (const auto& v : variables) {
    if (!v->grad().defined() || v->grad().impl()->storage != buffer.impl()->storage) return false;
  }
  return true;
}

}  // namespace

std::pair<std::int64_t, std::int64_t> shard(std::int64_t begin, std::int64_t end) {
  const std::int64_t rows = end - begin, r = rank(), w = world_size();
  return {begin + rows * r / w, begin + rows * (r + 1) / w};
}

void check_batch_divides(std::int64_t batch_size, const char* what) {
  const int w = world_size();
  KILN_CHECK(batch_size % w == 0,
             "{}: the global batch size {} does not divide among {} ranks; pass a multiple of {} "
             "(each rank takes batch_size / ranks samples of every batch)",
             what, batch_size, w, w);
}

void check_same_model(const Model& model) {
  check_same("the model (config, weight shapes) or kiln's version", model_identity(model));
}

void broadcast_values(const std::vector<std::shared_ptr<Variable>>& variables) {
  if (world_size() == 1) return;
  for (const auto& v : variables) {
    if (v->value().dtype() != DType::f32) continue;
    std::vector<float> host = v->value().to_vector<float>();
    broadcast(host.data(), static_cast<std::int64_t>(host.size()));
    v->value().copy_from(Tensor::from_vector(host, v->value().shape()));
  }
}

bool rank0_says(bool flag) {
  if (world_size() == 1) return flag;
  float value = rank() == 0 && flag ? 1.0f : 0.0f;
  broadcast(&value, 1);
  return value != 0.0f;
}

std::vector<std::pair<std::string, double>> reduced_means(
    std::vector<std::pair<std::string, double>> means, const std::vector<double>& counts) {
  if (world_size() == 1) return means;
  std::vector<double> totals(means.size() * 2);
  for (std::size_t i = 0; i < means.size(); ++i) {
    totals[i] = means[i].second * counts[i];
    totals[means.size() + i] = counts[i];
  }
  all_reduce_sum(totals.data(), static_cast<std::int64_t>(totals.size()));
  for (std::size_t i = 0; i < means.size(); ++i) {
    const double count = totals[means.size() + i];
    means[i].second = count > 0 ? totals[i] / count : 0.0;
  }
  return means;
}

GradientReducer& StepReducer::reducer_for(const std::vector<std::shared_ptr<Variable>>& variables) {
  std::vector<std::int64_t> sizes;
  for (const auto& v : variables) sizes.push_back(v->value().numel());
  if (!reducer_ || sizes != sizes_) {
    reducer_ = std::make_unique<GradientReducer>(
        sizes, bucket_bytes(),
        [](float* data, std::int64_t count) { all_reduce_sum(data, count); });
    sizes_ = sizes;
  }
  return *reducer_;
}

void StepReducer::accumulate(GradientTape& tape, const Tensor& total,
                             const std::vector<std::shared_ptr<Variable>>& variables,
                             const Tensor& buffer, float weight) {
  set_last_step_reducer(this);
  Tensor flat = buffer;
  if (in_buffer(flat, variables) && flat.device() == Device::cpu()) {
    GradientReducer& reducer = reducer_for(variables);
    reducer.start(flat.data<float>(), weight);
    try {
      tape.accumulate(total, variables, [&](std::size_t i) { reducer.ready(i); });
      reducer.finish();
    } catch (const Error& e) {
      // Buckets may be half way through an all-reduce that the other ranks will never finish:
      // nothing can be unwound, so every rank stops here with this rank's message.
      abort_all(std::string("in the backward pass of a data-parallel step: ") + e.what(), 1);
    }
    return;
  }
  tape.accumulate(total, variables);
  if (in_buffer(flat, variables)) {  // on a GPU: NCCL on the device's stream when kiln has it
    if (flat.device().is_cuda() && device_reduce != nullptr) {
      device_reduce(flat, weight);
    } else {
      reduce_through_host(flat, weight);
    }
    return;
  }
  for (const auto& v : variables) reduce_through_host(v->grad(), weight);
}

void set_device_all_reduce(DeviceAllReduce reduce) { device_reduce = reduce; }
DeviceAllReduce device_all_reduce() { return device_reduce; }

const StepReducer* last_step_reducer() { return last_reducer; }
void set_last_step_reducer(const StepReducer* reducer) { last_reducer = reducer; }

}  // namespace kiln::distributed
