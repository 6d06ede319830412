// Weights paired by name (model/weights_by_name.h).
#include "model/weights_by_name.h"

#include <map>

#include "core/check.h"

namespace kiln {
namespace {

// "conv2d/kernel:0" -> "conv2d/kernel".
std::string stored_name(const std::string& variable_name) {
  const std::size_t colon = variable_name.rfind(':');
  return colon == std::string::npos ? variable_name : variable_name.substr(0, colon);
}

}  // namespace

std::vector<Tensor> weights_by_name(const Model& model,
                                    const std::vector<std::pair<std::string, Tensor>>& stored,
                                    const std::string& path) {
  std::map<std::string, const Tensor*> by_name;
  for (const auto& [name, value] : stored) by_name[name] = &value;
  std::vector<Tensor> values;
  std::vector<std::string> missing;
  for (const auto& variable : model.weights()) {
    const std::string name = stored_name(variable->name());
    const auto found = by_name.find(name);
    if (found == by_name.end()) {
      missing.push_back(name);
      continue;
    }
    const Tensor& want = variable->value();
    const Tensor& got = *found->second;
    KILN_CHECK(got.shape() == want.shape(), "{}: weight '{}' has shape {}, model '{}' expects {}",
               path, name, shape_str(got.shape()), model.name(), shape_str(want.shape()));
    values.push_back(got.astype(DType::f32).to(want.device()));
    by_name.erase(found);
  }
  KILN_CHECK(missing.empty(), "{}: {} of model '{}''s {} weights are not in the file: {}", path,
             missing.size(), model.name(), model.weights().size(), fmt::join(missing, ", "));
  std::vector<std::string> unused;
  for (const auto& [name, value] : by_name) unused.push_back(name);
  KILN_CHECK(unused.empty(), "{}: the file holds {} weight(s) that model '{}' does not have: {}",
             path, unused.size(), model.name(), fmt::join(unused, ", "));
  return values;
}

}  // namespace kiln
