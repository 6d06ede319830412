#include "kiln/build_info.h"

#include <fmt/format.h>
#include <omp.h>

#include "backend/cpu/cpu_kernels.h"
#include "backend/cuda_bridge.h"

namespace kiln {

std::string version() { return KILN_VERSION_STRING; }

std::string build_info() {
  std::string text =
      fmt::format("kiln {}\ncompiler: g++ {}.{}\n", version(), __GNUC__, __GNUC_MINOR__);
  if (cuda_bridge::compiled_in()) {
    text += "CUDA: compiled in (" + cuda_bridge::version_info() + ")\n";
  } else {
    text += "CUDA: not compiled in\n";
  }
  text += fmt::format("CPU: {} OpenMP threads; BLAS: {}\n", omp_get_max_threads(),
                      backend::cpu::blas_description());
  std::string why_not;
  const int gpus = cuda_bridge::device_count(&why_not);
  text += "devices usable now: cpu";
  for (int i = 0; i < gpus; ++i) text += fmt::format(", cuda:{}", i);
  if (gpus == 0 && !why_not.empty()) text += " (no GPU: " + why_not + ")";
  return text + "\n";
}

}  // namespace kiln
