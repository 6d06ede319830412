// compile / fit / evaluate / predict / train_step. Losses and metrics by Keras's names; the data
// is moved to the model's device once and batches are gathered there from a shuffled index.
#include <algorithm>
#include <cmath>
#include <numeric>

#include "backend/backend.h"
#include "core/check.h"
#include "core/counter_rng.h"
#include "kiln/model.h"
#include "model/progress.h"
#include "ops/op_helpers.h"

namespace kiln {

namespace {

enum class LossKind { categorical, sparse_categorical, binary };

LossKind parse_loss(const std::string& name) {
  if (name == "categorical_crossentropy") return LossKind::categorical;
  if (name == "sparse_categorical_crossentropy") return LossKind::sparse_categorical;
  if (name == "binary_crossentropy") return LossKind::binary;
  fail("compile: unknown loss '{}'; expected categorical_crossentropy, "
       "sparse_categorical_crossentropy or binary_crossentropy", name);
}

Tensor compute_loss(LossKind kind, const Tensor& y_true, const Tensor& y_pred) {
  switch (kind) {
    case LossKind::categorical: return categorical_crossentropy(y_true, y_pred);
    case LossKind::sparse_categorical: return sparse_categorical_crossentropy(y_true, y_pred);
    case LossKind::binary: return binary_crossentropy(y_true, y_pred);
  }
  fail("unknown loss kind");
}

// Correct predictions in a batch (Keras's "accuracy" for the output's loss).
std::int64_t count_correct(LossKind kind, const Tensor& y_true, const Tensor& y_pred) {
  NoGrad no_grad;
  if (kind == LossKind::binary) {
    const std::vector<float> p = y_pred.to(Device::cpu()).to_vector<float>();
    const std::vector<float> t = y_true.to(Device::cpu()).to_vector<float>();
    std::int64_t correct = 0;
    for (std::size_t i = 0; i < p.size(); ++i) correct += (p[i] > 0.5f) == (t[i] > 0.5f);
    return correct;
  }
  const std::vector<std::int32_t> predicted = argmax(y_pred).to_vector<std::int32_t>();
  const std::vector<std::int32_t> truth = kind == LossKind::categorical
                                              ? argmax(y_true).to_vector<std::int32_t>()
                                              : y_true.to(Device::cpu()).to_vector<std::int32_t>();
  std::int64_t correct = 0;
  for (std::size_t i = 0; i < predicted.size(); ++i) correct += predicted[i] == truth[i];
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

Tensor index_range(std::int64_t begin, std::int64_t end, const std::vector<std::int32_t>& order,
                   Device device) {
  std::vector<std::int32_t> slice(order.begin() + begin, order.begin() + end);
  return Tensor::from_vector(slice, {end - begin}, device);
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

// Running sums over the batches of an epoch; means weighted by batch size.
struct Tally {
  std::map<std::string, double> sums;
  std::map<std::string, std::int64_t> counts;
  void add(const std::string& key, double sum, std::int64_t count) {
    sums[key] += sum;
    counts[key] += count;
  }
  double mean(const std::string& key) const {
    const auto c = counts.at(key);
    return c > 0 ? sums.at(key) / static_cast<double>(c) : 0.0;
  }
};

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
    if (auto w = options.loss_weights.find(output); w != options.loss_weights.end()) head.weight = w->second;
    if (auto m = lookup(options.metrics, output); m != options.metrics.end()) {
      for (const std::string& metric : m->second) {
        KILN_CHECK(metric == "accuracy" || metric == "acc",
                   "compile: unknown metric '{}' for output '{}'; expected accuracy", metric, output);
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

std::map<std::string, double> Model::train_step(const TensorMap& x, const TensorMap& y) {
  KILN_CHECK(compiled_, "Model '{}': not compiled; call compile() before training", name_);
  const auto variables = weights();
  for (const auto& v : variables) v->grad() = Tensor();
  std::map<std::string, double> logs;
  {
    GradientTape tape;
    TensorMap predictions = call(x, true);
    Tensor total;
    for (const auto& head : compiled_state_->heads) {
      auto target = y.find(head.output);
      KILN_CHECK(target != y.end(), "Model '{}': no target given for output '{}'", name_, head.output);
      Tensor loss = compute_loss(head.loss, target->second.to(device_), predictions.at(head.output));
      Tensor weighted = head.weight == 1.0 ? loss : scale(loss, head.weight);
      total = total.defined() ? add(total, weighted) : weighted;
      if (compiled_state_->heads.size() > 1) logs[compiled_state_->key(head, "loss")] = loss.item();
      if (head.accuracy) {
        const Tensor& pred = predictions.at(head.output);
        const std::int64_t slots = head.loss == LossKind::binary ? pred.numel() : pred.dim(0);
        logs[compiled_state_->key(head, "accuracy")] =
            static_cast<double>(count_correct(head.loss, target->second, pred)) / static_cast<double>(slots);
      }
    }
    tape.accumulate(total, variables);
    logs["loss"] = total.item();
  }
  NoGrad no_grad;
  compiled_state_->optimizer->apply(variables);
  return logs;
}

namespace {

void check_targets(const Model& model, const TensorMap& y, const char* what) {
  for (const std::string& name : model.output_names()) {
    KILN_CHECK(y.count(name) == 1, "{}: no target given for output '{}'", what, name);
  }
}

}  // namespace

History Model::fit(const TensorMap& x_all, const TensorMap& y_all, const FitOptions& options) {
  KILN_CHECK(compiled_, "Model '{}': not compiled; call compile() before fit()", name_);
  KILN_CHECK(options.batch_size >= 1, "fit: batch_size must be >= 1, found {}", options.batch_size);
  KILN_CHECK(options.epochs >= 0, "fit: epochs must be >= 0, found {}", options.epochs);
  KILN_CHECK(options.validation_split >= 0.0 && options.validation_split < 1.0,
             "fit: validation_split must be in [0, 1), found {}", options.validation_split);
  check_targets(*this, y_all, "fit");
  const std::int64_t n_all = samples_in(x_all, "fit (x)");
  const std::int64_t n_targets = samples_in(y_all, "fit (y)");
  KILN_CHECK(n_targets == n_all, "fit: x has {} samples but y has {}", n_all, n_targets);
  const auto n_val = static_cast<std::int64_t>(static_cast<double>(n_all) * options.validation_split);
  const std::int64_t n = n_all - n_val;
  KILN_CHECK(n > 0, "fit: no training samples left after validation_split {}", options.validation_split);

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
  for (int epoch = options.initial_epoch; epoch < options.epochs; ++epoch) {
    if (options.verbose > 0) std::printf("Epoch %d/%d\n", epoch + 1, options.epochs);
    const auto order = shuffled(n, rng::mix64(seed ^ rng::mix64(static_cast<std::uint64_t>(epoch))), options.shuffle);
    ProgressBar bar(steps, options.verbose);
    Tally tally;
    std::vector<std::pair<std::string, double>> shown;
    for (std::int64_t step = 0; step < steps; ++step) {
      const std::int64_t begin = step * options.batch_size;
      const std::int64_t end = std::min(n, begin + options.batch_size);
      const Tensor idx = index_range(begin, end, order, device_);
      const TensorMap xb = gather_batch(x_dev, idx), yb = gather_batch(y_dev, idx);
      const auto logs = train_step(xb, yb);
      KILN_CHECK(std::isfinite(logs.at("loss")),
                 "fit: the loss became {} at epoch {}, step {}/{}; training stopped (no checkpoint "
                 "was written after the last good epoch). Rerun with check_numerics to find the op",
                 logs.at("loss"), epoch + 1, step + 1, steps);
      for (const auto& [key, value] : logs) tally.add(key, value * static_cast<double>(end - begin), end - begin);
      shown.clear();
      for (const std::string& key : compiled_state_->keys()) shown.emplace_back(key, tally.mean(key));
      bar.update(step + 1, shown, false);
    }
    std::map<std::string, double> epoch_logs;
    for (const auto& [key, value] : shown) epoch_logs[key] = value;
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
  const std::int64_t n = samples_in(x_all, "evaluate (x)");
  const std::int64_t n_targets = samples_in(y_all, "evaluate (y)");
  KILN_CHECK(n_targets == n, "evaluate: x has {} samples but y has {}", n, n_targets);
  NoGrad no_grad;
  const TensorMap x_dev = move_all(x_all, device_), y_dev = move_all(y_all, device_);
  std::vector<std::int32_t> order(static_cast<std::size_t>(n));
  std::iota(order.begin(), order.end(), 0);
  Tally tally;
  for (std::int64_t begin = 0; begin < n; begin += batch_size) {
    const std::int64_t end = std::min(n, begin + batch_size);
    const Tensor idx = index_range(begin, end, order, device_);
    const TensorMap xb = gather_batch(x_dev, idx), yb = gather_batch(y_dev, idx);
    const TensorMap predictions = call(xb, false);
    const double rows = static_cast<double>(end - begin);
    double total = 0.0;
    for (const auto& head : compiled_state_->heads) {
      const Tensor& pred = predictions.at(head.output);
      const double loss = compute_loss(head.loss, yb.at(head.output), pred).item();
      total += head.weight * loss;
      if (compiled_state_->heads.size() > 1) tally.add(compiled_state_->key(head, "loss"), loss * rows, end - begin);
      if (head.accuracy) {
        const std::int64_t slots = head.loss == LossKind::binary ? pred.numel() : pred.dim(0);
        tally.add(compiled_state_->key(head, "accuracy"),
                  static_cast<double>(count_correct(head.loss, yb.at(head.output), pred)), slots);
      }
    }
    tally.add("loss", total * rows, end - begin);
  }
  std::map<std::string, double> result;
  for (const std::string& key : compiled_state_->keys()) result[key] = tally.mean(key);
  return result;
}

std::map<std::string, double> Model::evaluate(const Tensor& x, const Tensor& y, std::int64_t batch_size) {
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
  std::vector<std::int32_t> order(static_cast<std::size_t>(n));
  std::iota(order.begin(), order.end(), 0);
  TensorMap result;
  for (std::int64_t begin = 0; begin < n; begin += batch_size) {
    const std::int64_t end = std::min(n, begin + batch_size);
    const TensorMap predictions = call(gather_batch(x_dev, index_range(begin, end, order, device_)), false);
    for (const auto& [name, pred] : predictions) {
      const Tensor host = pred.to(Device::cpu());
      if (!result.count(name)) {
        Shape shape = host.shape();
        shape[0] = n;
        result[name] = Tensor::empty(shape, host.dtype(), Device::cpu());
      }
      const std::int64_t row = host.numel() / host.dim(0);
      Tensor destination = result[name].view({1, n * row});
      backend::backend_for(Device::cpu())
          .copy_columns(host.view({1, host.numel()}), host.numel(), 0, destination, n * row,
                        begin * row, 1, host.numel(), false);
    }
  }
  return result;
}

Tensor Model::predict(const Tensor& x, std::int64_t batch_size) {
  KILN_CHECK(input_names().size() == 1 && output_names().size() == 1,
             "predict(Tensor): model '{}' has {} inputs and {} outputs; pass a map", name_,
             input_names().size(), output_names().size());
  return predict(TensorMap{{input_names()[0], x}}, batch_size).begin()->second;
}

}  // namespace kiln
