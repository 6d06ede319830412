// kiln filter / pool / features: option parsing with CLI11 and the glue between the files and the
// library (kiln/image.h, kiln/feature_maps.h). Output pictures are written atomically, after all
// the work succeeded, so a failed command leaves no output file.
#include "vision_commands.h"

#include "tile_labels.h"

#include <fmt/format.h>

#include <cstdint>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "core/check.h"
#include "kiln/data.h"
#include "kiln/feature_maps.h"
#include "kiln/image.h"
#include "kiln/model_io.h"
#include "kiln/ops.h"

namespace kiln::cli {

namespace {

const char* const kDeviceHelp = "auto (CUDA when a GPU is usable, else CPU), cpu, cuda or cuda:N";

struct FilterCommand {
  std::string input, output, kernel, padding;
  double scale = 0.0, offset = 0.0;
  std::int64_t stride = 1;
  bool grey = false;
  std::string device = "auto";
  const CLI::Option* scale_option = nullptr;
};

struct PoolCommand {
  std::string input, output, mode = "max", padding = "valid";
  std::int64_t size = 2, stride = 0;
  bool grey = false;
  std::string device = "auto";
};

struct FeaturesCommand {
  std::string model, image, dataset, layer, output, data_dir;
  std::int64_t index = 0;
  bool kernels = false;
  std::string colormap = "viridis";
  std::int64_t columns = 16, zoom = 0;
  std::string device = "auto";
};

std::string kernel_help() {
  std::string help = "A kernel name or a comma list of k*k weights (k odd), row by row. Names:";
  for (const ImageKernel& k : named_image_kernels()) {
    help += fmt::format("\n  {:<11} {}x{}  {}", k.name, k.size, k.size, k.description);
  }
  return help;
}

Tensor read_picture(const std::string& path, bool grey) {
  Tensor image = read_image(path);
  return grey ? to_grayscale(image) : image;
}

std::string size_text(const Tensor& image) {
  return fmt::format("{}x{}x{}", image.dim(1), image.dim(0), image.dim(2));
}

int run_filter(const FilterCommand& c) {
  const ImageKernel kernel = parse_image_kernel(c.kernel);
  FilterOptions options;
  if (c.scale_option->count() > 0) options.scale = c.scale;
  options.offset = c.offset;
  if (!c.padding.empty()) options.padding = Padding::parse(c.padding);
  options.stride = c.stride;
  options.device = parse_device(c.device);
  const Tensor image = read_picture(c.input, c.grey);
  const Tensor filtered = filter_image(image, kernel, options);
  write_image(c.output, filtered);
  std::printf("%s: %s filtered with %s (%lldx%lld) -> %s\n", c.output.c_str(),
              size_text(image).c_str(), kernel.name.c_str(), static_cast<long long>(kernel.size),
              static_cast<long long>(kernel.size), size_text(filtered).c_str());
  return 0;
}

int run_pool(const PoolCommand& c) {
  PoolOptions options;
  options.mode = parse_pool_mode(c.mode);
  options.size = c.size;
  if (c.stride > 0) options.stride = c.stride;
  options.padding = Padding::parse(c.padding);
  options.device = parse_device(c.device);
  const Tensor image = read_picture(c.input, c.grey);
  const Tensor pooled = pool_image(image, options);
  write_image(c.output, pooled);
  std::printf("%s: %s %s-pooled %lldx%lld -> %s\n", c.output.c_str(), size_text(image).c_str(),
              c.mode.c_str(), static_cast<long long>(c.size), static_cast<long long>(c.size),
              size_text(pooled).c_str());
  return 0;
}

// The model's input shape (batch excluded).
Shape model_input_shape(const Model& model) {
  const std::vector<std::string> inputs = model.input_names();
  KILN_CHECK(inputs.size() == 1, "features: the model has {} inputs; one is supported",
             inputs.size());
  return model.get_layer(inputs[0])->output_shape({});
}

// A picture as the model's input: grey or RGB as the model takes it, values / 255, batch of one.
Tensor image_input(const std::string& path, const Shape& shape) {
  KILN_CHECK(shape.size() == 3 && (shape[2] == 1 || shape[2] == 3),
             "features: --image needs a model taking (height, width, 1 or 3) pictures");
  Tensor image = read_image(path);
  KILN_CHECK(image.dim(0) == shape[0] && image.dim(1) == shape[1],
             "features: {} is {}x{} pixels but the model takes {}x{} (width x height)", path,
             image.dim(1), image.dim(0), shape[1], shape[0]);
  image = shape[2] == 1 ? to_grayscale(image) : to_rgb(image);
  return images_to_float(image.view({1, shape[0], shape[1], shape[2]}));
}

Tensor dataset_input(const FeaturesCommand& c) {
  const Dataset data =
      load_dataset(c.dataset, c.data_dir.empty() ? default_data_dir() : c.data_dir);
  const std::int64_t count = data.x_test.dim(0);
  KILN_CHECK(c.index >= 0 && c.index < count,
             "features: --index {} is outside the {} test images of {}", c.index, count, c.dataset);
  const Tensor index =
      Tensor::from_vector(std::vector<std::int32_t>{static_cast<std::int32_t>(c.index)}, {1});
  return gather_rows(data.x_test, index);
}

int run_features(const FeaturesCommand& c) {
  GridOptions grid;
  grid.colormap = parse_colormap(c.colormap);
  grid.columns = c.columns;
  grid.zoom = c.zoom;
  std::unique_ptr<Model> model = load_model(c.model);
  const std::string layer = c.layer.empty() ? first_conv_layer(*model) : c.layer;
  Tensor picture;
  std::string what;
  if (c.kernels) {
    LayerPtr conv = model->get_layer(layer);
    KILN_CHECK(conv->type() == "Conv2D" && !conv->weights().empty(),
               "features: --kernels needs a Conv2D layer; '{}' is a {} (first Conv2D: {})", layer,
               conv->type(), first_conv_layer(*model));
    const Tensor kernel = conv->weights()[0]->value();
    picture = kernel_grid(kernel, grid);
    label_tiles(picture, kernel.dim(2) * kernel.dim(3), kernel.dim(0), kernel.dim(1), grid);
    what = fmt::format("{} kernels of {} ({}x{}, {} input channel(s))", kernel.dim(3), layer,
                       kernel.dim(0), kernel.dim(1), kernel.dim(2));
  } else {
    KILN_CHECK(
        !c.image.empty() || !c.dataset.empty(),
        "features: give an input picture (--image IMG or --dataset NAME --index I), or --kernels");
    model->to(parse_device(c.device));
    const Tensor input =
        c.image.empty() ? dataset_input(c) : image_input(c.image, model_input_shape(*model));
    const Tensor activations = layer_activations(*model, input, layer);
    KILN_CHECK(activations.rank() == 4,
               "features: layer '{}' gives {}; feature maps need (1, height, "
               "width, channels) — pick a convolution or pooling layer",
               layer, activations.str());
    picture = feature_map_grid(activations, grid);
    label_tiles(picture, activations.dim(3), activations.dim(1), activations.dim(2), grid);
    what = fmt::format("{} feature maps of {} ({}x{})", activations.dim(3), layer,
                       activations.dim(2), activations.dim(1));
  }
  write_image(c.output, picture);
  std::printf("%s: %s, %lldx%lld pixels\n", c.output.c_str(), what.c_str(),
              static_cast<long long>(picture.dim(1)), static_cast<long long>(picture.dim(0)));
  return 0;
}

void add_filter(CLI::App& app, std::function<int()>& action) {
  auto c = std::make_shared<FilterCommand>();
  CLI::App* sub = app.add_subcommand(
      "filter", "Apply a hand-made kernel to a picture (Pillow's ImageFilter.Kernel semantics)");
  sub->add_option("input", c->input, "A PNG or JPEG picture")->required();
  sub->add_option("-o,--output", c->output, "Output picture (.png, .jpg)")->required();
  sub->add_option("--kernel", c->kernel, kernel_help())->required();
  c->scale_option =
      sub->add_option("--scale", c->scale,
                      "Divisor of the weighted sum (default: the sum of the weights, or 1 when 0)");
  sub->add_option("--offset", c->offset, "Added after dividing by the scale")
      ->capture_default_str();
  sub->add_option("--padding", c->padding,
                  "valid, same, N, 'H,W' or 'T,B,L,R' zeros around the picture (default: Pillow's "
                  "borders: same size, border pixels copied unfiltered; valid with --stride > 1)");
  sub->add_option("--stride", c->stride, "Step between windows")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  sub->add_flag("--grey,--gray", c->grey, "Convert to grey (Pillow's convert('L')) first");
  sub->add_option("--device", c->device, kDeviceHelp)->capture_default_str();
  sub->callback([c, &action] { action = [c] { return run_filter(*c); }; });
}

void add_pool(CLI::App& app, std::function<int()>& action) {
  auto c = std::make_shared<PoolCommand>();
  CLI::App* sub =
      app.add_subcommand("pool", "Pool a picture (what max/min/avg pooling does to it)");
  sub->add_option("input", c->input, "A PNG or JPEG picture")->required();
  sub->add_option("-o,--output", c->output, "Output picture (.png, .jpg)")->required();
  sub->add_option("--mode", c->mode, "max, min or avg")
      ->check(CLI::IsMember({"max", "min", "avg", "average"}))
      ->capture_default_str();
  sub->add_option("--size", c->size, "Window size")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  sub->add_option("--stride", c->stride, "Step between windows (default: the size)")
      ->check(CLI::PositiveNumber);
  sub->add_option("--padding", c->padding, "valid, same, N, 'H,W' or 'T,B,L,R'")
      ->capture_default_str();
  sub->add_flag("--grey,--gray", c->grey, "Convert to grey (Pillow's convert('L')) first");
  sub->add_option("--device", c->device, kDeviceHelp)->capture_default_str();
  sub->callback([c, &action] { action = [c] { return run_pool(*c); }; });
}

void add_features(CLI::App& app, std::function<int()>& action) {
  auto c = std::make_shared<FeaturesCommand>();
  CLI::App* sub = app.add_subcommand(
      "features", "Draw a layer's feature maps for one input, or its kernels, as a grid picture");
  sub->add_option("--model", c->model, "A model file (model.h5)")->required();
  CLI::Option* image = sub->add_option(
      "--image", c->image, "Input picture (resized: no; grey or RGB as the model takes)");
  CLI::Option* dataset =
      sub->add_option("--dataset", c->dataset, "Take a test image of this data set")
          ->check(CLI::IsMember({"mnist", "fashion_mnist", "fashion-mnist"}));
  image->excludes(dataset);
  sub->add_option("--index", c->index, "Index of the test image (with --dataset)")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  sub->add_option(
      "--data-dir", c->data_dir,
      "Directory holding mnist/ and fashion-mnist/ (default: $KILN_DATA, else ~/.kiln/datasets)");
  sub->add_option("--layer", c->layer, "Layer name (default: the first Conv2D layer)");
  sub->add_flag("--kernels", c->kernels,
                "Draw the layer's learned kernels instead of its feature maps");
  sub->add_option("-o,--output", c->output, "Output picture (.png)")->required();
  sub->add_option("--colormap", c->colormap, "viridis or gray")->capture_default_str();
  sub->add_option("--columns", c->columns, "Tiles per row")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  sub->add_option("--zoom", c->zoom, "Pixels per value (0: tiles of at least 24 pixels)")
      ->check(CLI::Range(0, 256))
      ->capture_default_str();
  sub->add_option("--device", c->device, kDeviceHelp)->capture_default_str();
  sub->callback([c, &action] { action = [c] { return run_features(*c); }; });
}

}  // namespace

void add_vision_commands(CLI::App& app, std::function<int()>& action) {
  add_filter(app, action);
  add_pool(app, action);
  add_features(app, action);
}

}  // namespace kiln::cli
