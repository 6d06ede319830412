// Object detection with a pre-trained TF.js graph model: the packaged MobileNetV3-CenterNet
// (COCO 80 classes, 512x512 input; scripts/fetch-models.sh). An image is letterboxed into the
// model's input, the graph decodes its heat-map peaks into 100 scored boxes, and the boxes above
// a score pass greedy non-maximum suppression and are mapped back to the image's pixels.
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

struct Detection {
  std::int64_t class_id = 0;
  std::string label;  // the COCO name
  float score = 0;
  Box box;  // in the original image's pixels
};

struct DetectOptions {
  float min_score = 0.1f;  // boxes scoring below are dropped
  std::int64_t max_boxes = 10;
  float iou_threshold = 0.5f;  // non-maximum suppression
};

// Where an image lies inside the model's square input after letterboxing: scaled by `scale`,
// then offset by (left, top); the rest is zeros.
struct Letterbox {
  std::int64_t input_size = 0;
  double scale = 1;
  std::int64_t left = 0, top = 0, width = 0, height = 0;  // the scaled image inside the input
  Box to_image(const Box& input_box, std::int64_t image_width, std::int64_t image_height) const;
};

class KILN_API Detector {
 public:
  // "centernet" (model.json under $KILN_MODELS, else ~/.kiln/models) or a path to a CenterNet
  // TF.js model.json. Error naming the path and scripts/fetch-models.sh when it is missing.
  static Detector load(const std::string& model = "centernet");
  // Where load("centernet") looks.
  static std::string default_model_path();

  // image: u8 (height, width, channels) as read_image gives (grey and alpha are handled).
  std::vector<Detection> detect(const Tensor& image, const DetectOptions& options = {}) const;

  // The steps of detect, for tests and benchmarks:
  // (1, size, size, 3) float32 in [0, 255], the image letterboxed (bilinear, half-pixel centres).
  Tensor preprocess(const Tensor& image, Letterbox* where = nullptr) const;
  // The graph's detections (1, 100, 6): x1, y1, x2, y2 in input pixels, score, class.
  Tensor run_graph(const Tensor& input) const;
  std::vector<Detection> postprocess(const Tensor& detections, const Letterbox& where,
                                     std::int64_t image_width, std::int64_t image_height,
                                     const DetectOptions& options) const;

  // Runs the graph on `device` (OpGraph::to).
  void to(Device device) { graph_.to(device); }
  const OpGraph& graph() const { return graph_; }
  std::int64_t input_size() const { return input_size_; }

 private:
  Detector(OpGraph graph, std::string input, std::string output, std::int64_t input_size);
  OpGraph graph_;
  std::string input_, output_;
  std::int64_t input_size_;
};

}  // namespace kiln
