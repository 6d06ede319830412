// The packaged CenterNet on the CPU, stage by stage (public API only): letterbox pre-processing,
// the graph, post-processing (score threshold, NMS, boxes to pixels). Median of RUNS runs after a
// warm-up. benchmarks/compare_tfjs_detect.sh interleaves it with TF.js on the same input.
//
//   kiln_bench_detect [photo.jpg] [runs]     (default: darknet's dog.jpg, 5 runs)
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <exception>
#include <string>
#include <vector>

#include "kiln/detector.h"
#include "kiln/image.h"

namespace {

using Clock = std::chrono::steady_clock;

double median_ms(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

double ms_since(Clock::time_point start) {
  return std::chrono::duration<double, std::milli>(Clock::now() - start).count();
}

}  // namespace

int main(int argc, char** argv) {
  const std::string photo = argc > 1 ? argv[1] : "/usr/share/darknet/data/dog.jpg";
  const int runs = argc > 2 ? std::max(1, std::stoi(argv[2])) : 5;
  try {
    const kiln::Detector detector = kiln::Detector::load("centernet");
    const kiln::Tensor image = kiln::read_image(photo);
    std::vector<double> pre, graph, post;
    for (int r = 0; r <= runs; ++r) {
      auto start = Clock::now();
      kiln::Letterbox where;
      const kiln::Tensor input = detector.preprocess(image, &where);
      const double t_pre = ms_since(start);
      start = Clock::now();
      const kiln::Tensor detections = detector.run_graph(input);
      const double t_graph = ms_since(start);
      start = Clock::now();
      const auto found =
          detector.postprocess(detections, where, image.dim(1), image.dim(0), kiln::DetectOptions{});
      const double t_post = ms_since(start);
      if (r == 0) continue;  // warm-up
      pre.push_back(t_pre);
      graph.push_back(t_graph);
      post.push_back(t_post);
    }
    std::printf("kiln CenterNet 512x512 on the CPU, %s, median of %d: pre-processing %.1f ms, graph "
                "%.1f ms, post-processing %.2f ms\n",
                photo.c_str(), runs, median_ms(pre), median_ms(graph), median_ms(post));
  } catch (const std::exception& e) {
    std::fprintf(stderr, "kiln_bench_detect: %s\n", e.what());
    return 1;
  }
  return 0;
}
