// Helpers shared by the kiln subcommands.
#include "common.h"

#include <cstring>

#include "heads.h"
#include "kiln/ops.h"

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

Device resolve_device(const std::string& text) {
  return text == "auto" ? default_device() : parse_device(text);
}

TensorMap predictions(Model& model, const Tensor& images, std::int64_t batch_size) {
  TensorMap out = model.predict(input_map(model, images), batch_size);
  for (auto& entry : out) entry.second = entry.second.to(Device::cpu());
  return out;
}

Tensor predicted_labels(const Tensor& probs) { return argmax(probs).to(Device::cpu()); }

std::string format_value(double value) { return fmt::format("{:.4f}", value); }

}  // namespace kiln::cli
