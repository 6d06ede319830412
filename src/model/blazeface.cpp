// BlazeFace's SSD decode (kiln/detector.h): the anchor grid and the box regression, following
// @vladmandic/human 3.3.6 (src/face/facemeshutil.ts generateAnchors, src/face/blazeface.ts
// decodeBoxes), which follows MediaPipe's full-range face detector. Every anchor is a point:
// the regression's first two values move the box centre from it and the next two are the box's
// width and height, all in input pixels (human's x_scale = input size, then * input size again).
#include <cmath>

#include "core/check.h"
#include "kiln/detector.h"

namespace kiln {

std::vector<AnchorCentre> blazeface_anchors(std::int64_t input_size) {
  KILN_CHECK(input_size >= 16 && input_size % 16 == 0,
             "blazeface_anchors: the input size must be a positive multiple of 16, found {}",
             input_size);
  struct Layer {
    std::int64_t stride, per_cell;
  };
  const Layer layers[] = {{input_size / 16, 2}, {input_size / 8, 6}};
  std::vector<AnchorCentre> anchors;
  for (const Layer& layer : layers) {
    const std::int64_t cells = input_size / layer.stride;
    for (std::int64_t row = 0; row < cells; ++row) {
      for (std::int64_t col = 0; col < cells; ++col) {
        const AnchorCentre centre{
            static_cast<float>(layer.stride) * (static_cast<float>(col) + 0.5f),
            static_cast<float>(layer.stride) * (static_cast<float>(row) + 0.5f)};
        anchors.insert(anchors.end(), static_cast<std::size_t>(layer.per_cell), centre);
      }
    }
  }
  return anchors;
}

Tensor decode_blazeface(const Tensor& logits, const Tensor& regressors, std::int64_t input_size) {
  const std::vector<AnchorCentre> anchors = blazeface_anchors(input_size);
  const auto n = static_cast<std::int64_t>(anchors.size());
  KILN_CHECK(logits.numel() == n,
             "decode_blazeface: {} anchors for a {}x{} input, but logits {} hold {} values", n,
             input_size, input_size, shape_str(logits.shape()), logits.numel());
  KILN_CHECK(regressors.rank() >= 2 && regressors.numel() % n == 0 && regressors.numel() / n >= 4 &&
                 regressors.dim(-1) == regressors.numel() / n,
             "decode_blazeface: expected regressors (…, {}, k >= 4), found {}", n,
             shape_str(regressors.shape()));
  const std::vector<float> score = logits.to(Device::cpu()).astype(DType::f32).to_vector<float>();
  const std::vector<float> reg = regressors.to(Device::cpu()).astype(DType::f32).to_vector<float>();
  const auto width = static_cast<std::size_t>(regressors.dim(-1));
  std::vector<float> out(static_cast<std::size_t>(n) * 6);
  for (std::size_t i = 0; i < anchors.size(); ++i) {
    const float* r = reg.data() + i * width;
    const float cx = r[0] + anchors[i].x, cy = r[1] + anchors[i].y;
    const float half_w = r[2] / 2, half_h = r[3] / 2;
    float* o = out.data() + i * 6;
    o[0] = cx - half_w;
    o[1] = cy - half_h;
    o[2] = cx + half_w;
    o[3] = cy + half_h;
    o[4] = 1.0f / (1.0f + std::exp(-score[i]));
    o[5] = 0;
  }
  return Tensor::from_vector(out, {1, n, 6});
}

}  // namespace kiln
