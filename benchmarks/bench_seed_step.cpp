// Seed-model timings on one device: ms per training step at batch 1024 (forward, backward, Adam),
// images/s, inference time for 10,000 images and peak memory. Synthetic inputs: the figures do
// not depend on the values.
//
//   kiln_bench_seed_step [--device cpu|cuda] [--steps N] [--batch B]
#include <sys/resource.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <string>

#include "kiln/kiln.h"

namespace {

struct Args {
  std::string device = "auto";
  int steps = 5;
  std::int64_t batch = 1024;
};

Args parse(int argc, char** argv) {
  Args args;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string key = argv[i];
    if (key == "--device") args.device = argv[i + 1];
    else if (key == "--steps") args.steps = std::stoi(argv[i + 1]);
    else if (key == "--batch") args.batch = std::stoll(argv[i + 1]);
    else throw kiln::Error("unknown option " + key + "; expected --device, --steps or --batch");
  }
  return args;
}

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

}  // namespace

int main(int argc, char** argv) try {
  const Args args = parse(argc, argv);
  const kiln::Device device = kiln::parse_device(args.device);
  auto model = kiln::seed_model();
  model->to(device);
  model->compile(std::make_shared<kiln::Adam>(), "sparse_categorical_crossentropy");
  const kiln::Tensor x = kiln::Tensor::uniform({args.batch, 28, 28, 1}, 0, 1, 1).to(device);
  std::vector<std::int32_t> labels(static_cast<std::size_t>(args.batch));
  for (std::size_t i = 0; i < labels.size(); ++i) labels[i] = static_cast<std::int32_t>(i % 10);
  const kiln::Tensor y = kiln::Tensor::from_vector(labels, {args.batch}, device);
  const kiln::TensorMap xs{{model->input_names()[0], x}}, ys{{model->output_names()[0], y}};

  model->train_step(xs, ys).to_host();  // warm-up: builds caches and pools, then waits
  const auto start = std::chrono::steady_clock::now();
  kiln::StepLogs logs;
  for (int i = 0; i < args.steps; ++i) logs = model->train_step(xs, ys);  // no waits in between
  const double loss = logs.to_host().at("loss");  // waits for the last step
  const double step_s = seconds_since(start) / args.steps;
  if (!std::isfinite(loss)) throw kiln::Error("the benchmarked steps produced a non-finite loss");

  const kiln::Tensor test = kiln::Tensor::uniform({10000, 28, 28, 1}, 0, 1, 2).to(device);
  model->predict(test.view({10000, 28, 28, 1}), 1000);  // warm-up
  const auto infer_start = std::chrono::steady_clock::now();
  const kiln::Tensor probabilities = model->predict(test, 1000);
  const double infer_s = seconds_since(infer_start);
  double total = 0.0;
  for (float p : probabilities.to_vector<float>()) total += p;
  if (!(std::abs(total - 10000.0) < 1.0)) throw kiln::Error("inference produced no valid probabilities");

  const kiln::MemoryStats mem = kiln::memory_stats(device);
  std::printf("device %s, batch %lld, %d timed steps\n", device.str().c_str(),
              static_cast<long long>(args.batch), args.steps);
  std::printf("final_loss %.4f\n", loss);
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);  // ru_maxrss is in KiB on Linux, as PyTorch's script reads it
  std::printf("train_step_ms %.1f\nimages_per_s %.0f\ninference_10k_ms %.1f\npeak_allocated_mb %.1f\n"
              "peak_rss_mb %.1f\n",
              step_s * 1e3, static_cast<double>(args.batch) / step_s, infer_s * 1e3,
              static_cast<double>(mem.peak_allocated) / (1 << 20),
              static_cast<double>(usage.ru_maxrss) / 1024);
  return 0;
} catch (const std::exception& e) {
  std::fprintf(stderr, "kiln_bench_seed_step: %s\n", e.what());
  return 1;
}
