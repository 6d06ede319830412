// The packaged BlazeFace (scripts/fetch-models.sh) in kiln::Detector against TF.js 4.22 and
// @vladmandic/human's decode (tests/reference/tfjs/blazeface_reference.js) on exactly the float
// input kiln makes of darknet's person.jpg: TF.js run now when node and its runtime are there,
// else the committed tests/reference/blazeface_person_tfjs.json (tfjs_reference.h). The raw
// outputs, the decoded candidates (scores +-1e-4, boxes +-0.5 px), what non-max suppression keeps,
// and the face in the photo; the anchor generator on its own; the detector's load errors.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "kiln/detector.h"
#include "kiln/error.h"
#include "kiln/image.h"
#include "detector_run.h"
#include "temp_dir.h"

namespace kiln {
namespace {

using Json = nlohmann::json;
namespace fs = std::filesystem;

constexpr const char* kPhoto = "/usr/share/darknet/data/person.jpg";
// The woman's face in person.jpg (x1, y1, x2, y2 in pixels), drawn by hand on a 10-pixel grid:
// she looks away to the left, so it is her head from below the crown of her hat to her chin,
// her cheek showing.
const Box kFace{221, 108, 247, 136};

struct BlazeFaceRun : testing::DetectorRun {
  Tensor candidates;
  std::vector<Tensor> outputs;  // the graph's, in its output order
};

const BlazeFaceRun& blazeface_run() {
  static const BlazeFaceRun run = [] {
    BlazeFaceRun r;
    if (!testing::start_detector_run(r, "blazeface", kPhoto, "blazeface_reference.js",
                                     "blazeface_person_tfjs.json"))
      return r;
    r.candidates = r.detector->run_graph(r.input);
    r.outputs = r.detector->graph().run({{"input", r.input}}, r.detector->graph().output_names());
    return r;
  }();
  return run;
}

// The evenly spaced samples the reference script records, and the sum of |x|.
std::vector<double> samples_of(const Tensor& t, const Json& want) {
  const std::vector<float> v = t.to_vector<float>();
  const std::size_t step = want.at("sample_step"), count = want.at("samples").size();
  std::vector<double> samples;
  for (std::size_t i = 0; i < v.size() && samples.size() < count; i += step)
    samples.push_back(v[i]);
  return samples;
}

TEST(BlazeFaceAnchors, FollowMediaPipesGrids) {
  const std::vector<AnchorCentre> a = blazeface_anchors(256);
  ASSERT_EQ(a.size(), 896u);
  // 16x16 cells of 16 pixels, 2 anchors each, row by row...
  EXPECT_EQ(a[0].x, 8.0f);
  EXPECT_EQ(a[0].y, 8.0f);
  EXPECT_EQ(a[1].x, 8.0f);
  EXPECT_EQ(a[2].x, 24.0f);
  EXPECT_EQ(a[2].y, 8.0f);
  EXPECT_EQ(a[32].x, 8.0f);
  EXPECT_EQ(a[32].y, 24.0f);
  EXPECT_EQ(a[511].x, 248.0f);
  EXPECT_EQ(a[511].y, 248.0f);
  // ...then 8x8 cells of 32 pixels, 6 anchors each.
  for (std::size_t i = 512; i < 518; ++i) {
    EXPECT_EQ(a[i].x, 16.0f);
    EXPECT_EQ(a[i].y, 16.0f);
  }
  EXPECT_EQ(a[518].x, 48.0f);
  EXPECT_EQ(a[895].x, 240.0f);
  EXPECT_EQ(a[895].y, 240.0f);
  // The 128x128 front-camera model has the same grids at half the strides.
  const std::vector<AnchorCentre> front = blazeface_anchors(128);
  ASSERT_EQ(front.size(), 896u);
  EXPECT_EQ(front[2].x, 12.0f);
  EXPECT_EQ(front[512].x, 8.0f);
  EXPECT_THROW(blazeface_anchors(100), Error);
}

TEST(BlazeFaceAnchors, DecodeMovesTheCentreAndTakesTheSize) {
  const std::int64_t n = 896;
  std::vector<float> logits(n, -100.0f), regressors(n * 16, 0.0f);
  logits[513] = 0.0f;  // sigmoid 0.5
  float* r = regressors.data() + 513 * 16;
  r[0] = 3;   // centre dx
  r[1] = -2;  // centre dy
  r[2] = 10;  // width
  r[3] = 20;  // height
  const std::vector<float> out = decode_blazeface(Tensor::from_vector(logits, {1, n, 1}),
                                                  Tensor::from_vector(regressors, {1, n, 16}), 256)
                                     .to_vector<float>();
  ASSERT_EQ(out.size(), static_cast<std::size_t>(n * 6));
  const float* row = out.data() + 513 * 6;  // anchor (16, 16)
  EXPECT_FLOAT_EQ(row[0], 16 + 3 - 5);
  EXPECT_FLOAT_EQ(row[1], 16 - 2 - 10);
  EXPECT_FLOAT_EQ(row[2], 16 + 3 + 5);
  EXPECT_FLOAT_EQ(row[3], 16 - 2 + 10);
  EXPECT_FLOAT_EQ(row[4], 0.5f);
  EXPECT_EQ(row[5], 0.0f);
  EXPECT_THROW(decode_blazeface(Tensor::zeros({1, 100, 1}), Tensor::zeros({1, 100, 16}), 256),
               Error);
}

TEST(BlazeFace, AnchorsAreHumans) {
  const BlazeFaceRun& run = blazeface_run();
  SKIP_WITHOUT_MODEL(run);
  const std::vector<double> want = run.reference.at("anchors").get<std::vector<double>>();
  const std::vector<AnchorCentre> got = blazeface_anchors(256);
  ASSERT_EQ(want.size(), 2 * got.size());
  for (std::size_t i = 0; i < got.size(); ++i) {
    EXPECT_EQ(got[i].x, want[2 * i]) << "anchor " << i;
    EXPECT_EQ(got[i].y, want[2 * i + 1]) << "anchor " << i;
  }
}

TEST(BlazeFace, CommittedReferenceRanThisInput) {
  const BlazeFaceRun& run = blazeface_run();
  SKIP_WITHOUT_MODEL(run);
  const Json& want = run.committed.at("input");
  EXPECT_EQ(samples_of(run.input, want), want.at("samples").get<std::vector<double>>())
      << "kiln's input differs from the one the committed reference was made of: regenerate it "
         "(tests/reference/tfjs/regenerate.sh)";
  const std::vector<float> v = run.input.to_vector<float>();
  EXPECT_GE(*std::min_element(v.begin(), v.end()), -1.0f);
  EXPECT_LE(*std::max_element(v.begin(), v.end()), 1.0f);
}

TEST(BlazeFace, RawOutputsMatchTfjs) {
  const BlazeFaceRun& run = blazeface_run();
  SKIP_WITHOUT_MODEL(run);
  std::printf("  reference: %s\n", run.reference_source.c_str());
  const std::vector<std::string>& names = run.detector->graph().output_names();
  ASSERT_EQ(names.size(), run.reference.at("outputs").size());
  for (std::size_t i = 0; i < names.size(); ++i) {
    const Json& want = run.reference.at("outputs").at(names[i]);
    EXPECT_EQ(run.outputs[i].shape(), want.at("shape").get<Shape>()) << names[i];
    const std::vector<double> ref = want.at("samples").get<std::vector<double>>();
    const std::vector<double> got = samples_of(run.outputs[i], want);
    double scale = 0, worst = 0;
    for (std::size_t k = 0; k < ref.size(); ++k) {
      scale = std::max(scale, std::abs(ref[k]));
      worst = std::max(worst, std::abs(got[k] - ref[k]));
    }
    EXPECT_LT(worst / scale, 1e-4) << names[i];
    std::printf("  %-10s max relative error %.2e\n", names[i].c_str(), worst / scale);
  }
}

TEST(BlazeFace, DecodedCandidatesMatchHumansDecode) {
  const BlazeFaceRun& run = blazeface_run();
  SKIP_WITHOUT_MODEL(run);
  const std::vector<float> got = run.candidates.to_vector<float>();
  ASSERT_EQ(got.size(), 896u * 6);
  double worst_box = 0, worst_score = 0;
  for (const Json& want : run.reference.at("candidates")) {
    const std::size_t i = want.at("index");
    const std::vector<double> box = want.at("box").get<std::vector<double>>();
    const float* row = got.data() + 6 * i;
    for (int k = 0; k < 4; ++k) worst_box = std::max(worst_box, std::abs(row[k] - box[k]));
    worst_score = std::max(worst_score, std::abs(row[4] - want.at("score").get<double>()));
    EXPECT_EQ(row[5], 0.0f);
  }
  EXPECT_LT(worst_box, 0.5) << "pixels in the 256x256 input";
  EXPECT_LT(worst_score, 1e-4);
  std::printf("  %zu best candidates: worst box corner %.2e px, worst score %.2e\n",
              run.reference.at("candidates").size(), worst_box, worst_score);
}

TEST(BlazeFace, NonMaxSuppressionKeepsWhatTfjsKeeps) {
  const BlazeFaceRun& run = blazeface_run();
  SKIP_WITHOUT_MODEL(run);
  const Json& nms = run.reference.at("nms");
  const std::vector<float> rows = run.candidates.to_vector<float>();
  std::vector<Box> boxes;
  std::vector<float> scores;
  for (std::size_t i = 0; i < rows.size() / 6; ++i) {
    boxes.push_back({rows[6 * i], rows[6 * i + 1], rows[6 * i + 2], rows[6 * i + 3]});
    scores.push_back(rows[6 * i + 4]);
  }
  const std::vector<std::int64_t> kept = non_max_suppression(
      boxes, scores, nms.at("max_boxes"), nms.at("iou_threshold"), nms.at("score_threshold"));
  std::vector<std::int64_t> want;
  for (const Json& k : nms.at("kept")) want.push_back(k.at("index"));
  EXPECT_EQ(kept, want);
  EXPECT_FALSE(want.empty()) << "TF.js keeps no box: the photo shows no face to it";
}

TEST(BlazeFace, FindsTheFaceInPersonJpg) {
  const BlazeFaceRun& run = blazeface_run();
  SKIP_WITHOUT_MODEL(run);
  const std::vector<Detection> found =
      run.detector->postprocess(run.candidates, run.where, run.image.dim(1), run.image.dim(0),
                                run.detector->default_options());
  ASSERT_EQ(found.size(), 1u) << "one face at BlazeFace's default score of 0.5";
  const Detection& face = found.front();
  EXPECT_EQ(face.label, "face");
  EXPECT_GE(face.score, 0.5f);
  EXPECT_GE(box_iou(face.box, kFace), 0.5f) << "(" << face.box.x1 << ", " << face.box.y1 << ", "
                                            << face.box.x2 << ", " << face.box.y2 << ")";
  // The same through detect(), the library's one call.
  const std::vector<Detection> again = run.detector->detect(run.image);
  ASSERT_EQ(again.size(), 1u);
  EXPECT_EQ(again.front().box.x1, face.box.x1);
  EXPECT_EQ(again.front().score, face.score);
}

class DetectorLoad : public testing::TempDirTest {};

TEST_F(DetectorLoad, UnknownNameIsAnError) {
  try {
    Detector::load("yolo");
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("unknown detector model 'yolo'"), std::string::npos)
        << e.what();
  }
}

TEST_F(DetectorLoad, GraphOfNeitherKindIsAnError) {
  std::ofstream(path("model.json")) << R"({
    "modelTopology": {"node": [
      {"name": "image", "op": "Placeholder",
       "attr": {"shape": {"shape": {"dim": [{"size": "1"}, {"size": "32"}, {"size": "32"},
                                            {"size": "3"}]}}}},
      {"name": "probabilities", "op": "Sigmoid", "input": ["image"]}]},
    "weightsManifest": []})";
  try {
    Detector::load(path("model.json"));
    FAIL() << "no error";
  } catch (const Error& e) {
    const std::string message = e.what();
    EXPECT_NE(message.find("not a detector kiln knows"), std::string::npos) << message;
    EXPECT_NE(message.find("probabilities"), std::string::npos) << message;
  }
}

TEST_F(DetectorLoad, KindsAreRecognisedFromTheGraph) {
  for (const char* name : {"centernet", "blazeface"}) {
    const std::string model = Detector::default_model_path(name);
    if (!fs::exists(model)) GTEST_SKIP() << model << " is missing: run scripts/fetch-models.sh";
    const Detector by_path = Detector::load(model);
    EXPECT_EQ(by_path.kind(),
              std::string(name) == "centernet" ? DetectorKind::centernet : DetectorKind::blazeface);
    EXPECT_EQ(by_path.input_size(), std::string(name) == "centernet" ? 512 : 256);
    EXPECT_EQ(by_path.class_names().size(), std::string(name) == "centernet" ? 80u : 1u);
  }
}

}  // namespace
}  // namespace kiln
