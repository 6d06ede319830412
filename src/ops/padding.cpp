// Padding and window arithmetic (Keras / TensorFlow rules).
#include <sstream>

#include "kiln/ops.h"
#include "ops/op_helpers.h"

namespace kiln {

namespace {

std::vector<std::int64_t> parse_numbers(const std::string& text) {
  std::vector<std::int64_t> values;
  std::stringstream stream(text);
  std::string item;
  while (std::getline(stream, item, ',')) {
    std::size_t used = 0;
    std::int64_t value = -1;
    try {
      value = std::stoll(item, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    KILN_CHECK(used == item.size() && value >= 0,
               "padding: expected 'valid', 'same' or non-negative integers 'N', 'H,W', 'T,B,L,R', "
               "found '{}'",
               text);
    values.push_back(value);
  }
  return values;
}

}  // namespace

Padding Padding::parse(const std::string& text) {
  if (text == "valid") return valid();
  if (text == "same") return same();
  const std::vector<std::int64_t> v = parse_numbers(text);
  if (v.size() == 1) return symmetric(v[0], v[0]);
  if (v.size() == 2) return symmetric(v[0], v[1]);
  if (v.size() == 4) return explicit_amounts(v[0], v[1], v[2], v[3]);
  fail("padding: expected 1, 2 or 4 numbers, found '{}'", text);
}

std::string Padding::str() const {
  switch (kind) {
    case Kind::valid: return "valid";
    case Kind::same: return "same";
    case Kind::explicit_amounts: break;
  }
  return fmt::format("({}, {}, {}, {})", top, bottom, left, right);
}

WindowAxis window_axis(std::int64_t input, std::int64_t window, std::int64_t stride,
                       const Padding& padding, bool vertical) {
  WindowAxis axis;
  switch (padding.kind) {
    case Padding::Kind::valid:
      axis.output = input >= window ? (input - window) / stride + 1 : 0;
      break;
    case Padding::Kind::same: {
      axis.output = (input + stride - 1) / stride;
      const std::int64_t total =
          std::max<std::int64_t>((axis.output - 1) * stride + window - input, 0);
      axis.pad_before = total / 2;
      axis.pad_after = total - axis.pad_before;
      break;
    }
    case Padding::Kind::explicit_amounts: {
      axis.pad_before = vertical ? padding.top : padding.left;
      axis.pad_after = vertical ? padding.bottom : padding.right;
      const std::int64_t padded = input + axis.pad_before + axis.pad_after;
      axis.output = padded >= window ? (padded - window) / stride + 1 : 0;
      break;
    }
  }
  return axis;
}

}  // namespace kiln
