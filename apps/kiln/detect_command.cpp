// kiln detect: option parsing, the output checks before any work, then kiln::Detector, the
// picture (detection_figure.h), the table and the JSON, each file written atomically.
#include "detect_command.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <cstdio>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "common.h"
#include "detection_figure.h"
#include "kiln/atomic_file.h"
#include "kiln/detector.h"
#include "kiln/image.h"
#include "usage.h"

namespace kiln::cli {

namespace {

struct DetectCommand {
  std::string input, output, model = "centernet", json, save_input;
  double min_score = 0;
  bool min_score_given = false;  // else the model's default
  std::int64_t max_boxes = 10;
  std::string device = "cpu";
};

// TF Hub's detector output keys; boxes normalised [ymin, xmin, ymax, xmax].
std::string detections_json(const std::vector<Detection>& detections, const Tensor& image,
                            const std::string& path) {
  const auto w = static_cast<double>(image.dim(1)), h = static_cast<double>(image.dim(0));
  nlohmann::json boxes = nlohmann::json::array(), names = nlohmann::json::array(),
                 scores = nlohmann::json::array(), ids = nlohmann::json::array();
  for (const Detection& d : detections) {
    boxes.push_back({d.box.y1 / h, d.box.x1 / w, d.box.y2 / h, d.box.x2 / w});
    names.push_back(d.label);
    scores.push_back(d.score);
    ids.push_back(d.class_id);
  }
  const nlohmann::json out = {{"image", path},
                              {"width", image.dim(1)},
                              {"height", image.dim(0)},
                              {"detection_boxes", boxes},
                              {"detection_class_entities", names},
                              {"detection_class_ids", ids},
                              {"detection_scores", scores}};
  return out.dump(1) + "\n";
}

void print_table(const std::vector<Detection>& detections) {
  std::printf("%-16s %6s  %s\n", "class", "score", "box (x1, y1, x2, y2) in pixels");
  for (const Detection& d : detections) {
    std::printf("%-16s %6.3f  (%.0f, %.0f, %.0f, %.0f)\n", d.label.c_str(), d.score, d.box.x1,
                d.box.y1, d.box.x2, d.box.y2);
  }
}

void write_raw_floats(const std::string& path, const Tensor& t) {
  const std::vector<float> values = t.to_vector<float>();
  write_file_atomically(path, std::string_view(reinterpret_cast<const char*>(values.data()),
                                               values.size() * sizeof(float)));
}

int run_detect(const DetectCommand& c) {
  check_output_path(c.output, {".png", ".jpg", ".jpeg"});
  if (!c.json.empty()) check_output_path(c.json, {".json"});
  const Tensor image = read_image(c.input);
  check_image(image, c.input);
  Detector detector = Detector::load(c.model);
  detector.to(resolve_device(c.device));
  DetectOptions options = detector.default_options();
  if (c.min_score_given) options.min_score = static_cast<float>(c.min_score);
  options.max_boxes = c.max_boxes;
  Letterbox where;
  const Tensor input = detector.preprocess(image, &where);
  if (!c.save_input.empty()) write_raw_floats(c.save_input, input);
  const std::vector<Detection> detections =
      detector.postprocess(detector.run_graph(input), where, image.dim(1), image.dim(0), options);
  write_image(c.output, draw_detections(image, detections));
  if (!c.json.empty()) write_file_atomically(c.json, detections_json(detections, image, c.input));
  print_table(detections);
  std::printf("%s: %zu boxes with score >= %.2f drawn on %s (%lldx%lld)\n", c.output.c_str(),
              detections.size(), options.min_score, c.input.c_str(),
              static_cast<long long>(image.dim(1)), static_cast<long long>(image.dim(0)));
  return 0;
}

}  // namespace

void add_detect_command(CLI::App& app, std::function<int()>& action) {
  auto c = std::make_shared<DetectCommand>();
  CLI::App* sub = app.add_subcommand(
      "detect",
      "Find objects in a photo with the packaged CenterNet (COCO 80 classes), or faces with "
      "BlazeFace, and draw labelled boxes");
  sub->add_option("input", c->input, "A PNG or JPEG photo")->required();
  sub->add_option("-o,--output", c->output, "Output picture with the boxes (.png, .jpg)")
      ->required();
  sub->add_option("--model", c->model,
                  "centernet or blazeface (scripts/fetch-models.sh puts them in $KILN_MODELS, "
                  "else ~/.kiln/models), or the model.json of a TF.js graph model of either kind")
      ->capture_default_str();
  CLI::Option* min_score =
      sub->add_option("--min-score", c->min_score,
                      "Boxes scoring less are dropped (default: 0.1 for CenterNet, as the seed; "
                      "0.5 for BlazeFace, as MediaPipe)")
          ->check(CLI::Range(0.0, 1.0));
  sub->add_option("--max-boxes", c->max_boxes, "At most this many boxes, best first")
      ->check(whole_number(0, 100))
      ->capture_default_str();
  sub->add_option("--json", c->json,
                  "Also write the detections as JSON (normalised [ymin, xmin, "
                  "ymax, xmax] boxes, class names, scores)");
  sub->add_option("--save-input", c->save_input,
                  "Also write the model's input as raw float32 (1, s, s, 3): s = 512 for "
                  "CenterNet, 256 for BlazeFace; to compare with another runtime");
  sub->add_option("--device", c->device,
                  "cpu, cuda or cuda:N (so far checked on the CUDA emulation only), or auto")
      ->capture_default_str();
  sub->callback([c, min_score, &action] {
    c->min_score_given = min_score->count() > 0;
    action = [c] { return run_detect(*c); };
  });
}

}  // namespace kiln::cli
