// The run directory's pictures: training curves, the confusion matrix and misclassified images,
// drawn with the chart toolkit (chart.h).
#include "plots.h"

#include <cairo.h>

#include <algorithm>
#include <cmath>
#include <memory>

#include "chart.h"
#include "common.h"

namespace kiln::cli {

namespace {

// The training and (when present) validation curves of `key`, coloured as series `series`.
void add_curves(std::vector<Curve>& curves, const History& history, const std::string& key,
                std::size_t series) {
  const Rgb train = kPalette[(2 * series) % kPaletteSize],
            validation = kPalette[(2 * series + 1) % kPaletteSize];
  if (history.values.count(key) != 0)
    curves.push_back({"train " + key, history.values.at(key), train});
  if (history.values.count("val_" + key) != 0) {
    curves.push_back({"validation " + key, history.values.at("val_" + key), validation});
  }
}

// Every accuracy of the history: "accuracy", or one per output ("num_out_accuracy", …).
std::vector<Curve> accuracy_curves(const History& history) {
  std::vector<Curve> curves;
  std::size_t series = 0;
  for (const std::string& key : history.keys) {
    const bool accuracy = key == "accuracy" || (key.size() > 9 && key.ends_with("_accuracy"));
    if (accuracy && key.rfind("val_", 0) != 0) add_curves(curves, history, key, series++);
  }
  return curves;
}

void draw_cells(cairo_t* cr, Rect grid, const std::vector<std::int32_t>& counts, std::size_t k,
                std::int32_t max_count) {
  const double cell = grid.w / static_cast<double>(k);
  for (std::size_t r = 0; r < k; ++r) {
    for (std::size_t c = 0; c < k; ++c) {
      const std::int32_t n = counts[r * k + c];
      const double t = max_count > 0 ? static_cast<double>(n) / max_count : 0.0;
      const double x = grid.x + static_cast<double>(c) * cell,
                   y = grid.y + static_cast<double>(r) * cell;
      set_color(cr, blues(t));
      cairo_rectangle(cr, x, y, cell, cell);
      cairo_fill(cr);
      set_color(cr, t > 0.5 ? Rgb{1, 1, 1} : kBlack);
      text_at(cr, std::to_string(n), x + cell / 2, y + cell / 2, cell > 40 ? 12 : 9, 0.5, 0.5);
    }
  }
  set_color(cr, kBlack);
  cairo_set_line_width(cr, 1);
  cairo_rectangle(cr, grid.x + 0.5, grid.y + 0.5, grid.w, grid.h);
  cairo_stroke(cr);
}

}  // namespace

void plot_history(const std::string& path, const History& history, const std::string& title) {
  std::vector<Curve> loss;
  add_curves(loss, history, "loss", 0);
  const std::vector<Curve> accuracy = accuracy_curves(history);
  if (loss.empty() || loss.front().values.empty())
    cli_fail("{}: the history has no loss to plot", path);
  const int panels = accuracy.empty() ? 1 : 2;
  const int panel_w = 520, panel_h = 400, top = 36;
  Canvas canvas(panel_w * panels, panel_h + top);
  cairo_t* cr = canvas.cr;
  set_color(cr, kBlack);
  text_at(cr, title, panel_w * panels / 2.0, 18, 15, 0.5, 0.5, true);
  draw_panel(cr, {0, top, panel_w, panel_h}, "Loss", loss, true);
  if (!accuracy.empty())
    draw_panel(cr, {panel_w, top, panel_w, panel_h}, "Accuracy", accuracy, false);
  save_chart(canvas, path);
}

void plot_confusion_matrix(const std::string& path, const Tensor& matrix,
                           const std::vector<std::string>& class_names, const std::string& title) {
  const auto k = static_cast<std::size_t>(matrix.dim(0));
  if (class_names.size() != k)
    cli_fail("{}: {} class names for {} classes", path, class_names.size(), k);
  const std::vector<std::int32_t> counts = matrix.to_vector<std::int32_t>();
  const std::int32_t max_count =
      counts.empty() ? 0 : *std::max_element(counts.begin(), counts.end());
  const double cell = k <= 12 ? 48 : std::max(16.0, 576.0 / static_cast<double>(k));
  const double grid_size = cell * static_cast<double>(k);

  Canvas probe(1, 1);
  select_chart_font(probe.cr);
  double label_w = 0;
  for (const std::string& name : class_names)
    label_w = std::max(label_w, text_width(probe.cr, name, 12));
  const bool slanted = label_w > cell - 6;
  const double left = 40 + label_w + 10, top = 50;
  const double bottom = (slanted ? label_w * 0.72 + 20 : 24) + 34;
  const int width = static_cast<int>(left + grid_size + 110);
  const int height = static_cast<int>(top + grid_size + bottom);

  Canvas canvas(width, height);
  cairo_t* cr = canvas.cr;
  const Rect grid{left, top, grid_size, grid_size};
  set_color(cr, kBlack);
  text_at(cr, title, left + grid_size / 2, 22, 15, 0.5, 0.5, true);
  draw_cells(cr, grid, counts, k, max_count);
  set_color(cr, kBlack);
  for (std::size_t i = 0; i < k; ++i) {
    const double centre = static_cast<double>(i) * cell + cell / 2;
    text_at(cr, class_names[i], left - 8, top + centre, 12, 1, 0.5);
    if (slanted) {
      cairo_save(cr);
      cairo_translate(cr, left + centre + 4, top + grid_size + 8);
      cairo_rotate(cr, -M_PI / 4);
      text_at(cr, class_names[i], 0, 0, 12, 1, 0.5);
      cairo_restore(cr);
    } else {
      text_at(cr, class_names[i], left + centre, top + grid_size + 14, 12, 0.5, 0.5);
    }
  }
  text_at(cr, "Predicted label", left + grid_size / 2, height - 18, 13, 0.5, 0.5, true);
  rotated_text(cr, "True label", 18, top + grid_size / 2, 13, -M_PI / 2);
  draw_colorbar(cr, {left + grid_size + 24, top, 18, grid_size}, max_count);
  save_chart(canvas, path);
}

void plot_misclassified(const std::string& path, const Tensor& images,
                        const std::vector<Misclassified>& samples, const std::string& title) {
  const Tensor host = images.to(Device::cpu()).astype(DType::f32);
  const auto h = static_cast<int>(host.dim(1)), w = static_cast<int>(host.dim(2));
  const int scale = 4, columns = std::clamp(static_cast<int>(samples.size()), 1, 5);
  const int rows = std::max(1, static_cast<int>((samples.size() + columns - 1) / columns));
  const int cell_w = std::max(w * scale + 30, 150), cell_h = h * scale + 34, top = 44;
  Canvas canvas(columns * cell_w + 20, top + rows * cell_h + 10);
  cairo_t* cr = canvas.cr;
  set_color(cr, kBlack);
  text_at(cr, title, (columns * cell_w + 20) / 2.0, 20, 15, 0.5, 0.5, true);
  if (samples.empty()) text_at(cr, "none", (columns * cell_w + 20) / 2.0, top + 40, 13, 0.5, 0.5);

  const int stride = cairo_format_stride_for_width(CAIRO_FORMAT_RGB24, w);
  std::vector<unsigned char> pixels(static_cast<std::size_t>(stride * h));
  const float* data = host.data<float>();
  for (std::size_t s = 0; s < samples.size(); ++s) {
    const Misclassified& m = samples[s];
    const float* image = data + m.index * h * w * host.dim(3);
    for (int y = 0; y < h; ++y) {
      auto* row =
          reinterpret_cast<std::uint32_t*>(pixels.data() + static_cast<std::ptrdiff_t>(y) * stride);
      for (int x = 0; x < w; ++x) {
        const auto g = static_cast<std::uint32_t>(
            std::lround(std::clamp(image[(y * w + x) * host.dim(3)], 0.0f, 1.0f) * 255));
        row[x] = (g << 16) | (g << 8) | g;
      }
    }
    std::unique_ptr<cairo_surface_t, void (*)(cairo_surface_t*)> tile(
        cairo_image_surface_create_for_data(pixels.data(), CAIRO_FORMAT_RGB24, w, h, stride),
        cairo_surface_destroy);
    const int col = static_cast<int>(s) % columns, row = static_cast<int>(s) / columns;
    const double x0 = 10 + col * cell_w, y0 = top + row * cell_h;
    set_color(cr, kBlack);
    text_at(cr, fmt::format("true:{}, predict:{}", m.truth, m.predicted), x0 + cell_w / 2.0, y0 + 9,
            12, 0.5, 0.5);
    cairo_save(cr);
    cairo_translate(cr, x0 + (cell_w - w * scale) / 2.0, y0 + 22);
    cairo_scale(cr, scale, scale);
    cairo_set_source_surface(cr, tile.get(), 0, 0);
    cairo_pattern_set_filter(cairo_get_source(cr), CAIRO_FILTER_NEAREST);
    cairo_paint(cr);
    cairo_restore(cr);
  }
  save_chart(canvas, path);
}

}  // namespace kiln::cli
