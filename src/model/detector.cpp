// kiln::Detector: which model a TF.js graph is (CenterNet or BlazeFace), letterbox
// pre-processing into the model's range, the graph, BlazeFace's anchor decode (blazeface.cpp;
// CenterNet's decode — 3x3 max-pool peaks, top-100, box regression — is inside its graph), and
// the post-processing: score threshold, greedy NMS with tf.image.non_max_suppression's rules,
// boxes back to image pixels.
#include "kiln/detector.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <map>
#include <numeric>

#include "core/check.h"
#include "kiln/graph_ops.h"
#include "kiln/image.h"
#include "kiln/ops.h"

namespace kiln {

namespace {

constexpr const char* kCenterNetInput = "tower_0/images";
constexpr const char* kCenterNetOutput = "tower_0/detections";
constexpr std::int64_t kBlazeFaceRegression = 16;  // box centre, size, then 6 keypoints (x, y)

bool contains(const std::vector<std::string>& names, const std::string& name) {
  return std::find(names.begin(), names.end(), name) != names.end();
}

// BlazeFace's outputs in anchor order (scores, regressions of each feature map; the finer map,
// with more anchors, first), found from their shapes after one run on zeros as human finds them
// from their sizes; empty when the graph's outputs are not those of BlazeFace.
std::vector<std::string> blazeface_outputs(const OpGraph& graph, const std::string& input,
                                           std::int64_t size) {
  const std::vector<std::string>& names = graph.output_names();
  if (size % 16 != 0 || names.empty() || names.size() % 2 != 0) return {};
  const std::vector<Tensor> values = graph.run({{input, Tensor::zeros({1, size, size, 3})}}, names);
  struct FeatureMap {
    std::string scores, regressions;
  };
  std::map<std::int64_t, FeatureMap, std::greater<>> maps;  // by anchor count
  std::int64_t anchors = 0;
  for (std::size_t i = 0; i < names.size(); ++i) {
    const Tensor& t = values[i];
    if (t.rank() != 3 || t.dim(0) != 1) return {};
    const std::int64_t width = t.dim(2);
    if (width != 1 && width != kBlazeFaceRegression) return {};
    FeatureMap& map = maps[t.dim(1)];
    std::string& slot = width == 1 ? map.scores : map.regressions;
    if (!slot.empty()) return {};
    slot = names[i];
    if (width == 1) anchors += t.dim(1);
  }
  if (anchors != static_cast<std::int64_t>(blazeface_anchors(size).size())) return {};
  std::vector<std::string> order;
  for (const auto& [count, map] : maps) {
    if (map.scores.empty() || map.regressions.empty()) return {};
    order.push_back(map.scores);
    order.push_back(map.regressions);
  }
  return order;
}

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

std::string Detector::default_model_path(const std::string& name) {
  KILN_CHECK(name == "centernet" || name == "blazeface",
             "unknown detector model '{}' (expected centernet or blazeface)", name);
  const char* models = std::getenv("KILN_MODELS");
  const char* home = std::getenv("HOME");
  const std::filesystem::path dir = models != nullptr && *models != '\0'
                                        ? std::filesystem::path(models)
                                        : std::filesystem::path(home ? home : ".") / ".kiln/models";
  return (dir / name / "model.json").string();
}

Detector::Detector(OpGraph graph, DetectorKind kind, std::string input,
                   std::vector<std::string> outputs, std::int64_t input_size)
    : graph_(std::move(graph)),
      kind_(kind),
      input_(std::move(input)),
      outputs_(std::move(outputs)),
      input_size_(input_size) {}

Detector Detector::load(const std::string& model) {
  const bool named = model == "centernet" || model == "blazeface";
  const bool path_like = model.find('/') != std::string::npos ||
                         std::filesystem::path(model).extension() == ".json" ||
                         std::filesystem::exists(model);
  KILN_CHECK(named || path_like,
             "unknown detector model '{}' (expected centernet, blazeface or the path of a TF.js "
             "model.json)",
             model);
  std::string path = named ? default_model_path(model) : model;
  if (std::filesystem::is_directory(path))
    path = (std::filesystem::path(path) / "model.json").string();
  KILN_CHECK(std::filesystem::exists(path),
             "detector model {} not found (run scripts/fetch-models.sh, or give a model.json path)",
             path);
  OpGraph graph = OpGraph::load_tfjs(path);
  const std::vector<std::string>& inputs = graph.input_names();
  const std::vector<std::string>& outputs = graph.output_names();
  const Shape shape = inputs.size() == 1 ? graph.input_shape(inputs[0]) : Shape{};
  const bool square_rgb =
      shape.size() == 4 && shape[1] > 0 && shape[1] == shape[2] && shape[3] == 3;
  if (contains(inputs, kCenterNetInput) && contains(outputs, kCenterNetOutput)) {
    const Shape centernet = graph.input_shape(kCenterNetInput);
    KILN_CHECK(centernet.size() == 4 && centernet[1] > 0 && centernet[1] == centernet[2] &&
                   centernet[3] == 3,
               "{}: expected CenterNet's input to be a square RGB image (1, s, s, 3), found {}",
               path, shape_str(centernet));
    return Detector(std::move(graph), DetectorKind::centernet, kCenterNetInput, {kCenterNetOutput},
                    centernet[1]);
  }
  std::vector<std::string> blazeface;
  if (square_rgb) blazeface = blazeface_outputs(graph, inputs[0], shape[1]);
  std::vector<std::string> input_shapes;
  for (const std::string& name : inputs) {
    input_shapes.push_back(name + " " + shape_str(graph.input_shape(name)));
  }
  KILN_CHECK(!blazeface.empty(),
             "{}: not a detector kiln knows: expected CenterNet (input '{}', output '{}') or "
             "BlazeFace (one square RGB input; per feature map, scores (1, n, 1) and regressions "
             "(1, n, {}) over {} anchors in all), found inputs [{}] and outputs [{}]",
             path, kCenterNetInput, kCenterNetOutput, kBlazeFaceRegression,
             square_rgb && shape[1] % 16 == 0 ? blazeface_anchors(shape[1]).size() : 896,
             fmt::join(input_shapes, ", "), fmt::join(outputs, ", "));
  return Detector(std::move(graph), DetectorKind::blazeface, inputs[0], std::move(blazeface),
                  shape[1]);
}

DetectOptions Detector::default_options() const {
  DetectOptions options;
  if (kind_ == DetectorKind::blazeface) {
    options.min_score = 0.5f;
    options.iou_threshold = 0.3f;
  }
  return options;
}

const std::vector<std::string>& Detector::class_names() const {
  static const std::vector<std::string> faces = {"face"};
  return kind_ == DetectorKind::blazeface ? faces : coco_class_names();
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
  const Tensor padded =
      zero_pad2d(scaled, Padding::explicit_amounts(box.top, s - box.top - box.height, box.left,
                                                   s - box.left - box.width));
  if (kind_ == DetectorKind::centernet) return padded;
  // BlazeFace: x / 127.5 - 1, as human scales its input (black padding becomes -1).
  return channel_affine(padded, Tensor::full({3}, 1.0 / 127.5), Tensor::full({3}, -1.0));
}

Tensor Detector::run_graph(const Tensor& input) const {
  const std::vector<Tensor> values = graph_.run({{input_, input.to(graph_.device())}}, outputs_);
  if (kind_ == DetectorKind::centernet) return values.at(0).to(Device::cpu());
  std::vector<Tensor> scores, regressions;
  for (std::size_t i = 0; i < values.size(); i += 2) {
    scores.push_back(values[i].to(Device::cpu()));
    regressions.push_back(values[i + 1].to(Device::cpu()));
  }
  return decode_blazeface(concatenate(scores, 1), concatenate(regressions, 1), input_size_);
}

std::vector<Detection> Detector::postprocess(const Tensor& candidates, const Letterbox& where,
                                             std::int64_t image_width, std::int64_t image_height,
                                             const DetectOptions& options) const {
  KILN_CHECK(candidates.rank() == 3 && candidates.dim(2) == 6,
             "detector: expected candidate boxes (1, k, 6), found {}",
             shape_str(candidates.shape()));
  const std::vector<float> rows = candidates.to_vector<float>();
  const auto count = static_cast<std::size_t>(candidates.dim(1));
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
  const std::vector<std::string>& names = class_names();
  std::vector<Detection> result;
  for (std::int64_t k : kept) {
    const auto i = static_cast<std::size_t>(k);
    const auto class_id = static_cast<std::int64_t>(std::lround(rows[6 * i + 5]));
    KILN_CHECK(class_id >= 0 && class_id < static_cast<std::int64_t>(names.size()),
               "detector: class id {} out of the model's {} classes", class_id, names.size());
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
