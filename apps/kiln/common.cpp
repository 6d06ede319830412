// Helpers shared by the kiln subcommands.
#include "common.h"

#include <cstring>
#include <memory>

#include "kiln/ops.h"
#include "kiln/optimizers.h"

namespace kiln::cli {

std::string data_dir_or_default(const std::string& dir) {
  return dir.empty() ? default_data_dir() : dir;
}

std::string canonical_dataset(const std::string& name) {
  if (name == "mnist") return "mnist";
  if (name == "fashion_mnist" || name == "fashion-mnist") return "fashion_mnist";
  cli_fail("unknown dataset '{}': expected mnist or fashion_mnist", name);
}

std::string dataset_title(const std::string& name) {
  return canonical_dataset(name) == "mnist" ? "MNIST" : "Fashion-MNIST";
}

Tensor first_samples(const Tensor& x, std::int64_t n) {
  const std::int64_t total = x.dim(0);
  if (n <= 0 || n >= total) return x;
  Shape shape = x.shape();
  shape[0] = n;
  Tensor out = Tensor::empty(shape, x.dtype());
  const Tensor host = x.to(Device::cpu());
  std::memcpy(out.raw_data(), host.raw_data(), out.nbytes());
  return out;
}

Tensor targets_for(const Tensor& labels, const std::string& loss, int classes) {
  if (loss == "sparse_categorical_crossentropy") return labels;
  return to_categorical(labels, classes);
}

Device resolve_device(const std::string& text) {
  return text == "auto" ? default_device() : parse_device(text);
}

void compile_for_evaluation(Model& model) {
  model.compile(std::make_shared<Adam>(), "categorical_crossentropy", {"accuracy"});
}

int output_classes(Model& model, const Tensor& sample_images, int expected) {
  const Tensor out = model.predict(first_samples(sample_images, 1), 1);
  const auto classes = static_cast<int>(out.dim(-1));
  if (out.rank() != 2 || (expected > 0 && classes != expected)) {
    cli_fail("model '{}' predicts output of shape {} per image, but the data set has {} classes",
             model.name(), shape_str(out.shape()), expected);
  }
  return classes;
}

Tensor probabilities(Model& model, const Tensor& images, std::int64_t batch_size) {
  return model.predict(images, batch_size).to(Device::cpu());
}

Tensor predicted_labels(const Tensor& probs) { return argmax(probs).to(Device::cpu()); }

std::string format_value(double value) { return fmt::format("{:.4f}", value); }

}  // namespace kiln::cli
