// MetricSums and StepLogs::to_host (Note [Metrics on the device] in metric_sums.h).
#include "model/metric_sums.h"

#include <algorithm>

#include "backend/backend.h"
#include "core/check.h"

namespace kiln {

std::map<std::string, double> StepLogs::to_host() const {
  std::map<std::string, double> values;
  for (const auto& [key, entry] : entries) {
    values[key] = entry.count > 0 ? entry.scale * entry.value.item() / entry.count : 0.0;
  }
  return values;
}

MetricSums::MetricSums(std::vector<std::string> keys, Device device)
    : keys_(std::move(keys)),
      sums_(Tensor::zeros({static_cast<std::int64_t>(keys_.size())}, DType::f32, device)),
      counts_(keys_.size(), 0.0) {}

std::vector<double> MetricSums::accumulate(const StepLogs& logs) {
  backend::Backend& be = backend::backend_for(sums_.device());
  std::vector<double> counts(keys_.size(), 0.0);
  for (const auto& [key, entry] : logs.entries) {
    const auto found = std::find(keys_.begin(), keys_.end(), key);
    KILN_CHECK(found != keys_.end(), "fit: the step logged '{}', which is not one of its keys",
               key);
    const auto slot = static_cast<std::int64_t>(found - keys_.begin());
    Tensor sum = sums_.narrow(slot, slot + 1);
    const Tensor value =
        entry.value.dtype() == DType::f32 ? entry.value : entry.value.astype(DType::f32);
    be.axpy(entry.scale, value.view({1}), sum);
    counts[static_cast<std::size_t>(slot)] += entry.count;
  }
  return counts;
}

void MetricSums::add_counts(const std::vector<double>& counts) {
  KILN_CHECK(counts.size() == counts_.size(), "fit: {} metric counts for {} keys", counts.size(),
             counts_.size());
  for (std::size_t i = 0; i < counts.size(); ++i) counts_[i] += counts[i];
}

void MetricSums::reset() {
  backend::backend_for(sums_.device()).fill(sums_, 0.0);
  std::fill(counts_.begin(), counts_.end(), 0.0);
}

std::vector<std::pair<std::string, double>> MetricSums::means() const {
  const std::vector<float> sums = sums_.to_vector<float>();
  std::vector<std::pair<std::string, double>> means;
  for (std::size_t i = 0; i < keys_.size(); ++i) {
    means.emplace_back(keys_[i], counts_[i] > 0 ? static_cast<double>(sums[i]) / counts_[i] : 0.0);
  }
  return means;
}

}  // namespace kiln
