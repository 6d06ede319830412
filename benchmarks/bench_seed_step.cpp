// Seed-model timings on one device: ms per training step at batch 1024 (forward, backward, Adam),
// images/s, inference time for 10,000 images and peak memory; the seconds from process start to
// the first finished training step; with --epoch N, the wall time of a steady epoch of fit over N
// samples (the second of two: shuffling, batching, captured steps on a GPU, the epoch's metrics
// read). Synthetic inputs: the figures do not depend on the values.
//
//   kiln_bench_seed_step [--device cpu|cuda] [--steps N] [--batch B] [--epoch N]
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <map>
#include <string>
#include <vector>

#include "kiln/kiln.h"

namespace {

struct Args {
  std::string device = "auto";
  int steps = 5;
  std::int64_t batch = 1024;
  std::int64_t epoch = 0;  // samples of the timed fit epoch; 0: none
};

Args parse(int argc, char** argv) {
  Args args;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string key = argv[i];
    if (key == "--device")
      args.device = argv[i + 1];
    else if (key == "--steps")
      args.steps = std::stoi(argv[i + 1]);
    else if (key == "--batch")
      args.batch = std::stoll(argv[i + 1]);
    else if (key == "--epoch")
      args.epoch = std::stoll(argv[i + 1]);
    else
      throw kiln::Error("unknown option " + key +
                        "; expected --device, --steps, --batch or --epoch");
  }
  return args;
}

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

// Seconds since this process started (its start time in /proc/self/stat, field 22, in clock ticks
// since boot, against CLOCK_BOOTTIME); -1 when unreadable.
double seconds_since_process_start() {
  std::FILE* stat = std::fopen("/proc/self/stat", "r");
  if (stat == nullptr) return -1.0;
  char text[1024] = {};
  const std::size_t read = std::fread(text, 1, sizeof text - 1, stat);
  std::fclose(stat);
  const char* field = std::strrchr(text, ')');  // the command name may hold spaces
  if (read == 0 || field == nullptr) return -1.0;
  unsigned long long start_ticks = 0;
  // After ")": state (field 3), then fields 4..21, then starttime (22).
  if (std::sscanf(field + 2,
                  "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %*u %*u %*d %*d %*d %*d "
                  "%*d %*d %llu",
                  &start_ticks) != 1) {
    return -1.0;
  }
  timespec now{};
  clock_gettime(CLOCK_BOOTTIME, &now);
  const double boot_s = static_cast<double>(now.tv_sec) + static_cast<double>(now.tv_nsec) * 1e-9;
  return boot_s - static_cast<double>(start_ticks) / static_cast<double>(sysconf(_SC_CLK_TCK));
}

// The wall time of the second of two fit epochs over `samples` synthetic samples, in seconds.
double steady_epoch_s(kiln::Model& model, kiln::Device device, std::int64_t samples,
                      std::int64_t batch) {
  const kiln::Tensor x = kiln::Tensor::uniform({samples, 28, 28, 1}, 0, 1, 3).to(device);
  std::vector<std::int32_t> labels(static_cast<std::size_t>(samples));
  for (std::size_t i = 0; i < labels.size(); ++i) labels[i] = static_cast<std::int32_t>(i % 10);
  const kiln::Tensor y = kiln::Tensor::from_vector(labels, {samples}, device);
  std::vector<std::chrono::steady_clock::time_point> ends;
  kiln::FitOptions options;
  options.batch_size = batch;
  options.epochs = 2;
  options.verbose = 0;
  options.on_epoch_end = [&](int, const std::map<std::string, double>&) {  // after the read
    ends.push_back(std::chrono::steady_clock::now());
  };
  model.fit(x, y, options);
  return std::chrono::duration<double>(ends.at(1) - ends.at(0)).count();
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
  const double first_step_s = seconds_since_process_start();
  const auto start = std::chrono::steady_clock::now();
  kiln::StepLogs logs;
  for (int i = 0; i < args.steps; ++i) logs = model->train_step(xs, ys);  // no waits in between
  const double loss = logs.to_host().at("loss");                          // waits for the last step
  const double step_s = seconds_since(start) / args.steps;
  if (!std::isfinite(loss)) throw kiln::Error("the benchmarked steps produced a non-finite loss");

  const kiln::Tensor test = kiln::Tensor::uniform({10000, 28, 28, 1}, 0, 1, 2).to(device);
  model->predict(test.view({10000, 28, 28, 1}), 1000);  // warm-up
  const auto infer_start = std::chrono::steady_clock::now();
  const kiln::Tensor probabilities = model->predict(test, 1000);
  const double infer_s = seconds_since(infer_start);
  double total = 0.0;
  for (float p : probabilities.to_vector<float>()) total += p;
  if (!(std::abs(total - 10000.0) < 1.0))
    throw kiln::Error("inference produced no valid probabilities");

  const double epoch_s =
      args.epoch > 0 ? steady_epoch_s(*model, device, args.epoch, args.batch) : -1.0;

  const kiln::MemoryStats mem = kiln::memory_stats(device);
  std::printf("device %s, batch %lld, %d timed steps\n", device.str().c_str(),
              static_cast<long long>(args.batch), args.steps);
  std::printf("final_loss %.4f\n", loss);
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);  // ru_maxrss is in KiB on Linux, as PyTorch's script reads it
  std::printf(
      "train_step_ms %.1f\nimages_per_s %.0f\ninference_10k_ms %.1f\npeak_allocated_mb %.1f\n"
      "peak_rss_mb %.1f\n",
      step_s * 1e3, static_cast<double>(args.batch) / step_s, infer_s * 1e3,
      static_cast<double>(mem.peak_allocated) / (1 << 20),
      static_cast<double>(usage.ru_maxrss) / 1024);
  if (first_step_s >= 0) std::printf("first_step_s %.2f\n", first_step_s);
  if (epoch_s >= 0) {
    std::printf("epoch_ms %.1f\ngraph_replays %llu\n", epoch_s * 1e3,
                static_cast<unsigned long long>(kiln::sync_stats(device).graph_replays));
  }
  return 0;
} catch (const std::exception& e) {
  std::fprintf(stderr, "kiln_bench_seed_step: %s\n", e.what());
  return 1;
}
