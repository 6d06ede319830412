// Writes the kiln-made seed files of the fuzz corpora: model and weights files (h5_model/) and the
// model_config JSON of the same models (model_config/). Built with the fuzz targets
// (fuzz_make_seeds); run as `fuzz_make_seeds tests/fuzz/corpus` when the file formats change.
// tests/fuzz/make_seeds.py runs it and makes the rest of the corpora (IDX files, images, h5py
// rewrites of these files); the hand-written Keras 2 / Keras 3 configs are made by neither.
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>

#include "fuzz/fuzz_entries.h"
#include "kiln/error.h"
#include "kiln/layers.h"
#include "kiln/model.h"
#include "kiln/model_io.h"
#include "kiln/optimizers.h"

namespace {

namespace fs = std::filesystem;

// Two inputs, a concatenation and two named heads: the functional layout of a model file.
std::unique_ptr<kiln::Model> make_functional_model() {
  using namespace kiln;
  SymbolicTensor image = Input({4, 4, 1}, "image");
  SymbolicTensor extra = Input({2}, "extra");
  SymbolicTensor pooled = Flatten("flatten")(MinPooling2D(2, "pool")(image));
  SymbolicTensor joined = Concatenate(-1, "concat")({pooled, extra});
  SymbolicTensor digits = Dense(3, {.activation = "softmax", .name = "digits"})(joined);
  SymbolicTensor dropped = Dropout(0.25, "drop")(extra);
  SymbolicTensor odd = Dense(1, {.activation = "sigmoid", .name = "odd"})(dropped);
  return std::make_unique<Model>(std::vector<SymbolicTensor>{image, extra},
                                 std::vector<SymbolicTensor>{digits, odd}, "two_heads");
}

void write_text(const fs::path& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
}

void make_seeds(const fs::path& corpus) {
  fs::create_directories(corpus / "h5_model");
  fs::create_directories(corpus / "model_config");
  kiln::clear_session();
  std::unique_ptr<kiln::Sequential> sequential = kiln::fuzz::make_weights_model();
  kiln::save_weights(*sequential, (corpus / "h5_model" / "weights.h5").string());
  sequential->compile(std::make_shared<kiln::Adam>(), "categorical_crossentropy", {"accuracy"});
  kiln::save_model(*sequential, (corpus / "h5_model" / "model-sequential.h5").string());
  write_text(corpus / "model_config" / "kiln-sequential.json",
             kiln::model_config_json(*sequential));

  kiln::clear_session();
  std::unique_ptr<kiln::Model> functional = make_functional_model();
  kiln::CompileOptions options;
  options.optimizer = std::make_shared<kiln::SGD>(kiln::SGDOptions{0.01, 0.9, true});
  options.loss = {{"digits", "categorical_crossentropy"}, {"odd", "binary_crossentropy"}};
  options.loss_weights = {{"digits", 1.0}, {"odd", 0.5}};
  options.metrics = {{"digits", {"accuracy"}}};
  functional->compile(options);
  kiln::save_model(*functional, (corpus / "h5_model" / "model-functional.h5").string());
  write_text(corpus / "model_config" / "kiln-functional.json",
             kiln::model_config_json(*functional));
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s CORPUS_DIR (tests/fuzz/corpus)\n", argv[0]);
    return 2;
  }
  try {
    make_seeds(argv[1]);
  } catch (const kiln::Error& error) {
    std::fprintf(stderr, "fuzz_make_seeds: %s\n", error.what());
    return 1;
  }
  return 0;
}
