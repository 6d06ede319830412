// Helpers shared by the kiln subcommands.
#include "common.h"

#include <fmt/ranges.h>

#include <cstdio>
#include <cstring>

#include "heads.h"
#include "kiln/distributed.h"
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

Tensor as_model_input(const Model& model, const Tensor& images) {
  if (model.input_names().size() != 1 || images.rank() < 1) return images;
  const Shape input = model.layer_output_shape(model.input_names()[0]);
  const Shape sample(images.shape().begin() + 1, images.shape().end());
  std::int64_t wanted = 1;
  for (std::int64_t d : input) wanted *= d;
  const std::int64_t n = images.dim(0);
  if (input == sample || input.empty() || n == 0 || wanted != images.numel() / n) return images;
  Shape shape{n};
  shape.insert(shape.end(), input.begin(), input.end());
  std::printf("note: the model's input is (None, %s); each %s image is reshaped to it\n",
              fmt::format("{}", fmt::join(input, ", ")).c_str(),
              fmt::format("{}", fmt::join(sample, "x")).c_str());
  return images.view(shape);
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

namespace {

// Why no GPU is used, in a few words ("driver missing or too old", not the CUDA runtime's text).
std::string short_reason(const DeviceChoice& choice) {
  const std::string& reason = choice.reason;
  if (choice.device.is_cuda() || reason.rfind("KILN_DEVICE", 0) == 0) return reason;
  std::string why = reason;
  if (reason.find("driver") != std::string::npos) {
    why = "driver missing or too old";
  } else if (reason.find("without CUDA") != std::string::npos) {
    why = "kiln built without CUDA";
  } else if (reason.find("no CUDA-capable device") != std::string::npos) {
    why = "no GPU found";
  } else if (why.size() > 60) {
    why = why.substr(0, 57) + "...";
  }
  return "no usable GPU: " + why;
}

}  // namespace

Device resolve_device(const std::string& text) {
  if (text != "auto") return parse_device(text);
  // Under mpirun: this rank's GPU (cuda:local_rank), or the CPU (docs/DISTRIBUTED.md).
  if (distributed::active()) return distributed::rank_device();
  const DeviceChoice choice = default_device_choice();
  std::printf("device: %s (%s)\n", choice.device.str().c_str(), short_reason(choice).c_str());
  return choice.device;
}

TensorMap predictions(Model& model, const Tensor& images, std::int64_t batch_size) {
  TensorMap out = model.predict(input_map(model, images), batch_size);
  for (auto& entry : out) entry.second = entry.second.to(Device::cpu());
  return out;
}

Tensor predicted_labels(const Tensor& probs) { return argmax(probs).to(Device::cpu()); }

std::string format_value(double value) { return fmt::format("{:.4f}", value); }

}  // namespace kiln::cli
