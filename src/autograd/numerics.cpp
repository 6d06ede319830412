// The --check-numerics guard: called by every op as it records its output (autograd::record), and
// the layer scope that lets its message (and an out-of-memory error) name the layer.
#include "autograd/numerics.h"

#include <atomic>
#include <cmath>

#include "core/check.h"
#include "kiln/numerics.h"

namespace kiln {

namespace {
std::atomic<bool> numerics_enabled{false};
thread_local const autograd::LayerLabel* active_layer = nullptr;

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

const LayerLabel* current_layer() { return active_layer; }

LayerScope::LayerScope(const LayerLabel* layer) : previous_(active_layer) { active_layer = layer; }

LayerScope::~LayerScope() { active_layer = previous_; }

OutOfMemoryError in_layer(const OutOfMemoryError& error, const LayerLabel& layer,
                          const char* pass) {
  return OutOfMemoryError(fmt::format("{}, while running {} of layer '{}' ({})", error.what(), pass,
                                      layer.name, layer.type),
                          error.requested_bytes(), layer.name);
}

void check_finite(const char* op, const Tensor& output) {
  if (!numerics_enabled || !is_floating(output.dtype())) return;
  const Tensor host = output.to(Device::cpu());
  const std::int64_t bad =
      host.dtype() == DType::f32 ? count_non_finite<float>(host) : count_non_finite<double>(host);
  KILN_CHECK(bad == 0,
             "check_numerics: op '{}'{} produced {} non-finite value(s) (NaN/Inf) in its "
             "output of shape {}",
             op, active_layer ? " in layer '" + active_layer->name + "'" : std::string(), bad,
             shape_str(output.shape()));
}

}  // namespace autograd
}  // namespace kiln
