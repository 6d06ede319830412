// A packaged detector stage by stage (public API only): letterbox pre-processing, the graph,
// post-processing (score threshold, NMS, boxes to pixels). Median of RUNS runs after a warm-up.
// benchmarks/compare_tfjs_detect.sh interleaves it with TF.js on the same input;
// scripts/gpu-check.sh runs it on cuda:0.
//
//   kiln_bench_detect [photo.jpg] [runs] [--model centernet|blazeface] [--device cpu|cuda[:N]]
//                     [--profile]
//
// Defaults: darknet's dog.jpg, 5 runs, CenterNet, the CPU. On a GPU the graph's time includes
// copying its output back, so it is the time of a whole inference. --profile adds where a CPU
// run's graph time goes: per op type, and the slowest nodes (medians over the runs).
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <exception>
#include <map>
#include <string>
#include <vector>

#include "kiln/build_info.h"
#include "kiln/detector.h"
#include "kiln/image.h"

namespace {

using Clock = std::chrono::steady_clock;

struct Options {
  std::string photo = "/usr/share/darknet/data/dog.jpg", model = "centernet", device = "cpu";
  int runs = 5;
  bool profile = false;
};

Options parse(int argc, char** argv) {
  Options o;
  int positional = 0;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    const bool has_value = i + 1 < argc;
    if (arg == "--model" && has_value) {
      o.model = argv[++i];
    } else if (arg == "--device" && has_value) {
      o.device = argv[++i];
    } else if (arg == "--profile") {
      o.profile = true;
    } else if (arg.rfind("--", 0) != 0 && positional == 0) {
      o.photo = arg;
      ++positional;
    } else if (arg.rfind("--", 0) != 0 && positional == 1) {
      o.runs = std::max(1, std::stoi(arg));
      ++positional;
    } else {
      throw std::invalid_argument("unknown argument '" + arg +
                                  "' (usage: kiln_bench_detect [photo] [runs] [--model NAME] "
                                  "[--device DEVICE] [--profile])");
    }
  }
  return o;
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0.0 : v[v.size() / 2];
}

// The line of `text` that starts with `prefix` (build_info's "CPU: …" names the BLAS and the
// kernels it chose), or empty.
std::string line_starting(const std::string& prefix, const std::string& text) {
  const auto at = text.find(prefix);
  return at == std::string::npos ? "" : text.substr(at, text.find('\n', at) - at);
}

double ms_since(Clock::time_point start) {
  return std::chrono::duration<double, std::milli>(Clock::now() - start).count();
}

// Per op type: the median over the runs of the type's total; then the slowest nodes.
void print_profile(const std::vector<std::vector<kiln::OpGraph::NodeTime>>& runs) {
  std::map<std::string, std::vector<double>> by_op, by_node;
  std::map<std::string, std::string> op_of;
  for (const auto& run : runs) {
    std::map<std::string, double> totals;
    for (const auto& t : run) {
      totals[t.op] += t.milliseconds;
      by_node[t.node].push_back(t.milliseconds);
      op_of[t.node] = t.op;
    }
    for (const auto& [op, ms] : totals) by_op[op].push_back(ms);
  }
  std::vector<std::pair<double, std::string>> ops, nodes;
  for (const auto& [op, v] : by_op) ops.emplace_back(median(v), op);
  for (const auto& [node, v] : by_node) nodes.emplace_back(median(v), node);
  std::sort(ops.rbegin(), ops.rend());
  std::sort(nodes.rbegin(), nodes.rend());
  double total = 0;
  for (const auto& [ms, op] : ops) total += ms;
  std::printf("graph time by op type (median of the runs; %.1f ms in all):\n", total);
  for (const auto& [ms, op] : ops) {
    std::printf("  %-28s %8.2f ms  %5.1f%%\n", op.c_str(), ms, 100 * ms / total);
  }
  std::printf("slowest nodes:\n");
  for (std::size_t i = 0; i < std::min<std::size_t>(15, nodes.size()); ++i) {
    std::printf("  %8.2f ms  %-24s %s\n", nodes[i].first, op_of[nodes[i].second].c_str(),
                nodes[i].second.c_str());
  }
}

}  // namespace

int main(int argc, char** argv) {
  try {
    const Options o = parse(argc, argv);
    kiln::Detector detector = kiln::Detector::load(o.model);
    const kiln::Device device = kiln::parse_device(o.device);
    detector.to(device);
    const kiln::Tensor image = kiln::read_image(o.photo);
    const kiln::DetectOptions options = detector.default_options();
    std::vector<double> pre, graph, post;
    std::vector<std::vector<kiln::OpGraph::NodeTime>> profiles;
    for (int r = 0; r <= o.runs; ++r) {
      auto start = Clock::now();
      kiln::Letterbox where;
      const kiln::Tensor input = detector.preprocess(image, &where);
      const double t_pre = ms_since(start);
      start = Clock::now();
      const kiln::Tensor candidates = detector.run_graph(input);
      const double t_graph = ms_since(start);
      start = Clock::now();
      const auto found =
          detector.postprocess(candidates, where, image.dim(1), image.dim(0), options);
      const double t_post = ms_since(start);
      if (r == 0) continue;  // warm-up
      pre.push_back(t_pre);
      graph.push_back(t_graph);
      post.push_back(t_post);
      if (o.profile) {
        profiles.emplace_back();
        const std::string input_name = detector.graph().input_names().at(0);
        detector.graph().run({{input_name, input.to(device)}}, detector.graph().output_names(),
                             &profiles.back());
      }
    }
    std::printf(
        "kiln %s %lldx%lld on %s, %s, median of %d: pre-processing %.1f ms, graph %.1f ms, "
        "post-processing %.2f ms\n",
        o.model.c_str(), static_cast<long long>(detector.input_size()),
        static_cast<long long>(detector.input_size()), device.str().c_str(), o.photo.c_str(),
        o.runs, median(pre), median(graph), median(post));
    if (device.is_cpu()) std::printf("%s\n", line_starting("CPU: ", kiln::build_info()).c_str());
    if (o.profile) print_profile(profiles);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "kiln_bench_detect: %s\n", e.what());
    return 1;
  }
  return 0;
}
