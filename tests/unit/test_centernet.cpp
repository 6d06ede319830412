// The packaged MobileNetV3-CenterNet (scripts/fetch-models.sh) run by kiln's OpGraph against
// TF.js 4.22 on exactly the same float input, the one kiln makes of darknet's dog.jpg: TF.js run
// now when node and its runtime are there, else the committed
// tests/reference/centernet_dog_tfjs.json (tfjs_reference.h), which must be the one of kiln's
// current input either way (tests/reference/tfjs/regenerate.sh rewrites it). One inference for
// the whole suite. Skipped, saying why, when the model or the photo is missing.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>

#include "kiln/detector.h"
#include "kiln/image.h"
#include "detector_run.h"

namespace kiln {
namespace {

using Json = nlohmann::json;
namespace fs = std::filesystem;

constexpr const char* kPhoto = "/usr/share/darknet/data/dog.jpg";

const std::vector<std::string> kNamed = {
    "tower_0/MobilenetV3/Conv/hard_swish/mul_1",
    "tower_0/MobilenetV3/expanded_conv_3/squeeze_excite/mul",
    "tower_0/CenternetHead/Mean",
    "tower_0/CenternetHead/c5_upsample/up_sampling2d/ResizeBilinear",
    "tower_0/keypoints",
    "tower_0/wh",
};

struct CenterNetRun : testing::DetectorRun {
  Tensor detections;
  std::vector<Tensor> named;
};

const CenterNetRun& centernet_run() {
  static const CenterNetRun run = [] {
    CenterNetRun r;
    if (!testing::start_detector_run(r, "centernet", kPhoto, "centernet_reference.js",
                                     "centernet_dog_tfjs.json") ||
        !r.error.empty())
      return r;
    std::vector<std::string> outputs = {"tower_0/detections"};
    outputs.insert(outputs.end(), kNamed.begin(), kNamed.end());
    std::vector<Tensor> values = r.detector->graph().run({{"tower_0/images", r.input}}, outputs);
    r.detections = values[0];
    r.named.assign(values.begin() + 1, values.end());
    return r;
  }();
  return run;
}

// Sum, sum of |x| and the evenly spaced samples the reference script records.
struct Summary {
  double sum = 0, abs_sum = 0;
  std::vector<double> samples;
};

Summary summarise(const Tensor& t, std::size_t step, std::size_t count) {
  const std::vector<float> v = t.to_vector<float>();
  Summary s;
  for (float x : v) {
    s.sum += x;
    s.abs_sum += std::abs(x);
  }
  for (std::size_t i = 0; i < v.size() && s.samples.size() < count; i += step)
    s.samples.push_back(v[i]);
  return s;
}

// The largest |kiln - tfjs| relative to the tensor's largest |value| among the samples.
double max_relative_error(const Summary& got, const Json& want) {
  const std::vector<double> ref = want.at("samples").get<std::vector<double>>();
  double scale = 0, worst = 0;
  for (double r : ref) scale = std::max(scale, std::abs(r));
  for (std::size_t i = 0; i < ref.size(); ++i)
    worst = std::max(worst, std::abs(got.samples[i] - ref[i]));
  return scale > 0 ? worst / scale : worst;
}

TEST(CenterNet, CommittedReferenceRanThisInput) {
  const CenterNetRun& run = centernet_run();
  SKIP_WITHOUT_MODEL(run);
  const Json& want = run.committed.at("input");
  const Summary got = summarise(run.input, want.at("sample_step"), want.at("samples").size());
  EXPECT_EQ(got.samples, want.at("samples").get<std::vector<double>>())
      << "kiln's letterboxed input differs from the one the committed reference was made of: "
         "regenerate it (tests/reference/tfjs/regenerate.sh)";
  EXPECT_NEAR(got.sum, want.at("sum").get<double>(), 1e-6 * want.at("abs_sum").get<double>());
}

TEST(CenterNet, IntermediatesMatchTfjs) {
  const CenterNetRun& run = centernet_run();
  SKIP_WITHOUT_MODEL(run);
  std::printf("  reference: %s\n", run.reference_source.c_str());
  for (std::size_t i = 0; i < kNamed.size(); ++i) {
    const Json& want = run.reference.at("tensors").at(kNamed[i]);
    EXPECT_EQ(run.named[i].shape(), want.at("shape").get<Shape>()) << kNamed[i];
    const Summary got = summarise(run.named[i], want.at("sample_step"), want.at("samples").size());
    const double error = max_relative_error(got, want);
    EXPECT_LT(error, 1e-4) << kNamed[i];
    const double abs_sum = want.at("abs_sum");
    EXPECT_NEAR(got.abs_sum, abs_sum, 1e-4 * abs_sum) << kNamed[i];
    EXPECT_NEAR(got.sum, want.at("sum").get<double>(), 1e-4 * abs_sum) << kNamed[i];
    std::printf("  %-66s max relative error %.2e\n", kNamed[i].c_str(), error);
  }
}

TEST(CenterNet, DetectionsMatchTfjs) {
  const CenterNetRun& run = centernet_run();
  SKIP_WITHOUT_MODEL(run);
  const std::vector<float> got = run.detections.to_vector<float>();
  const std::vector<double> want = run.reference.at("detections").get<std::vector<double>>();
  ASSERT_EQ(got.size(), want.size());
  double worst_box = 0, worst_score = 0;
  for (std::size_t row = 0; row < want.size() / 6; ++row) {
    const double* w = want.data() + 6 * row;
    const float* g = got.data() + 6 * row;
    if (w[4] < 0.05) break;  // below that, near-equal scores may swap places
    EXPECT_EQ(g[5], w[5]) << "class of detection " << row;
    for (int k = 0; k < 4; ++k) worst_box = std::max(worst_box, std::abs(g[k] - w[k]));
    worst_score = std::max(worst_score, std::abs(g[4] - w[4]) / w[4]);
  }
  EXPECT_LT(worst_box, 0.05) << "pixels in the 512x512 input";
  EXPECT_LT(worst_score, 1e-4);
  std::printf("  detections: worst box corner %.2e px, worst relative score %.2e\n", worst_box,
              worst_score);
}

TEST(CenterNet, DogPhotoHasDogBicycleAndCarOrTruck) {
  const CenterNetRun& run = centernet_run();
  SKIP_WITHOUT_MODEL(run);
  const std::vector<Detection> found = run.detector->postprocess(
      run.detections, run.where, run.image.dim(1), run.image.dim(0), DetectOptions{});
  const auto best = [&](const std::string& label) {
    float score = 0;
    for (const Detection& d : found) {
      if (d.label == label) score = std::max(score, d.score);
    }
    return score;
  };
  EXPECT_GE(best("dog"), 0.3f);
  EXPECT_GE(best("bicycle"), 0.3f);
  EXPECT_GE(std::max(best("car"), best("truck")), 0.3f);
  for (const Detection& d : found) {
    EXPECT_GE(d.box.x1, 0);
    EXPECT_LE(d.box.x2, run.image.dim(1));
    EXPECT_LT(d.box.x1, d.box.x2);
    EXPECT_LT(d.box.y1, d.box.y2);
  }
}

TEST(CenterNet, ClassOrderIsDarknetsCocoNames) {
  std::ifstream in("/usr/share/darknet/data/coco.names");
  if (!in) GTEST_SKIP() << "/usr/share/darknet/data/coco.names is missing: apt-get install darknet";
  // darknet spells six COCO names the VOC way.
  const std::map<std::string, std::string> voc = {
      {"motorbike", "motorcycle"},     {"aeroplane", "airplane"},       {"sofa", "couch"},
      {"pottedplant", "potted plant"}, {"diningtable", "dining table"}, {"tvmonitor", "tv"}};
  std::vector<std::string> names;
  for (std::string line; std::getline(in, line);) {
    names.push_back(voc.count(line) ? voc.at(line) : line);
  }
  EXPECT_EQ(names, coco_class_names());
}

}  // namespace
}  // namespace kiln
