// The --check-numerics guard: called by every op as it records its output (autograd::record), and
// the layer scope that lets its message name the layer.
#include "autograd/numerics.h"

#include <atomic>
#include <cmath>

#include "core/check.h"
#include "kiln/numerics.h"

namespace kiln {

namespace {
std::atomic<bool> numerics_enabled{false};
thread_local const std::string* current_layer = nullptr;

template <class T>
std::int64_t count_non_finite(const Tensor& host) {
  std::int64_t count = 0;
  const T* values = host.data<T>();
  for (std::int64_t i = 0; i < host.numel(); ++i) count += !std::isfinite(values[i]);
  return count;
}
}  // namespace

void set_check_numerics(bool enabled) { numerics_enabled = enabled; }
bool check_numerics_enabled() { return numerics_enabled; }

namespace autograd {

LayerScope::LayerScope(const std::string& layer_name) : previous_(current_layer) {
  current_layer = &layer_name;
}

LayerScope::~LayerScope() { current_layer = previous_; }

void check_finite(const char* op, const Tensor& output) {
  if (!numerics_enabled || !is_floating(output.dtype())) return;
  const Tensor host = output.to(Device::cpu());
  const std::int64_t bad = host.dtype() == DType::f32 ? count_non_finite<float>(host)
                                                      : count_non_finite<double>(host);
  KILN_CHECK(bad == 0, "check_numerics: op '{}'{} produced {} non-finite value(s) (NaN/Inf) in its "
             "output of shape {}", op,
             current_layer ? " in layer '" + *current_layer + "'" : std::string(), bad,
             shape_str(output.shape()));
}

}  // namespace autograd
}  // namespace kiln
