// Helpers shared by the kiln subcommands: errors, data selection, targets and predictions.
#pragma once

#include <fmt/format.h>

#include <cstdint>
#include <string>
#include <vector>

#include "kiln/data.h"
#include "kiln/device.h"
#include "kiln/error.h"
#include "kiln/model.h"
#include "kiln/tensor.h"

namespace kiln::cli {

template <class... Args>
[[noreturn]] void cli_fail(fmt::format_string<Args...> format, Args&&... args) {
  throw Error(fmt::format(format, std::forward<Args>(args)...));
}

// `dir`, or default_data_dir() when empty.
std::string data_dir_or_default(const std::string& dir);

// "mnist" for "mnist"; "fashion_mnist" for either spelling of Fashion-MNIST.
std::string canonical_dataset(const std::string& name);
// "MNIST" / "Fashion-MNIST", for messages.
std::string dataset_title(const std::string& name);

// The first `n` samples of a CPU tensor (all of them when n is 0 or covers them), as a copy.
Tensor first_samples(const Tensor& x, std::int64_t n);
// `images` (n, h, w, c) shaped as `model`'s one input when that differs but holds as many values
// per sample (an MLP on (None, 784) given 28x28x1 images), saying so once on stdout; otherwise
// `images` itself, so that the model names any mismatch.
Tensor as_model_input(const Model& model, const Tensor& images);

// "auto" → the default device, printed as the header line "device: cpu (no usable GPU: …)" on
// stdout (call it once the inputs are checked, right before computing); else parse_device.
Device resolve_device(const std::string& text);

// Every output of the model for `images`, on the CPU, keyed by output name.
TensorMap predictions(Model& model, const Tensor& images, std::int64_t batch_size);
// argmax over the last axis, as i32 on the CPU.
Tensor predicted_labels(const Tensor& probabilities);

// Prints a Keras-like log value ("%.4f").
std::string format_value(double value);

}  // namespace kiln::cli
