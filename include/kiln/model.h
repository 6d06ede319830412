// Models: a functional graph of layer calls (several inputs, named outputs) and Sequential, its
// one-chain special case. compile / fit / evaluate / predict follow Keras.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "kiln/export.h"
#include "kiln/layers.h"
#include "kiln/optimizers.h"

namespace kiln {

// Tensors keyed by input or output name.
using TensorMap = std::map<std::string, Tensor>;

struct CompileOptions {
  std::shared_ptr<Optimizer> optimizer;        // default: Adam()
  std::map<std::string, std::string> loss;     // output name -> loss; key "" = every output
  std::map<std::string, double> loss_weights;  // default 1 per output
  std::map<std::string, std::vector<std::string>> metrics;  // output (or "") -> {"accuracy"}
};

// Per-epoch values by Keras's names: loss, accuracy, num_out_loss, val_loss, …
struct History {
  std::vector<std::string> keys;  // in the order Keras prints them
  std::map<std::string, std::vector<double>> values;
};

// One training step's losses and metrics, still on the model's device: reading them back makes
// the host wait for the device, so fit reads its running sums only when it shows them (Note
// [Metrics on the device] in src/model/metric_sums.h). Keys are Keras's names.
struct KILN_API StepLogs {
  struct Entry {
    Tensor value;        // one element on the device: a mean loss, or a count of correct answers
    double scale = 1.0;  // the entry stands for scale * value
    double count = 1.0;  // over `count` samples: its log value is scale * value / count
  };
  std::map<std::string, Entry> entries;
  // The log values on the host, by name (one wait for the device per entry).
  std::map<std::string, double> to_host() const;
};

struct FitOptions {
  std::int64_t batch_size = 32;
  int epochs = 1;
  bool shuffle = true;
  double validation_split = 0.0;  // the last fraction of the samples, as Keras takes it
  int verbose = 1;                // 0 silent, 1 progress bar, 2 one line per epoch
  std::uint64_t seed = 0;         // shuffling; 0 = the global random seed
  int initial_epoch = 0;
  // Called after each epoch with (epoch index, that epoch's logs).
  std::function<void(int, const std::map<std::string, double>&)> on_epoch_end;
  // Called after each training step with (epoch index, step index), before anything of the step
  // is read back (the step's work may still be running on the device).
  std::function<void(int, std::int64_t)> on_batch_end;
  // On a GPU, full batches after the first two replay one captured step (a CUDA graph) instead
  // of launching every kernel from the host (Note [Captured steps] in src/model/step_graph.cpp).
  // false, or the environment variable KILN_CUDA_GRAPHS=0, runs every step eagerly.
  bool cuda_graphs = true;
};

class KILN_API Model {
 public:
  Model(const std::vector<SymbolicTensor>& inputs, const std::vector<SymbolicTensor>& outputs,
        const std::string& name = "");
  Model(const SymbolicTensor& input, const SymbolicTensor& output, const std::string& name = "");
  virtual ~Model();
  Model(const Model&) = delete;
  Model& operator=(const Model&) = delete;

  const std::string& name() const { return name_; }
  // Layers in topological order, input layers included (as Keras's model.layers for graphs).
  const std::vector<LayerPtr>& layers() const { return layers_; }
  LayerPtr get_layer(const std::string& name) const;
  std::vector<std::string> input_names() const;
  std::vector<std::string> output_names() const;
  // Names of the layers whose outputs feed layer `layer_name` (empty for inputs).
  std::vector<std::string> inbound_layers(const std::string& layer_name) const;
  // Output shape of layer `layer_name`, without the batch.
  Shape layer_output_shape(const std::string& layer_name) const;
  std::vector<std::shared_ptr<Variable>> weights() const;
  // The weights the optimizer updates (weights() without BatchNormalization's moving statistics).
  std::vector<std::shared_ptr<Variable>> trainable_weights() const;
  std::int64_t count_params() const;

  // Moves every weight (and later batches) to `device`.
  void to(Device device);
  Device device() const { return device_; }

  // Forward pass on batches keyed by input name; outputs keyed by output name.
  TensorMap call(const TensorMap& inputs, bool training = false);
  Tensor call(const Tensor& input, bool training = false);  // one input, one output

  // Keras's summary table (with "Connected to" for graphs that are not a chain).
  virtual std::string summary() const;

  void compile(const CompileOptions& options);
  // Single-output shorthand: compile(Adam(), "categorical_crossentropy", {"accuracy"}).
  void compile(std::shared_ptr<Optimizer> optimizer, const std::string& loss,
               const std::vector<std::string>& metrics = {});
  bool compiled() const { return compiled_; }
  Optimizer& optimizer() const;
  const CompileOptions& compile_options() const { return compile_options_; }

  History fit(const TensorMap& x, const TensorMap& y, const FitOptions& options = {});
  History fit(const Tensor& x, const Tensor& y, const FitOptions& options = {});
  // Loss and metrics over all samples, by Keras's names.
  std::map<std::string, double> evaluate(const TensorMap& x, const TensorMap& y,
                                         std::int64_t batch_size = 32);
  std::map<std::string, double> evaluate(const Tensor& x, const Tensor& y,
                                         std::int64_t batch_size = 32);
  TensorMap predict(const TensorMap& x, std::int64_t batch_size = 32);
  Tensor predict(const Tensor& x, std::int64_t batch_size = 32);  // one input, one output

  // One optimisation step on one batch; returns the batch's losses and metrics by Keras's names
  // ("loss", "<output>_loss" for several outputs, "accuracy" / "<output>_accuracy"), still on the
  // device: StepLogs::to_host() reads them. For custom loops and benchmarks.
  StepLogs train_step(const TensorMap& x, const TensorMap& y);

 protected:
  Model() = default;  // Sequential fills in the graph later
  void set_graph(const std::vector<SymbolicTensor>& inputs,
                 const std::vector<SymbolicTensor>& outputs);
  bool is_chain() const;
  // Error (saying what to do) when the graph is not known yet.
  void check_built() const;
  std::string summary_text(bool chain, bool show_inputs) const;
  std::string name_;

 private:
  struct Compiled;
  // Each head's loss and metrics into `logs`; returns the weighted total loss.
  Tensor head_losses(const TensorMap& predictions, const TensorMap& targets, std::int64_t rows,
                     StepLogs& logs) const;
  // The sparse labels of every sparse-crossentropy head lie in [0, classes), or a kiln::Error.
  void check_labels(const TensorMap& y, const char* what) const;
  // Note [Gradient buffers] in training.cpp: one flat buffer, zeroed once per step.
  void prepare_gradients(const std::vector<std::shared_ptr<Variable>>& variables);
  Tensor gradient_buffer_;
  std::vector<std::shared_ptr<GraphNode>> inputs_, outputs_, nodes_;
  std::vector<LayerPtr> layers_;
  Device device_ = Device::cpu();
  bool compiled_ = false;
  CompileOptions compile_options_;
  std::shared_ptr<Compiled> compiled_state_;
};

class KILN_API Sequential : public Model {
 public:
  explicit Sequential(const std::string& name = "");
  // The first layer must be an InputLayer (or call build() before use).
  Sequential(const std::vector<LayerRef>& layers, const std::string& name = "");
  void add(const LayerRef& layer);
  // Gives the model its input shape (without the batch) when it has no InputLayer.
  void build(const Shape& input_shape);
  std::string summary() const override;

 private:
  std::vector<LayerRef> pending_;
  SymbolicTensor input_, last_;
};

// The seed model: Conv2D(64,3,relu) → MaxPooling2D → Conv2D(128,3,relu) → MaxPooling2D → Flatten
// → Dense(128,relu) → Dense(64,relu) → Dense(classes,softmax), for (28, 28, 1) images.
KILN_API std::unique_ptr<Sequential> seed_model(std::int64_t classes = 10);

// The seed's two-headed experiment: input (28, 28, 1) → conv_1 Conv2D(64,3,relu) → maxpool_1 →
// conv_2 Conv2D(128,3,relu) → maxpool_2 → flatten_1; flatten_2 = Flatten(input);
// concatenate([flatten_1, flatten_2]) → num_out Dense(10, softmax); odd_out Dense(1, sigmoid) on
// flatten_2.
KILN_API std::unique_ptr<Model> odd_even_model();

}  // namespace kiln
