// Reshape, ZeroPadding2D, UpSampling2D and the global poolings: layers without weights that move
// values around (or reduce them) on NHWC images.
#include "core/check.h"
#include "layers/layer_types.h"

namespace kiln::layers {

namespace {

std::int64_t product(const Shape& shape) {
  std::int64_t p = 1;
  for (std::int64_t e : shape) p *= e;
  return p;
}

Json shape_json(const Shape& shape) {
  Json out = Json::array();
  for (std::int64_t e : shape) out.push_back(e);
  return out;
}

class ReshapeLayer final : public Layer {
 public:
  ReshapeLayer(Shape target, const std::string& name)
      : Layer("reshape", name), target_(std::move(target)) {
    int unknown = 0;
    for (std::int64_t e : target_) {
      KILN_CHECK(e >= 1 || e == -1,
                 "Reshape '{}': target_shape extents must be >= 1 or -1, found {}", this->name(),
                 shape_str(target_));
      unknown += e == -1 ? 1 : 0;
    }
    KILN_CHECK(unknown <= 1, "Reshape '{}': at most one extent of target_shape may be -1, found {}",
               this->name(), shape_str(target_));
  }
  std::string type() const override { return "Reshape"; }

  Shape output_shape(const std::vector<Shape>& inputs) const override {
    check_input_count(inputs, 1);
    const std::int64_t count = product(inputs[0]);
    Shape out = target_;
    std::int64_t known = 1;
    for (std::int64_t e : target_) known *= e == -1 ? 1 : e;
    for (std::int64_t& e : out) {
      if (e == -1 && known > 0 && count % known == 0) e = count / known;
    }
    if (product(out) != count || known <= 0) {
      fail_shape(fmt::format("target_shape {} does not hold the input's {} values per sample",
                             shape_str(target_), count),
                 inputs);
    }
    return out;
  }

  std::string config_json() const override {
    Json c = base_config(*this);
    c["target_shape"] = shape_json(target_);
    return c.dump();
  }

 private:
  Tensor forward(const std::vector<Tensor>& inputs, bool) override {
    Shape shape{inputs[0].dim(0)};
    const Shape per_sample =
        output_shape({Shape(inputs[0].shape().begin() + 1, inputs[0].shape().end())});
    shape.insert(shape.end(), per_sample.begin(), per_sample.end());
    return reshape(inputs[0], shape);
  }
  Shape target_;
};

// A layer of one image input (h, w, c).
class ImageLayer : public Layer {
 protected:
  using Layer::Layer;
  void check_image(const std::vector<Shape>& inputs) const {
    check_input_count(inputs, 1);
    if (inputs[0].size() != 3) {
      fail_shape("expected an input of rank 4 (batch, height, width, channels)", inputs);
    }
  }
};

class ZeroPaddingLayer final : public ImageLayer {
 public:
  ZeroPaddingLayer(const Padding& padding, const std::string& name)
      : ImageLayer("zero_padding2d", name), padding_(padding) {
    KILN_CHECK(padding.kind == Padding::Kind::explicit_amounts && padding.top >= 0 &&
                   padding.bottom >= 0 && padding.left >= 0 && padding.right >= 0,
               "ZeroPadding2D '{}': expected non-negative amounts, found {}", this->name(),
               padding.str());
  }
  std::string type() const override { return "ZeroPadding2D"; }
  Shape output_shape(const std::vector<Shape>& inputs) const override {
    check_image(inputs);
    const Shape& in = inputs[0];
    return {padding_.top + in[0] + padding_.bottom, padding_.left + in[1] + padding_.right, in[2]};
  }
  std::string config_json() const override {
    Json c = base_config(*this);
    c["padding"] = Json::array({Json::array({padding_.top, padding_.bottom}),
                                Json::array({padding_.left, padding_.right})});
    c["data_format"] = "channels_last";
    return c.dump();
  }

 private:
  Tensor forward(const std::vector<Tensor>& inputs, bool) override {
    return zero_pad2d(inputs[0], padding_);
  }
  Padding padding_;
};

class UpSamplingLayer final : public ImageLayer {
 public:
  UpSamplingLayer(Size2 size, std::string interpolation, const std::string& name)
      : ImageLayer("up_sampling2d", name), size_(size), interpolation_(std::move(interpolation)) {
    KILN_CHECK(size.h >= 1 && size.w >= 1, "UpSampling2D '{}': size must be >= 1, found {}x{}",
               this->name(), size.h, size.w);
    KILN_CHECK(
        interpolation_ == "nearest" || interpolation_ == "bilinear",
        "UpSampling2D '{}': interpolation '{}' is not supported (kiln supports nearest, bilinear)",
        this->name(), interpolation_);
  }
  std::string type() const override { return "UpSampling2D"; }
  Shape output_shape(const std::vector<Shape>& inputs) const override {
    check_image(inputs);
    const Shape& in = inputs[0];
    return {in[0] * size_.h, in[1] * size_.w, in[2]};
  }
  std::string config_json() const override {
    Json c = base_config(*this);
    c["size"] = size2_json(size_);
    c["data_format"] = "channels_last";
    c["interpolation"] = interpolation_;
    return c.dump();
  }

 private:
  Tensor forward(const std::vector<Tensor>& inputs, bool) override {
    if (interpolation_ == "bilinear") return upsample2d_bilinear(inputs[0], size_);
    return upsample2d_nearest(inputs[0], size_);
  }
  Size2 size_;
  std::string interpolation_;
};

// GlobalAveragePooling2D / GlobalMaxPooling2D: one pooling window over the whole image.
class GlobalPoolingLayer final : public ImageLayer {
 public:
  GlobalPoolingLayer(bool average, bool keepdims, const std::string& name)
      : ImageLayer(average ? "global_average_pooling2d" : "global_max_pooling2d", name),
        average_(average),
        keepdims_(keepdims) {}
  std::string type() const override {
    return average_ ? "GlobalAveragePooling2D" : "GlobalMaxPooling2D";
  }
  Shape output_shape(const std::vector<Shape>& inputs) const override {
    check_image(inputs);
    const Shape& in = inputs[0];
    if (in[0] < 1 || in[1] < 1) fail_shape("expected an image of at least 1x1", inputs);
    return keepdims_ ? Shape{1, 1, in[2]} : Shape{in[2]};
  }
  std::string config_json() const override {
    Json c = base_config(*this);
    c["data_format"] = "channels_last";
    c["keepdims"] = keepdims_;
    return c.dump();
  }

 private:
  Tensor forward(const std::vector<Tensor>& inputs, bool) override {
    const Tensor& x = inputs[0];
    const Size2 window(x.dim(1), x.dim(2));
    const Tensor pooled = average_ ? avg_pool2d(x, window) : max_pool2d(x, window);
    return keepdims_ ? pooled : reshape(pooled, {x.dim(0), x.dim(3)});
  }
  bool average_, keepdims_;
};

}  // namespace

}  // namespace kiln::layers

namespace kiln {

LayerRef Reshape(const Shape& target_shape, const std::string& name) {
  return LayerRef(std::make_shared<layers::ReshapeLayer>(target_shape, name));
}

LayerRef ZeroPadding2D(const Padding& padding, const std::string& name) {
  return LayerRef(std::make_shared<layers::ZeroPaddingLayer>(padding, name));
}

LayerRef GlobalAveragePooling2D(bool keepdims, const std::string& name) {
  return LayerRef(std::make_shared<layers::GlobalPoolingLayer>(true, keepdims, name));
}

LayerRef GlobalMaxPooling2D(bool keepdims, const std::string& name) {
  return LayerRef(std::make_shared<layers::GlobalPoolingLayer>(false, keepdims, name));
}

LayerRef UpSampling2D(Size2 size, const std::string& interpolation, const std::string& name) {
  return LayerRef(std::make_shared<layers::UpSamplingLayer>(size, interpolation, name));
}

}  // namespace kiln
