// summary(): Keras 2's table, laid out by the same rules as keras.utils.layer_utils.print_summary
// (Keras 2.10/2.11): column end positions of 65 (chains) or 98 (graphs) characters, fields cut to
// fit and broken after "),", "},", "],", "',", a blank line after each layer.
#include <algorithm>
#include <unordered_map>

#include "core/check.h"
#include "kiln/model.h"
#include "model/summary.h"

namespace kiln {

namespace {

std::string spaces(std::ptrdiff_t n) {
  return std::string(static_cast<std::size_t>(std::max<std::ptrdiff_t>(n, 0)), ' ');
}

void print_row(std::vector<std::string> fields, const std::vector<int>& positions,
               std::string& out) {
  static const char* breaks[] = {"),", "},", "],", "',"};
  auto any_left = [&] {
    return std::any_of(fields.begin(), fields.end(),
                       [](const std::string& f) { return !f.empty(); });
  };
  while (any_left()) {
    std::string line;
    for (std::size_t col = 0; col < fields.size(); ++col) {
      const int start = col > 0 ? positions[col - 1] : 0;
      const int space = col + 1 != positions.size() ? 2 : 0;
      std::size_t cutoff = static_cast<std::size_t>(std::max(positions[col] - start - space, 0));
      std::string fit = fields[col].substr(0, std::min(cutoff, fields[col].size()));
      std::size_t best = std::string::npos;
      for (const char* b : breaks) {
        const std::size_t at = fit.find(b);
        if (at != std::string::npos) best = std::min(best, at + 2);
      }
      if (best != std::string::npos) {
        cutoff = best;
        fit = fit.substr(0, cutoff);
      }
      if (col == 0) line += " ";
      line += fit + spaces(space);
      fields[col] = cutoff < fields[col].size() ? fields[col].substr(cutoff) : "";
      line += spaces(positions[col] - static_cast<std::ptrdiff_t>(line.size()));
    }
    out += line + "\n";
  }
}

// The weight values no optimizer updates (BatchNormalization's moving statistics, and every
// weight of a frozen layer).
std::int64_t non_trainable_params(const std::vector<LayerPtr>& layers) {
  std::int64_t count = 0;
  for (const LayerPtr& layer : layers) {
    for (const auto& w : layer->weights()) {
      count += layer->trainable() && w->trainable() ? 0 : w->value().numel();
    }
  }
  return count;
}

std::string with_commas(std::int64_t n) {
  const std::string digits = std::to_string(n);
  std::string out;
  for (std::size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0 && digits[i - 1] != '-') out += ',';
    out += digits[i];
  }
  return out;
}

std::string python_list(const std::vector<std::string>& items) {
  std::string text = "[";
  for (std::size_t i = 0; i < items.size(); ++i) text += (i ? ", '" : "'") + items[i] + "'";
  return text + "]";
}

struct Table {
  int line_length;
  std::vector<int> positions;
};

Table table_for(bool chain) {
  const int length = chain ? 65 : 98;
  const std::vector<double> relative =
      chain ? std::vector<double>{0.45, 0.85, 1.0} : std::vector<double>{0.33, 0.55, 0.67, 1.0};
  Table t{length, {}};
  for (double p : relative) t.positions.push_back(static_cast<int>(length * p));
  return t;
}

std::string layer_label(const Layer& layer) { return layer.name() + " (" + layer.type() + ")"; }

}  // namespace

std::string render_summary(const std::string& model_name, const std::vector<LayerPtr>& layers,
                           const std::vector<std::shared_ptr<GraphNode>>& nodes, bool chain,
                           bool show_inputs, std::int64_t total_params) {
  const Table t = table_for(chain);
  std::string out = "Model: \"" + model_name + "\"\n" +
                    std::string(static_cast<std::size_t>(t.line_length), '_') + "\n";
  std::vector<std::string> header{"Layer (type)", "Output Shape", "Param #"};
  if (!chain) header.emplace_back("Connected to");
  print_row(header, t.positions, out);
  out += std::string(static_cast<std::size_t>(t.line_length), '=') + "\n";
  for (std::size_t i = 0; i < nodes.size(); ++i) {
    const GraphNode& node = *nodes[i];
    const bool is_input = node.inputs.empty();
    if (is_input && !show_inputs) continue;
    std::string shape = batch_shape_str(node.shape);
    if (is_input) shape = "[" + shape + "]";
    std::vector<std::string> fields{layer_label(*layers[i]), shape,
                                    std::to_string(layers[i]->count_params())};
    if (!chain) {
      std::vector<std::string> connected;
      for (const auto& in : node.inputs) connected.push_back(in->layer->name() + "[0][0]");
      fields.push_back(python_list(connected));
    }
    print_row(fields, t.positions, out);
    out += spaces(t.line_length) + "\n";
  }
  out += std::string(static_cast<std::size_t>(t.line_length), '=') + "\n";
  out += "Total params: " + with_commas(total_params) + "\n";
  const std::int64_t frozen = non_trainable_params(layers);
  out += "Trainable params: " + with_commas(total_params - frozen) + "\n";
  out += "Non-trainable params: " + with_commas(frozen) + "\n";
  out += std::string(static_cast<std::size_t>(t.line_length), '_') + "\n";
  return out;
}

}  // namespace kiln
