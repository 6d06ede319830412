// The data-parallel parts of fit() and evaluate() (data_parallel.h).
//
// Note [Gradient buckets on a GPU]
// ~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~
// With NCCL (cuda/nccl_comm.cpp, or the CUDA emulation's stand-in) the buckets of Note [Gradient
// buckets] are summed on the GPU as on the CPU — cut from the end of the flat gradient buffer,
// launched in bucket order as soon as the tape says their gradients are final — but with no
// thread: launching a bucket queues, on a communication stream of its own, a wait for the work
// queued so far on the device's stream (the backward kernels that made those gradients) and then
// ncclAllReduce of the bucket scaled by this rank's weight (NCCL's pre-multiplied sum). The host
// returns at once to queue the rest of the backward pass, which the GPU runs on its stream while
// the communication stream sums the bucket. After the backward pass the device's stream waits for
// the communication stream, so the optimizer's update reads the sums; the host never waits.
// Without NCCL the buffer is summed after the backward pass through a host copy and MPI.
//
// Note [Moving statistics]
// ~~~~~~~~~~~~~~~~~~~~~~~~
// A training forward pass of BatchNormalization normalises with its shard's batch mean and
// variance and moves its moving statistics towards them, on each rank alone:
// moving = momentum * moving + (1 - momentum) * batch. PyTorch DDP's default
// (broadcast_buffers) overwrites every rank's buffers with rank 0's at each forward, so the model
// keeps the statistics of rank 0's shards only (1/N of the data) and ranks differ after the last
// step. kiln instead averages them over the ranks at the end of every epoch of fit (before the
// validation pass, the epoch callbacks and so the checkpoints): every rank then holds the same
// values, and because the update is linear and every rank starts the epoch from the same values,
// the average is exactly the moving average of the ranks' mean batch statistics at every step —
// as if averaged at every step, at no per-step cost. For the moving mean that is what one process
// computes from the global batch (the mean of equal shards' means is the batch's mean; to float
// rounding). For the moving variance it is the mean of the shards' variances, smaller than the
// global batch's variance by the variance of the shards' means (a share of about 1/shard rows for
// a random shuffle) — as with DDP's rule, exact equality with one process would need
// SyncBatchNorm (batch statistics reduced over the ranks in every forward and backward pass),
// which kiln does not have. A last batch whose shards are unequal counts each rank's shard
// equally. Frozen layers (trainable false) normalise with their moving statistics and never move
// them: they are left alone.
#include "distributed/data_parallel.h"

#include "core/check.h"
#include "core/tensor_impl.h"
#include "distributed/device_reduce.h"
#include "kiln/build_info.h"
#include "kiln/distributed.h"
#include "kiln/model.h"
#include "kiln/model_io.h"

namespace kiln::distributed {

namespace {

const StepReducer* last_reducer = nullptr;
DeviceAllReduce device_reduce;

// The model as rank 0 and this rank see it: its config when it has one, its weights' names,
// dtypes and shapes in any case, and kiln's version — not their device: each rank has its own GPU.
std::string model_identity(const Model& model) {
  std::string text = "kiln " + version() + "\n";
  try {
    text += model_config_json(model) + "\n";
  } catch (const Error&) {
    text += "(no Keras config)\n";
  }
  for (const auto& v : model.weights()) {
    text += v->name() + " " + dtype_name(v->value().dtype()) + " " + shape_str(v->value().shape()) +
            "\n";
  }
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

void average_moving_statistics(const Model& model) {
  if (world_size() == 1) return;
  const float share = 1.0f / static_cast<float>(world_size());
  for (const LayerPtr& layer : model.layers()) {
    if (!layer->trainable()) continue;
    for (const auto& w : layer->weights()) {
      if (w->trainable() || w->value().dtype() != DType::f32) continue;
      reduce_through_host(w->value(), share);  // this rank's share, summed over the ranks
    }
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

GradientReducer& StepReducer::reducer_for(const std::vector<std::shared_ptr<Variable>>& variables,
                                          bool on_device) {
  std::vector<std::int64_t> sizes;
  for (const auto& v : variables) sizes.push_back(v->value().numel());
  if (!reducer_ || sizes != sizes_ || on_device != on_device_) {
    if (on_device) {  // Note [Gradient buckets on a GPU]
      reducer_ = std::make_unique<GradientReducer>(
          sizes, bucket_bytes(),
          [this](const Bucket& b) {
            device_reduce.reduce(device_buffer_, b.begin, b.end, device_weight_);
          },
          GradientReducer::OnCallingThread());
    } else {
      reducer_ = std::make_unique<GradientReducer>(
          sizes, bucket_bytes(),
          [](float* data, std::int64_t count) { all_reduce_sum(data, count); });
    }
    sizes_ = sizes;
    on_device_ = on_device;
  }
  return *reducer_;
}

void StepReducer::accumulate(GradientTape& tape, const Tensor& total,
                             const std::vector<std::shared_ptr<Variable>>& variables,
                             const Tensor& buffer, float weight) {
  set_last_step_reducer(this);
  Tensor flat = buffer;
  const bool bucketed = in_buffer(flat, variables);
  const bool on_cpu = bucketed && flat.device() == Device::cpu();
  const bool on_gpu = bucketed && flat.device().is_cuda() && device_reduce.reduce != nullptr;
  if (on_cpu || on_gpu) {
    GradientReducer& reducer = reducer_for(variables, on_gpu);
    if (on_gpu) {
      device_buffer_ = flat;
      device_weight_ = weight;
    }
    reducer.start(on_cpu ? flat.data<float>() : nullptr, weight);
    try {
      tape.accumulate(total, variables, [&](std::size_t i) { reducer.ready(i); });
      reducer.finish();
      if (on_gpu) device_reduce.join(flat);
    } catch (const Error& e) {
      // Buckets may be half way through an all-reduce that the other ranks will never finish:
      // nothing can be unwound, so every rank stops here with this rank's message.
      abort_all(std::string("in the backward pass of a data-parallel step: ") + e.what(), 1);
    }
    device_buffer_ = Tensor();
    return;
  }
  tape.accumulate(total, variables);
  if (bucketed) {  // on a GPU without NCCL: through the host, after the backward pass
    reduce_through_host(flat, weight);
    return;
  }
  for (const auto& v : variables) reduce_through_host(v->grad(), weight);
}

void set_device_all_reduce(const DeviceAllReduce& reduce) { device_reduce = reduce; }
const DeviceAllReduce& device_all_reduce() { return device_reduce; }
void release_device_communicator() {
  if (device_reduce.release != nullptr) device_reduce.release();
}

const StepReducer* last_step_reducer() { return last_reducer; }
void set_last_step_reducer(const StepReducer* reducer) { last_reducer = reducer; }

}  // namespace kiln::distributed
