// kiln filter / pool / features: option parsing with CLI11 and the glue between the files and the
// library (kiln/image.h, kiln/feature_maps.h). The output path is checked before any work
// (directory, permission, extension); pictures are written atomically after the work succeeded,
// so a failed command leaves no output file.
#include "vision_commands.h"

#include "feature_figure.h"
#include "usage.h"

#include <fmt/format.h>

#include <cstdint>
#include <cstdio>
#include <algorithm>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "kiln/data.h"
#include "kiln/feature_maps.h"
#include "kiln/image.h"
#include "kiln/model_io.h"
#include "kiln/ops.h"
#include "common.h"

namespace kiln::cli {

namespace {

const char* const kDeviceHelp = "auto (CUDA when a GPU is usable, else CPU), cpu, cuda or cuda:N";

const std::vector<std::string> kPictureExtensions = {".png", ".jpg", ".jpeg"};

struct FilterCommand {
  std::string input, output, kernel, padding, orientation = "pillow";
  double scale = 0.0, offset = 0.0;
  std::int64_t stride = 1;
  bool grey = false;
  std::string device = "cpu";
  const CLI::Option* scale_option = nullptr;
  const CLI::Option* offset_option = nullptr;
};

struct PoolCommand {
  std::string input, output, mode = "max", padding = "valid";
  std::int64_t size = 2, stride = 0;
  bool grey = false;
  std::string device = "auto";
};

struct FeaturesCommand {
  std::string model, image, dataset, layer, output, data_dir;
  std::int64_t index = 0, input_channel = -1;
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

// A CLI11 check that `text` parses with `parse` (which throws kiln::Error); an unknown kernel name
// also gets the nearest name.
template <class Parse>
CLI::Validator parses_with(Parse parse, const std::string& what) {
  return CLI::Validator(
      [parse](std::string& text) -> std::string {
        try {
          parse(text);
          return {};
        } catch (const Error& e) {
          return e.what();
        }
      },
      what);
}

std::vector<std::string> kernel_names() {
  std::vector<std::string> names;
  for (const ImageKernel& k : named_image_kernels()) names.push_back(k.name);
  return names;
}

void parse_kernel_with_hint(const std::string& text) {
  try {
    parse_image_kernel(text);
  } catch (const Error& e) {
    const std::string nearest = nearest_name(text, kernel_names());
    if (nearest.empty() || text.find(',') != std::string::npos) throw;
    throw Error(fmt::format("did you mean '{}'? {}", nearest, e.what()));
  }
}

int run_filter(const FilterCommand& c) {
  check_output_path(c.output, kPictureExtensions);
  const ImageKernel kernel = parse_image_kernel(c.kernel);
  FilterOptions options;
  if (c.scale_option->count() > 0) options.scale = c.scale;
  if (c.offset_option->count() > 0) options.offset = c.offset;
  if (!c.padding.empty()) options.padding = Padding::parse(c.padding);
  options.stride = c.stride;
  options.orientation =
      c.orientation == "keras" ? KernelOrientation::keras : KernelOrientation::pillow;
  const Tensor image = read_picture(c.input, c.grey);
  options.device = resolve_device(c.device);
  const Tensor filtered = filter_image(image, kernel, options);
  write_image(c.output, filtered);
  std::printf("%s: %s filtered with %s (%lldx%lld) -> %s\n", c.output.c_str(),
              size_text(image).c_str(), kernel.name.c_str(), static_cast<long long>(kernel.size),
              static_cast<long long>(kernel.size), size_text(filtered).c_str());
  return 0;
}

int run_pool(const PoolCommand& c) {
  check_output_path(c.output, kPictureExtensions);
  PoolImageOptions options;
  options.mode = parse_pool_mode(c.mode);
  options.pool_size = c.size;
  if (c.stride > 0) options.strides = c.stride;
  options.padding = Padding::parse(c.padding);
  const Tensor image = read_picture(c.input, c.grey);
  options.device = resolve_device(c.device);
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
  if (inputs.size() != 1) {
    cli_fail("features: the model has {} inputs; one is supported", inputs.size());
  }
  return model.get_layer(inputs[0])->output_shape({});
}

// A picture as the model's input: grey or RGB as the model takes it, values / 255, batch of one.
Tensor image_input(const std::string& path, const Shape& shape) {
  if (shape.size() != 3 || (shape[2] != 1 && shape[2] != 3)) {
    cli_fail("features: --image needs a model taking (height, width, 1 or 3) pictures");
  }
  Tensor image = read_image(path);
  if (image.dim(0) != shape[0] || image.dim(1) != shape[1]) {
    cli_fail("features: {} is {}x{} pixels but the model takes {}x{} (width x height)", path,
             image.dim(1), image.dim(0), shape[1], shape[0]);
  }
  image = shape[2] == 1 ? to_grayscale(image) : to_rgb(image);
  return images_to_float(image.view({1, shape[0], shape[1], shape[2]}));
}

Tensor dataset_input(const FeaturesCommand& c) {
  const Dataset data =
      load_dataset(c.dataset, c.data_dir.empty() ? default_data_dir() : c.data_dir);
  const std::int64_t count = data.x_test.dim(0);
  if (c.index < 0 || c.index >= count) {
    cli_fail("features: --index {} is outside the {} test images of {}", c.index, count, c.dataset);
  }
  const Tensor index =
      Tensor::from_vector(std::vector<std::int32_t>{static_cast<std::int32_t>(c.index)}, {1});
  return gather_rows(data.x_test, index);
}

std::string range_text(double value) { return fmt::format("{:.3g}", value); }

struct Drawing {
  Tensor grid;
  GridLayout layout;
  std::int64_t tiles = 0;
  FigureText text;
  std::string summary;
};

Drawing draw_kernels(const FeaturesCommand& c, Model& model, const std::string& layer,
                     const GridOptions& grid) {
  LayerPtr conv = model.get_layer(layer);
  if (conv->type() != "Conv2D" || conv->weights().empty()) {
    cli_fail("features: --kernels needs a Conv2D layer; '{}' is a {} (first Conv2D: {})", layer,
             conv->type(), first_conv_layer(model));
  }
  const Tensor kernel = conv->weights()[0]->value().to(Device::cpu());
  const std::int64_t in = kernel.dim(2), out = kernel.dim(3);
  std::optional<std::int64_t> channel;
  if (c.input_channel >= 0) channel = c.input_channel;
  const Tensor slices = kernel_slices(kernel, channel);
  const std::vector<float> values = slices.to_vector<float>();
  const auto [low, high] = std::minmax_element(values.begin(), values.end());
  const std::string which = channel   ? fmt::format("input channel {} of {}", *channel, in)
                            : in == 1 ? std::string("1 input channel")
                                      : fmt::format("mean over {} input channels", in);
  Drawing d;
  d.grid = kernel_grid(kernel, grid, channel);
  d.layout = grid_layout(out, kernel.dim(0), kernel.dim(1), grid);
  d.tiles = out;
  d.text = {fmt::format("{} · {} · {} kernels {}x{} ({})", c.model, layer, out, kernel.dim(0),
                        kernel.dim(1), which),
            range_text(*low), range_text(*high), "weight"};
  d.summary = fmt::format("{} kernels of {} ({}x{}, {}), one tile per output channel", out, layer,
                          kernel.dim(0), kernel.dim(1), which);
  return d;
}

Drawing draw_feature_maps(const FeaturesCommand& c, Model& model, const std::string& layer,
                          const GridOptions& grid) {
  if (c.image.empty() && c.dataset.empty()) {
    cli_fail(
        "features: give an input picture (--image IMG or --dataset NAME --index I), or --kernels");
  }
  const Tensor input =
      c.image.empty() ? dataset_input(c) : image_input(c.image, model_input_shape(model));
  model.to(resolve_device(c.device));
  const Tensor activations = layer_activations(model, input, layer);
  if (activations.rank() != 4) {
    cli_fail(
        "features: layer '{}' gives {}; feature maps need (1, height, width, channels) — pick a "
        "convolution or pooling layer",
        layer, activations.str());
  }
  const std::vector<float> values = activations.to_vector<float>();
  const auto [low, high] = std::minmax_element(values.begin(), values.end());
  const std::string source =
      c.image.empty() ? fmt::format("{} test image {}", c.dataset, c.index) : c.image;
  const std::int64_t maps = activations.dim(3);
  Drawing d;
  d.grid = feature_map_grid(activations, grid);
  d.layout = grid_layout(maps, activations.dim(1), activations.dim(2), grid);
  d.tiles = maps;
  d.text = {fmt::format("{} · {} · {} feature maps of {}", c.model, layer, maps, source),
            "min " + range_text(*low), "max " + range_text(*high), "each map: its own min..max"};
  d.summary = fmt::format("{} feature maps of {} ({}x{})", maps, layer, activations.dim(2),
                          activations.dim(1));
  return d;
}

int run_features(const FeaturesCommand& c) {
  check_output_path(c.output, {".png"});
  GridOptions grid;
  grid.colormap = parse_colormap(c.colormap);
  grid.columns = c.columns;
  grid.zoom = c.zoom;
  grid.label_band = kLabelBand;
  std::unique_ptr<Model> model = load_model(c.model);
  const std::string layer = c.layer.empty() ? first_conv_layer(*model) : c.layer;
  const Drawing d =
      c.kernels ? draw_kernels(c, *model, layer, grid) : draw_feature_maps(c, *model, layer, grid);
  const Tensor picture = compose_figure(d.grid, d.layout, d.tiles, grid.colormap, d.text);
  write_image(c.output, picture);
  std::printf("%s: %s, %lldx%lld pixels\n", c.output.c_str(), d.summary.c_str(),
              static_cast<long long>(picture.dim(1)), static_cast<long long>(picture.dim(0)));
  return 0;
}

void add_filter(CLI::App& app, std::function<int()>& action) {
  auto c = std::make_shared<FilterCommand>();
  CLI::App* sub = app.add_subcommand(
      "filter", "Apply a hand-made kernel to a picture (Pillow's ImageFilter.Kernel semantics)");
  sub->add_option("input", c->input, "A PNG or JPEG picture")->required();
  sub->add_option("-o,--output", c->output, "Output picture (.png, .jpg)")->required();
  sub->add_option("--kernel", c->kernel, kernel_help())
      ->required()
      ->check(parses_with(parse_kernel_with_hint, "KERNEL"));
  c->scale_option = sub->add_option(
      "--scale", c->scale,
      "Divisor of the weighted sum (default: the named kernel's scale, else the sum of the "
      "weights, or 1 when that sum is 0 — where Pillow 9.4 divides by 0 and returns black)");
  c->offset_option = sub->add_option("--offset", c->offset,
                                     "Added after dividing by the scale (default: the named "
                                     "kernel's offset, else 0)");
  sub->add_option("--padding", c->padding,
                  "valid, same, N, 'H,W' or 'T,B,L,R' zeros around the picture, each at most the "
                  "picture's size + the kernel's (default: Pillow's borders: same size, border "
                  "pixels copied unfiltered; valid with --stride > 1)")
      ->check(parses_with([](const std::string& t) { Padding::parse(t); }, "PADDING"));
  sub->add_option("--stride", c->stride, "Step between windows")
      ->check(whole_number(1, 4096))
      ->capture_default_str();
  sub->add_option("--orientation", c->orientation,
                  "pillow: ImageFilter.Kernel's (the first row of weights meets the row below "
                  "the centre); keras: a Conv2D's correlation (the first row meets the row "
                  "above). They differ on kernels that are not symmetric top to bottom")
      ->check(CLI::IsMember({"pillow", "keras"}))
      ->capture_default_str();
  sub->add_flag("--grey,--gray", c->grey, "Convert to grey (Pillow's convert('L')) first");
  sub->add_option("--device", c->device,
                  "cpu (bit-exact with Pillow), cuda or cuda:N (through conv2d: a rounding tie "
                  "may differ by 1), or auto")
      ->capture_default_str();
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
      ->check(whole_number(1, 4096))
      ->capture_default_str();
  sub->add_option("--stride", c->stride, "Step between windows (default: the size)")
      ->check(whole_number(1, 4096));
  sub->add_option("--padding", c->padding,
                  "valid, same, N, 'H,W' or 'T,B,L,R', each at most the picture's size + the "
                  "window's")
      ->check(parses_with([](const std::string& t) { Padding::parse(t); }, "PADDING"))
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
      ->check(whole_number(0, std::int64_t{1} << 40))
      ->capture_default_str();
  sub->add_option(
      "--data-dir", c->data_dir,
      "Directory holding mnist/ and fashion-mnist/ (default: $KILN_DATA, else ~/.kiln/datasets)");
  sub->add_option("--layer", c->layer, "Layer name (default: the first Conv2D layer)");
  CLI::Option* kernels = sub->add_flag(
      "--kernels", c->kernels,
      "Draw the layer's learned kernels instead of its feature maps: one tile per output "
      "channel, the mean over the input channels (or --input-channel N)");
  sub->add_option("--input-channel", c->input_channel,
                  "With --kernels: show this input channel's slice instead of the mean")
      ->check(whole_number(0, 1 << 20))
      ->needs(kernels);
  sub->add_option("-o,--output", c->output, "Output picture (.png)")->required();
  sub->add_option("--colormap", c->colormap, "viridis or gray")
      ->check(CLI::IsMember({"viridis", "gray", "grey"}))
      ->capture_default_str();
  sub->add_option("--columns", c->columns, "Tiles per row")
      ->check(whole_number(1, 4096))
      ->capture_default_str();
  sub->add_option("--zoom", c->zoom, "Pixels per value (0: tiles of at least 64 pixels)")
      ->check(whole_number(0, 256))
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
