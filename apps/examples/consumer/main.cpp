// A kiln consumer: builds the seed model, trains a few steps on synthetic data and saves weights.
//   consumer [OUTPUT.h5]
#include <kiln/kiln.h>
#include <kiln/model_io.h>

#include <cstdio>

int main(int argc, char** argv) try {
  const std::string out = argc > 1 ? argv[1] : "consumer_weights.h5";
  std::printf("%s", kiln::build_info().c_str());
  auto model = kiln::seed_model();
  model->compile(std::make_shared<kiln::Adam>(), "sparse_categorical_crossentropy", {"accuracy"});

  const kiln::Tensor x = kiln::Tensor::uniform({64, 28, 28, 1}, 0.0, 1.0, 42);
  std::vector<std::int32_t> labels(64);
  for (std::size_t i = 0; i < labels.size(); ++i) labels[i] = static_cast<std::int32_t>(i % 10);
  const kiln::Tensor y = kiln::Tensor::from_vector(labels, {64});

  for (int step = 0; step < 3; ++step) {
    const auto logs =
        model->train_step({{model->input_names()[0], x}}, {{model->output_names()[0], y}});
    std::printf("step %d loss %.4f\n", step + 1, logs.to_host().at("loss"));
  }
  kiln::save_weights(*model, out);
  std::printf("saved %s\n", out.c_str());
  return 0;
} catch (const kiln::Error& e) {
  std::fprintf(stderr, "consumer: %s\n", e.what());
  return 1;
}
