// Object detection with a pre-trained TF.js graph model (scripts/fetch-models.sh fetches both):
// - CenterNet: MobileNetV3-CenterNet, COCO 80 classes, 512x512 input in [0, 255]; the graph
//   decodes its heat-map peaks into 100 scored boxes itself.
// - BlazeFace: MediaPipe's full-range face detector, 256x256 input in [-1, 1]; the graph gives
//   a score logit and a box regression per SSD anchor (896), decoded here (decode_blazeface).
// An image is letterboxed into the model's square input, the model's candidate boxes above a
// score pass greedy non-maximum suppression and are mapped back to the image's pixels.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "kiln/export.h"
#include "kiln/op_graph.h"
#include "kiln/tensor.h"

namespace kiln {

// A box in an image's pixels: (x1, y1) top-left, (x2, y2) bottom-right corner.
struct Box {
  float x1 = 0, y1 = 0, x2 = 0, y2 = 0;
};

// Intersection over union of two boxes (0 when either has no area).
KILN_API float box_iou(const Box& a, const Box& b);

// Greedy non-maximum suppression with tf.image.non_max_suppression's rules: boxes taken by
// descending score (ties: the lower index first), those with score <= score_threshold never,
// a box dropped when its IoU with a kept one is > iou_threshold, at most max_outputs kept.
// Returns the kept indices in the order taken.
KILN_API std::vector<std::int64_t> non_max_suppression(const std::vector<Box>& boxes,
                                                       const std::vector<float>& scores,
                                                       std::int64_t max_outputs,
                                                       float iou_threshold, float score_threshold);

// The 80 COCO class names in the order of CenterNet's class ids (darknet's coco.names order).
KILN_API const std::vector<std::string>& coco_class_names();

// BlazeFace's SSD anchor centres, in input pixels, in the order of the model's outputs, for a
// square input of `input_size` pixels (as MediaPipe and @vladmandic/human generate them): a grid
// of stride input_size / 16 with 2 anchors per cell, then one of stride input_size / 8 with 6;
// cells row by row, the centre of cell (row, col) at (stride * (col + 0.5), stride * (row + 0.5)).
// 256 -> 16x16x2 + 8x8x6 = 896 anchors. Every anchor is 1x1: the regression gives the box size.
struct AnchorCentre {
  float x = 0, y = 0;
};
KILN_API std::vector<AnchorCentre> blazeface_anchors(std::int64_t input_size);

// Decodes BlazeFace's raw outputs against its anchors: logits (n elements, any shape) and
// regressors (n rows of >= 4 values: centre dx, dy from the anchor, width, height, all in input
// pixels; then the keypoints, unused) -> candidates (1, n, 6): x1, y1, x2, y2 in input pixels,
// sigmoid(logit), class 0. n must be blazeface_anchors(input_size).size().
KILN_API Tensor decode_blazeface(const Tensor& logits, const Tensor& regressors,
                                 std::int64_t input_size);

struct Detection {
  std::int64_t class_id = 0;
  std::string label;  // the class name: COCO's for CenterNet, "face" for BlazeFace
  float score = 0;
  Box box;  // in the original image's pixels
};

// The seed's (and CenterNet's) defaults; Detector::default_options() gives each model's own.
struct DetectOptions {
  float min_score = 0.1f;  // boxes scoring below are dropped
  std::int64_t max_boxes = 10;
  float iou_threshold = 0.5f;  // non-maximum suppression: a box overlapping a kept one more goes
};

// Where an image lies inside the model's square input after letterboxing: scaled by `scale`,
// then offset by (left, top); the rest is zeros.
struct Letterbox {
  std::int64_t input_size = 0;
  double scale = 1;
  std::int64_t left = 0, top = 0, width = 0, height = 0;  // the scaled image inside the input
  Box to_image(const Box& input_box, std::int64_t image_width, std::int64_t image_height) const;
};

enum class DetectorKind : unsigned char { centernet, blazeface };

class KILN_API Detector {
 public:
  // "centernet" or "blazeface" (model.json under $KILN_MODELS, else ~/.kiln/models), or a path
  // to a TF.js model.json of either kind (or its folder), recognised by its graph: CenterNet by its input
  // 'tower_0/images' and output 'tower_0/detections'; BlazeFace by a square RGB input and
  // outputs that are, per feature map, scores (1, n, 1) and regressions (1, n, 16) whose n add
  // up to the anchor count (found by one run on zeros at load, as human sorts them by size).
  // Errors: a missing file (naming scripts/fetch-models.sh), an unknown model name, and a graph
  // of neither kind (naming what it has).
  static Detector load(const std::string& model = "centernet");
  // Where load(name) looks for "centernet" or "blazeface".
  static std::string default_model_path(const std::string& name = "centernet");

  // image: u8 (height, width, channels) as read_image gives (grey and alpha are handled).
  std::vector<Detection> detect(const Tensor& image, const DetectOptions& options) const;
  std::vector<Detection> detect(const Tensor& image) const {  // with default_options()
    return detect(image, default_options());
  }
  // CenterNet: the seed's top 10 boxes scoring at least 0.1, IoU 0.5. BlazeFace: at least 0.5
  // (MediaPipe's default min_detection_confidence; below, it finds animals' faces and the backs
  // of heads) and IoU 0.3 (MediaPipe's face-detection suppression threshold).
  DetectOptions default_options() const;

  // The steps of detect, for tests and benchmarks:
  // (1, size, size, 3) float32, the image letterboxed (bilinear, half-pixel centres, black
  // around) in the model's range: [0, 255] for CenterNet, x / 127.5 - 1 in [-1, 1] for BlazeFace.
  Tensor preprocess(const Tensor& image, Letterbox* where = nullptr) const;
  // The model's candidate boxes (1, k, 6): x1, y1, x2, y2 in input pixels, score, class id.
  // CenterNet: the graph's 100 detections as they are; BlazeFace: its 896 anchors decoded.
  Tensor run_graph(const Tensor& input) const;
  std::vector<Detection> postprocess(const Tensor& candidates, const Letterbox& where,
                                     std::int64_t image_width, std::int64_t image_height,
                                     const DetectOptions& options) const;

  // Runs the graph on `device` (OpGraph::to).
  void to(Device device) { graph_.to(device); }
  const OpGraph& graph() const { return graph_; }
  DetectorKind kind() const { return kind_; }
  std::int64_t input_size() const { return input_size_; }
  // The names of the class ids: coco_class_names(), or {"face"}.
  const std::vector<std::string>& class_names() const;

 private:
  Detector(OpGraph graph, DetectorKind kind, std::string input, std::vector<std::string> outputs,
           std::int64_t input_size);
  OpGraph graph_;
  DetectorKind kind_;
  std::string input_;
  // CenterNet: its detections. BlazeFace: scores and regressions of each feature map, in anchor
  // order (scores 0, regressions 0, scores 1, regressions 1).
  std::vector<std::string> outputs_;
  std::int64_t input_size_;
};

}  // namespace kiln
