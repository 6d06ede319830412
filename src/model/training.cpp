// compile / fit / evaluate / predict / train_step. Losses and metrics by Keras's names; the data
// is moved to the model's device once, each epoch's shuffled order is uploaded once, and batches
// are gathered there from slices of it. A training step waits for the device nowhere: losses and
// accuracy counts stay on the device (Note [Metrics on the device] in model/metric_sums.h), the
// gradients go into buffers allocated once (Note [Gradient buffers]) and Adam's step counter lives
// on the device (backend::AdamStep). On a GPU, full batches replay one captured step (Note
// [Captured steps] in model/step_graph.cpp).
//
// Note [Gradient buffers]
// ~~~~~~~~~~~~~~~~~~~~~~~
// Every variable's grad() is a view into one flat buffer on the model's device, allocated at the
// first step (and again only when the model moves or its variables change) and zeroed with one
// fill per step; the tape adds each gradient into its view. No per-step allocation or copy, the
// addresses stay the same from step to step (what a captured CUDA graph needs), and one flat
// buffer is what an all-reduce of the gradients works on.
#include <algorithm>
#include <cmath>
#include <numeric>

#include "backend/backend.h"
#include "core/check.h"
#include "core/counter_rng.h"
#include "core/tensor_impl.h"
#include "distributed/data_parallel.h"
#include "kiln/distributed.h"
#include "kiln/model.h"
#include "model/metric_sums.h"
#include "model/progress.h"
#include "model/step_graph.h"
#include "ops/op_helpers.h"

namespace kiln {

namespace {

enum class LossKind { categorical, sparse_categorical, binary };

LossKind parse_loss(const std::string& name) {
  if (name == "categorical_crossentropy") return LossKind::categorical;
  if (name == "sparse_categorical_crossentropy") return LossKind::sparse_categorical;
  if (name == "binary_crossentropy") return LossKind::binary;
  fail(
      "compile: unknown loss '{}'; expected categorical_crossentropy, "
      "sparse_categorical_crossentropy or binary_crossentropy",
      name);
}

Tensor compute_loss(LossKind kind, const Tensor& y_true, const Tensor& y_pred) {
  switch (kind) {
    case LossKind::categorical: return categorical_crossentropy(y_true, y_pred);
    case LossKind::sparse_categorical: return sparse_categorical_crossentropy(y_true, y_pred);
    case LossKind::binary: return binary_crossentropy(y_true, y_pred);
  }
  fail("unknown loss kind");
}

backend::AccuracyKind accuracy_kind(LossKind kind) {
  switch (kind) {
    case LossKind::categorical: return backend::AccuracyKind::categorical;
    case LossKind::sparse_categorical: return backend::AccuracyKind::sparse_categorical;
    case LossKind::binary: return backend::AccuracyKind::binary;
  }
  fail("unknown loss kind");
}

// Correct predictions in a batch (Keras's "accuracy" for the output's loss), counted on the
// device into a fresh one-element f32 tensor.
Tensor count_correct(LossKind kind, const Tensor& y_true, const Tensor& y_pred) {
  Tensor correct = Tensor::zeros({1}, DType::f32, y_pred.device());
  backend::backend_for(y_pred.device())
      .accuracy_count(accuracy_kind(kind), y_pred, y_true, correct);
  return correct;
}

std::int64_t samples_in(const TensorMap& map, const char* what) {
  KILN_CHECK(!map.empty(), "{}: no tensors given", what);
  const std::int64_t n = map.begin()->second.dim(0);
  for (const auto& [name, t] : map) {
    KILN_CHECK(t.defined() && t.rank() >= 1 && t.dim(0) == n,
               "{}: '{}' has {} samples, '{}' has {}", what, map.begin()->first, n, name,
               t.defined() && t.rank() >= 1 ? t.dim(0) : 0);
  }
  return n;
}

TensorMap gather_batch(const TensorMap& data, const Tensor& indices) {
  TensorMap batch;
  for (const auto& [name, t] : data) {
    Shape shape = t.shape();
    shape[0] = indices.dim(0);
    Tensor out = Tensor::empty(shape, t.dtype(), t.device());
    backend::backend_for(t.device()).gather_rows(t, indices, out);
    batch[name] = out;
  }
  return batch;
}

TensorMap move_all(const TensorMap& data, Device device) {
  TensorMap moved;
  for (const auto& [name, t] : data) moved[name] = t.to(device);
  return moved;
}

std::vector<std::int32_t> in_order(std::int64_t n) {
  std::vector<std::int32_t> order(static_cast<std::size_t>(n));
  std::iota(order.begin(), order.end(), 0);
  return order;
}

std::vector<std::int32_t> shuffled(std::int64_t n, std::uint64_t seed, bool shuffle) {
  std::vector<std::int32_t> order(static_cast<std::size_t>(n));
  std::iota(order.begin(), order.end(), 0);
  if (!shuffle) return order;
  for (std::int64_t i = n - 1; i > 0; --i) {  // Fisher–Yates on the counter RNG
    const auto j = static_cast<std::int64_t>(rng::uniform01(seed, static_cast<std::uint64_t>(i)) *
                                             static_cast<double>(i + 1));
    std::swap(order[static_cast<std::size_t>(i)], order[static_cast<std::size_t>(j)]);
  }
  return order;
}

// Note [Metrics on the device]: the non-finite-loss stop runs where the sums are read.
void check_finite_loss(const std::vector<std::pair<std::string, double>>& means, int epoch,
                       std::int64_t step, std::int64_t steps) {
  const double loss = means.front().second;  // "loss" comes first
  KILN_CHECK(std::isfinite(loss),
             "fit: the loss became {} at epoch {}, by step {}/{} (the loss is read when the "
             "progress line is drawn and at the end of each epoch, so the first bad step may be "
             "earlier); training stopped (no checkpoint was written after the last good epoch). "
             "Rerun with check_numerics to find the op",
             loss, epoch + 1, step, steps);
}

std::map<std::string, double> as_map(const std::vector<std::pair<std::string, double>>& values) {
  return {values.begin(), values.end()};
}

}  // namespace

struct Model::Compiled {
  struct Head {
    std::string output;
    LossKind loss;
    double weight = 1.0;
    bool accuracy = false;
  };
  std::vector<Head> heads;
  std::shared_ptr<Optimizer> optimizer;
  // Data-parallel steps (docs/DISTRIBUTED.md): this rank's share of the step's global batch
  // (fit sets it per step; train_step alone takes an equal share) and the gradients' all-reduce.
  float rank_weight = 0.0f;  // 0: 1 / world size
  float step_weight() const {
    return rank_weight > 0.0f ? rank_weight : 1.0f / static_cast<float>(distributed::world_size());
  }
  distributed::StepReducer reducer;

  std::string key(const Head& head, const std::string& metric) const {
    return heads.size() == 1 ? metric : head.output + "_" + metric;
  }
  // Keras's order: loss, each output's loss, then each output's metrics.
  std::vector<std::string> keys() const {
    std::vector<std::string> k{"loss"};
    if (heads.size() > 1) {
      for (const Head& h : heads) k.push_back(key(h, "loss"));
    }
    for (const Head& h : heads) {
      if (h.accuracy) k.push_back(key(h, "accuracy"));
    }
    return k;
  }
};

void Model::compile(const CompileOptions& options) {
  check_built();
  auto state = std::make_shared<Compiled>();
  state->optimizer = options.optimizer ? options.optimizer : std::make_shared<Adam>();
  const std::vector<std::string> outputs = output_names();
  auto lookup = [&](const auto& map, const std::string& output) {
    auto it = map.find(output);
    return it != map.end() ? it : map.find("");
  };
  for (const auto& [key, value] : options.loss) {
    KILN_CHECK(key.empty() || std::count(outputs.begin(), outputs.end(), key) == 1,
               "compile: loss given for '{}', which is not an output of model '{}'", key, name_);
    (void)value;
  }
  for (const std::string& output : outputs) {
    Compiled::Head head;
    head.output = output;
    auto loss = lookup(options.loss, output);
    KILN_CHECK(loss != options.loss.end(), "compile: no loss given for output '{}'", output);
    head.loss = parse_loss(loss->second);
    if (auto w = options.loss_weights.find(output); w != options.loss_weights.end())
      head.weight = w->second;
    if (auto m = lookup(options.metrics, output); m != options.metrics.end()) {
      for (const std::string& metric : m->second) {
        KILN_CHECK(metric == "accuracy" || metric == "acc",
                   "compile: unknown metric '{}' for output '{}'; expected accuracy", metric,
                   output);
        head.accuracy = true;
      }
    }
    state->heads.push_back(head);
  }
  compile_options_ = options;
  compile_options_.optimizer = state->optimizer;
  compiled_state_ = state;
  compiled_ = true;
}

void Model::compile(std::shared_ptr<Optimizer> optimizer, const std::string& loss,
                    const std::vector<std::string>& metrics) {
  CompileOptions options;
  options.optimizer = std::move(optimizer);
  options.loss[""] = loss;
  if (!metrics.empty()) options.metrics[""] = metrics;
  compile(options);
}

Optimizer& Model::optimizer() const {
  KILN_CHECK(compiled_, "Model '{}': not compiled; call compile() first", name_);
  return *compiled_state_->optimizer;
}

Tensor Model::head_losses(const TensorMap& predictions, const TensorMap& targets, std::int64_t rows,
                          StepLogs& logs) const {
  const auto n = static_cast<double>(rows);
  Tensor total;
  for (const auto& head : compiled_state_->heads) {
    auto target = targets.find(head.output);
    KILN_CHECK(target != targets.end(), "Model '{}': no target given for output '{}'", name_,
               head.output);
    const Tensor y_true = target->second.to(device_);
    const Tensor& pred = predictions.at(head.output);
    Tensor loss = compute_loss(head.loss, y_true, pred);
    Tensor weighted = head.weight == 1.0 ? loss : scale(loss, head.weight);
    total = total.defined() ? add(total, weighted) : weighted;
    if (compiled_state_->heads.size() > 1)
      logs.entries[compiled_state_->key(head, "loss")] = {loss, n, n};
    if (head.accuracy) {
      NoGrad no_grad;
      const double slots =
          static_cast<double>(head.loss == LossKind::binary ? pred.numel() : pred.dim(0));
      logs.entries[compiled_state_->key(head, "accuracy")] = {
          count_correct(head.loss, y_true, pred), 1.0, slots};
    }
  }
  logs.entries["loss"] = {total, n, n};
  return total;
}

namespace {

bool all_f32(const std::vector<std::shared_ptr<Variable>>& variables) {
  return std::all_of(variables.begin(), variables.end(),
                     [](const auto& v) { return v->value().dtype() == DType::f32; });
}

// Whether every variable's gradient is already its view of `buffer` on `device`.
bool gradients_in(const Tensor& buffer, Device device,
                  const std::vector<std::shared_ptr<Variable>>& variables) {
  if (!buffer.defined() || buffer.device() != device) return false;
  std::int64_t total = 0;
  for (const auto& v : variables) {
    if (!v->grad().defined() || v->grad().impl()->storage != buffer.impl()->storage) return false;
    total += v->value().numel();
  }
  return total == buffer.numel();
}

}  // namespace

// Note [Gradient buffers]
void Model::prepare_gradients(const std::vector<std::shared_ptr<Variable>>& variables) {
  if (!all_f32(variables)) {  // mixed dtypes: a buffer per variable, still allocated once
    for (const auto& v : variables) v->zero_grad();
    return;
  }
  if (!gradients_in(gradient_buffer_, device_, variables)) {
    std::int64_t total = 0;
    for (const auto& v : variables) total += v->value().numel();
    gradient_buffer_ = Tensor::empty({total}, DType::f32, device_);
    std::int64_t offset = 0;
    for (const auto& v : variables) {
      const std::int64_t size = v->value().numel();
      v->grad() = gradient_buffer_.narrow(offset, offset + size).view(v->value().shape());
      offset += size;
    }
  }
  backend::backend_for(device_).fill(gradient_buffer_, 0.0);
}

StepLogs Model::train_step(const TensorMap& x, const TensorMap& y) {
  KILN_CHECK(compiled_, "Model '{}': not compiled; call compile() before training", name_);
  const std::int64_t rows = samples_in(x, "train_step (x)");
  const auto variables = trainable_weights();
  StepLogs logs;
  {
    GradientTape tape;
    const TensorMap predictions = call(x, true);
    const Tensor total = head_losses(predictions, y, rows, logs);
    prepare_gradients(variables);  // after the forward pass: a batch too large leaves nothing
    if (!distributed::active()) {
      tape.accumulate(total, variables);
    } else {  // summed over the ranks, while the backward pass goes on (Note [Gradient buckets])
      compiled_state_->reducer.accumulate(tape, total, variables, gradient_buffer_,
                                          compiled_state_->step_weight());
    }
  }
  NoGrad no_grad;
  compiled_state_->optimizer->apply(variables);
  return logs;
}

namespace {

std::vector<std::string> layers_drawing_per_call(const Model& model) {
  std::vector<std::string> names;
  for (const LayerPtr& layer : model.layers()) {
    if (layer->draws_per_call()) names.push_back(layer->name());
  }
  return names;
}

void check_targets(const Model& model, const TensorMap& y, const char* what) {
  for (const std::string& name : model.output_names()) {
    KILN_CHECK(y.count(name) == 1, "{}: no target given for output '{}'", what, name);
  }
}

// Sparse labels are checked once, before the data moves to the device, rather than by the loss at
// every step: a GPU's loss kernel cannot stop the program, and a per-step check would make the
// host wait for the labels of every batch.
void check_sparse_labels(const std::string& output, const Tensor& labels, std::int64_t classes,
                         const char* what) {
  if (labels.dtype() != DType::i32) return;  // the loss names the dtype it expects
  const std::string op = std::string(what) + " (output '" + output + "')";
  ops::check_index_range(op.c_str(), labels, classes, "its sparse labels");
}

}  // namespace

void Model::check_labels(const TensorMap& y, const char* what) const {
  for (const Compiled::Head& head : compiled_state_->heads) {
    if (head.loss != LossKind::sparse_categorical) continue;
    check_sparse_labels(head.output, y.at(head.output), layer_output_shape(head.output).back(),
                        what);
  }
}

History Model::fit(const TensorMap& x_all, const TensorMap& y_all, const FitOptions& options) {
  KILN_CHECK(compiled_, "Model '{}': not compiled; call compile() before fit()", name_);
  KILN_CHECK(options.batch_size >= 1, "fit: batch_size must be >= 1, found {}", options.batch_size);
  KILN_CHECK(options.epochs >= 0, "fit: epochs must be >= 0, found {}", options.epochs);
  KILN_CHECK(options.validation_split >= 0.0 && options.validation_split < 1.0,
             "fit: validation_split must be in [0, 1), found {}", options.validation_split);
  check_targets(*this, y_all, "fit");
  check_labels(y_all, "fit");
  const std::int64_t n_all = samples_in(x_all, "fit (x)");
  const std::int64_t n_targets = samples_in(y_all, "fit (y)");
  KILN_CHECK(n_targets == n_all, "fit: x has {} samples but y has {}", n_all, n_targets);
  const auto n_val =
      static_cast<std::int64_t>(static_cast<double>(n_all) * options.validation_split);
  const std::int64_t n = n_all - n_val;
  KILN_CHECK(n > 0, "fit: no training samples left after validation_split {}",
             options.validation_split);
  distributed::check_batch_divides(options.batch_size, "fit");
  distributed::check_same_model(*this);
  distributed::broadcast_values(weights());  // every rank starts from rank 0's weights
  const int verbose = distributed::rank() == 0 ? options.verbose : 0;

  // Upload once; split off the validation tail (Keras takes the last samples, before shuffling).
  const TensorMap x_dev = move_all(x_all, device_), y_dev = move_all(y_all, device_);
  TensorMap x_val, y_val;
  if (n_val > 0) {
    std::vector<std::int32_t> tail(static_cast<std::size_t>(n_val));
    std::iota(tail.begin(), tail.end(), static_cast<std::int32_t>(n));
    const Tensor idx = Tensor::from_vector(tail, {n_val}, device_);
    x_val = gather_batch(x_dev, idx);
    y_val = gather_batch(y_dev, idx);
  }

  History history;
  history.keys = compiled_state_->keys();
  if (n_val > 0) {
    const std::vector<std::string> train_keys = history.keys;
    for (const std::string& k : train_keys) history.keys.push_back("val_" + k);
  }
  const std::uint64_t seed = options.seed != 0 ? options.seed : random_seed();
  const std::int64_t steps = (n + options.batch_size - 1) / options.batch_size;
  MetricSums sums(compiled_state_->keys(), device_);  // one address for the whole fit
  const std::int64_t rank_batch = options.batch_size / distributed::world_size();
  StepGraph runner(
      [&](const Tensor& idx) {
        return sums.accumulate(train_step(gather_batch(x_dev, idx), gather_batch(y_dev, idx)));
      },
      device_, rank_batch, optimizer(),
      capture_obstacle(device_, options.cuda_graphs && !distributed::active(), optimizer(),
                       layers_drawing_per_call(*this)));
  for (int epoch = options.initial_epoch; epoch < options.epochs; ++epoch) {
    if (verbose > 0) std::printf("Epoch %d/%d\n", epoch + 1, options.epochs);
    const auto order = shuffled(n, rng::mix64(seed ^ rng::mix64(static_cast<std::uint64_t>(epoch))),
                                options.shuffle);
    const Tensor epoch_order = Tensor::from_vector(order, {n}, device_);  // one upload per epoch
    ProgressBar bar(steps, verbose);
    if (epoch > options.initial_epoch) sums.reset();
    for (std::int64_t step = 0; step < steps; ++step) {
      const std::int64_t begin = step * options.batch_size;
      const std::int64_t end = std::min(n, begin + options.batch_size);
      const auto [first, last] = distributed::shard(begin, end);  // all rows in a world of one
      KILN_CHECK(last > first,
                 "fit: the last batch has {} samples, fewer than the {} ranks; "
                 "pass a batch size or sample count that leaves at least one per rank",
                 end - begin, distributed::world_size());
      compiled_state_->rank_weight =
          static_cast<float>(last - first) / static_cast<float>(end - begin);
      sums.add_counts(runner.run(epoch_order.narrow(first, last)));
      if (options.on_batch_end) options.on_batch_end(epoch, step);
      if (distributed::rank0_says(bar.due(step + 1))) {  // Note [Metrics on the device]
        const auto running = distributed::reduced_means(sums.means(), sums.counts());
        check_finite_loss(running, epoch, step + 1, steps);
        bar.update(step + 1, running, false);
      }
    }
    std::vector<std::pair<std::string, double>> shown =
        distributed::reduced_means(sums.means(), sums.counts());
    check_finite_loss(shown, epoch, steps, steps);
    std::map<std::string, double> epoch_logs = as_map(shown);
    // Every rank's BatchNormalization statistics made one, before validation and the epoch's
    // callbacks (checkpoints) read them (Note [Moving statistics] in distributed/data_parallel.cpp).
    distributed::average_moving_statistics(*this);
    if (n_val > 0) {
      const auto validation = evaluate(x_val, y_val, options.batch_size);
      for (const std::string& key : compiled_state_->keys()) {  // Keras's order: val_loss first
        epoch_logs["val_" + key] = validation.at(key);
        shown.emplace_back("val_" + key, validation.at(key));
      }
    }
    bar.update(steps, shown, true);
    for (const std::string& key : history.keys) history.values[key].push_back(epoch_logs[key]);
    if (options.on_epoch_end) options.on_epoch_end(epoch, epoch_logs);
  }
  compiled_state_->rank_weight = 0.0f;
  return history;
}

History Model::fit(const Tensor& x, const Tensor& y, const FitOptions& options) {
  KILN_CHECK(input_names().size() == 1 && output_names().size() == 1,
             "fit(Tensor, Tensor): model '{}' has {} inputs and {} outputs; pass maps", name_,
             input_names().size(), output_names().size());
  return fit(TensorMap{{input_names()[0], x}}, TensorMap{{output_names()[0], y}}, options);
}

std::map<std::string, double> Model::evaluate(const TensorMap& x_all, const TensorMap& y_all,
                                              std::int64_t batch_size) {
  KILN_CHECK(compiled_, "Model '{}': not compiled; call compile() before evaluate()", name_);
  KILN_CHECK(batch_size >= 1, "evaluate: batch_size must be >= 1, found {}", batch_size);
  check_targets(*this, y_all, "evaluate");
  check_labels(y_all, "evaluate");
  const std::int64_t n_all = samples_in(x_all, "evaluate (x)");
  const std::int64_t n_targets = samples_in(y_all, "evaluate (y)");
  KILN_CHECK(n_targets == n_all, "evaluate: x has {} samples but y has {}", n_all, n_targets);
  NoGrad no_grad;
  const TensorMap x_dev = move_all(x_all, device_), y_dev = move_all(y_all, device_);
  const auto [first, last] = distributed::shard(0, n_all);  // this rank's share of the samples
  const std::int64_t n = last - first;
  std::vector<std::int32_t> rows = in_order(n);
  for (std::int32_t& row : rows) row += static_cast<std::int32_t>(first);
  const Tensor order = Tensor::from_vector(rows, {n}, device_);
  MetricSums sums(compiled_state_->keys(), device_);
  for (std::int64_t begin = 0; begin < n; begin += batch_size) {
    const std::int64_t end = std::min(n, begin + batch_size);
    const Tensor idx = order.narrow(begin, end);
    const TensorMap xb = gather_batch(x_dev, idx), yb = gather_batch(y_dev, idx);
    StepLogs logs;
    head_losses(call(xb, false), yb, end - begin, logs);
    sums.add(logs);
  }
  return as_map(distributed::reduced_means(
      sums.means(), sums.counts()));  // one read (Note [Metrics on the device])
}

std::map<std::string, double> Model::evaluate(const Tensor& x, const Tensor& y,
                                              std::int64_t batch_size) {
  KILN_CHECK(input_names().size() == 1 && output_names().size() == 1,
             "evaluate(Tensor, Tensor): model '{}' has {} inputs and {} outputs; pass maps", name_,
             input_names().size(), output_names().size());
  return evaluate(TensorMap{{input_names()[0], x}}, TensorMap{{output_names()[0], y}}, batch_size);
}

TensorMap Model::predict(const TensorMap& x_all, std::int64_t batch_size) {
  KILN_CHECK(batch_size >= 1, "predict: batch_size must be >= 1, found {}", batch_size);
  const std::int64_t n = samples_in(x_all, "predict (x)");
  NoGrad no_grad;
  const TensorMap x_dev = move_all(x_all, device_);
  const Tensor order = Tensor::from_vector(in_order(n), {n}, device_);
  // Predictions are assembled on the device and copied to the host once, at the end.
  TensorMap on_device;
  for (std::int64_t begin = 0; begin < n; begin += batch_size) {
    const std::int64_t end = std::min(n, begin + batch_size);
    const TensorMap predictions = call(gather_batch(x_dev, order.narrow(begin, end)), false);
    for (const auto& [name, pred] : predictions) {
      if (!on_device.count(name)) {
        Shape shape = pred.shape();
        shape[0] = n;
        on_device[name] = Tensor::empty(shape, pred.dtype(), device_);
      }
      on_device[name].narrow(begin, end).copy_from(pred);
    }
  }
  TensorMap result;
  for (const auto& [name, pred] : on_device) result[name] = pred.to(Device::cpu());
  return result;
}

Tensor Model::predict(const Tensor& x, std::int64_t batch_size) {
  KILN_CHECK(input_names().size() == 1 && output_names().size() == 1,
             "predict(Tensor): model '{}' has {} inputs and {} outputs; pass a map", name_,
             input_names().size(), output_names().size());
  return predict(TensorMap{{input_names()[0], x}}, batch_size).begin()->second;
}

}  // namespace kiln
