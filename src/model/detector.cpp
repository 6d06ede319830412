// kiln::Detector: letterbox pre-processing, the CenterNet graph (whose decode — 3x3 max-pool
// peaks, top-100, box regression — is inside the graph), and the post-processing: score
// threshold, greedy NMS with tf.image.non_max_suppression's rules, boxes back to image pixels.
#include "kiln/detector.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <numeric>

#include "core/check.h"
#include "kiln/graph_ops.h"
#include "kiln/image.h"
#include "kiln/ops.h"

namespace kiln {

namespace {

constexpr const char* kCenterNetInput = "tower_0/images";
constexpr const char* kCenterNetOutput = "tower_0/detections";

float area(const Box& b) { return std::max(0.0f, b.x2 - b.x1) * std::max(0.0f, b.y2 - b.y1); }

// The corners in order (TF's NMS accepts either diagonal).
Box normalized(const Box& b) {
  return {std::min(b.x1, b.x2), std::min(b.y1, b.y2), std::max(b.x1, b.x2), std::max(b.y1, b.y2)};
}

}  // namespace

float box_iou(const Box& a_in, const Box& b_in) {
  const Box a = normalized(a_in), b = normalized(b_in);
  const float area_a = area(a), area_b = area(b);
  if (area_a <= 0 || area_b <= 0) return 0;
  const Box inter{std::max(a.x1, b.x1), std::max(a.y1, b.y1), std::min(a.x2, b.x2),
                  std::min(a.y2, b.y2)};
  const float overlap = area(inter);
  return overlap / (area_a + area_b - overlap);
}

std::vector<std::int64_t> non_max_suppression(const std::vector<Box>& boxes,
                                              const std::vector<float>& scores,
                                              std::int64_t max_outputs, float iou_threshold,
                                              float score_threshold) {
  KILN_CHECK(boxes.size() == scores.size(), "non_max_suppression: {} boxes but {} scores",
             boxes.size(), scores.size());
  KILN_CHECK(iou_threshold >= 0 && iou_threshold <= 1,
             "non_max_suppression: iou_threshold must be in [0, 1], found {}", iou_threshold);
  std::vector<std::int64_t> order;
  for (std::size_t i = 0; i < scores.size(); ++i) {
    if (scores[i] > score_threshold) order.push_back(static_cast<std::int64_t>(i));
  }
  std::stable_sort(order.begin(), order.end(), [&](std::int64_t a, std::int64_t b) {
    return scores[static_cast<std::size_t>(a)] > scores[static_cast<std::size_t>(b)];
  });
  std::vector<std::int64_t> kept;
  for (std::int64_t candidate : order) {
    if (static_cast<std::int64_t>(kept.size()) >= max_outputs) break;
    const Box& box = boxes[static_cast<std::size_t>(candidate)];
    const bool overlaps = std::any_of(kept.begin(), kept.end(), [&](std::int64_t k) {
      return box_iou(box, boxes[static_cast<std::size_t>(k)]) > iou_threshold;
    });
    if (!overlaps) kept.push_back(candidate);
  }
  return kept;
}

const std::vector<std::string>& coco_class_names() {
  static const std::vector<std::string> names = {"person",        "bicycle",      "car",
                                                 "motorcycle",    "airplane",     "bus",
                                                 "train",         "truck",        "boat",
                                                 "traffic light", "fire hydrant", "stop sign",
                                                 "parking meter", "bench",        "bird",
                                                 "cat",           "dog",          "horse",
                                                 "sheep",         "cow",          "elephant",
                                                 "bear",          "zebra",        "giraffe",
                                                 "backpack",      "umbrella",     "handbag",
                                                 "tie",           "suitcase",     "frisbee",
                                                 "skis",          "snowboard",    "sports ball",
                                                 "kite",          "baseball bat", "baseball glove",
                                                 "skateboard",    "surfboard",    "tennis racket",
                                                 "bottle",        "wine glass",   "cup",
                                                 "fork",          "knife",        "spoon",
                                                 "bowl",          "banana",       "apple",
                                                 "sandwich",      "orange",       "broccoli",
                                                 "carrot",        "hot dog",      "pizza",
                                                 "donut",         "cake",         "chair",
                                                 "couch",         "potted plant", "bed",
                                                 "dining table",  "toilet",       "tv",
                                                 "laptop",        "mouse",        "remote",
                                                 "keyboard",      "cell phone",   "microwave",
                                                 "oven",          "toaster",      "sink",
                                                 "refrigerator",  "book",         "clock",
                                                 "vase",          "scissors",     "teddy bear",
                                                 "hair drier",    "toothbrush"};
  return names;
}

Box Letterbox::to_image(const Box& b, std::int64_t image_width, std::int64_t image_height) const {
  const auto x = [&](float v) {
    return static_cast<float>(
        std::clamp((v - static_cast<double>(left)) / scale, 0.0, static_cast<double>(image_width)));
  };
  const auto y = [&](float v) {
    return static_cast<float>(
        std::clamp((v - static_cast<double>(top)) / scale, 0.0, static_cast<double>(image_height)));
  };
  return {x(b.x1), y(b.y1), x(b.x2), y(b.y2)};
}

std::string Detector::default_model_path() {
  const char* models = std::getenv("KILN_MODELS");
  const char* home = std::getenv("HOME");
  const std::filesystem::path dir = models != nullptr && *models != '\0'
                                        ? std::filesystem::path(models)
                                        : std::filesystem::path(home ? home : ".") / ".kiln/models";
  return (dir / "centernet" / "model.json").string();
}

Detector::Detector(OpGraph graph, std::string input, std::string output, std::int64_t input_size)
    : graph_(std::move(graph)),
      input_(std::move(input)),
      output_(std::move(output)),
      input_size_(input_size) {}

Detector Detector::load(const std::string& model) {
  KILN_CHECK(model != "blazeface",
             "detector: blazeface is not supported yet (expected centernet or a CenterNet "
             "model.json path)");
  const std::string path = model == "centernet" ? default_model_path() : model;
  KILN_CHECK(std::filesystem::exists(path),
             "detector model {} not found (run scripts/fetch-models.sh, or give a model.json path)",
             path);
  OpGraph graph = OpGraph::load_tfjs(path);
  const auto& inputs = graph.input_names();
  const auto& outputs = graph.output_names();
  KILN_CHECK(std::find(inputs.begin(), inputs.end(), kCenterNetInput) != inputs.end() &&
                 std::find(outputs.begin(), outputs.end(), kCenterNetOutput) != outputs.end(),
             "{}: expected a CenterNet graph with input '{}' and output '{}', found inputs [{}] "
             "and outputs [{}]",
             path, kCenterNetInput, kCenterNetOutput, fmt::join(inputs, ", "),
             fmt::join(outputs, ", "));
  const Shape shape = graph.input_shape(kCenterNetInput);
  KILN_CHECK(shape.size() == 4 && shape[1] > 0 && shape[1] == shape[2] && shape[3] == 3,
             "{}: expected a square RGB input (1, s, s, 3), found {}", path, shape_str(shape));
  return Detector(std::move(graph), kCenterNetInput, kCenterNetOutput, shape[1]);
}

Tensor Detector::preprocess(const Tensor& image, Letterbox* where) const {
  check_image(image, "detector input");
  const Tensor rgb = to_rgb(image);
  const std::int64_t h = rgb.dim(0), w = rgb.dim(1), s = input_size_;
  Letterbox box;
  box.input_size = s;
  box.scale = std::min(static_cast<double>(s) / static_cast<double>(w),
                       static_cast<double>(s) / static_cast<double>(h));
  box.width = std::clamp<std::int64_t>(std::llround(static_cast<double>(w) * box.scale), 1, s);
  box.height = std::clamp<std::int64_t>(std::llround(static_cast<double>(h) * box.scale), 1, s);
  box.left = (s - box.width) / 2;
  box.top = (s - box.height) / 2;
  const Tensor pixels = rgb.astype(DType::f32).view({1, h, w, 3});
  const Tensor scaled = resize_bilinear(pixels, Size2(box.height, box.width), {false, true});
  if (where != nullptr) *where = box;
  return zero_pad2d(scaled, Padding::explicit_amounts(box.top, s - box.top - box.height, box.left,
                                                      s - box.left - box.width));
}

Tensor Detector::run_graph(const Tensor& input) const {
  return graph_.run({{input_, input.to(graph_.device())}}, {output_}).at(0).to(Device::cpu());
}

std::vector<Detection> Detector::postprocess(const Tensor& detections, const Letterbox& where,
                                             std::int64_t image_width, std::int64_t image_height,
                                             const DetectOptions& options) const {
  KILN_CHECK(detections.rank() == 3 && detections.dim(2) == 6,
             "detector: expected detections (1, k, 6), found {}", shape_str(detections.shape()));
  const std::vector<float> rows = detections.to_vector<float>();
  const auto count = static_cast<std::size_t>(detections.dim(1));
  std::vector<Box> boxes(count);
  std::vector<float> scores(count);
  for (std::size_t i = 0; i < count; ++i) {
    const float* r = rows.data() + 6 * i;
    boxes[i] = {r[0], r[1], r[2], r[3]};
    scores[i] = r[4];
  }
  const float threshold = std::nextafter(options.min_score, -1.0f);  // keep score == min_score
  const std::vector<std::int64_t> kept =
      non_max_suppression(boxes, scores, options.max_boxes, options.iou_threshold, threshold);
  const auto& names = coco_class_names();
  std::vector<Detection> result;
  for (std::int64_t k : kept) {
    const auto i = static_cast<std::size_t>(k);
    const auto class_id = static_cast<std::int64_t>(std::lround(rows[6 * i + 5]));
    KILN_CHECK(class_id >= 0 && class_id < static_cast<std::int64_t>(names.size()),
               "detector: class id {} out of the {} COCO classes", class_id, names.size());
    result.push_back({class_id, names[static_cast<std::size_t>(class_id)], scores[i],
                      where.to_image(boxes[i], image_width, image_height)});
  }
  return result;
}

std::vector<Detection> Detector::detect(const Tensor& image, const DetectOptions& options) const {
  KILN_CHECK(options.max_boxes >= 0, "detector: max_boxes must be >= 0, found {}",
             options.max_boxes);
  Letterbox where;
  const Tensor input = preprocess(image, &where);
  return postprocess(run_graph(input), where, image.dim(1), image.dim(0), options);
}

}  // namespace kiln
