// cuda_bridge (src/backend/cuda_bridge.h) for a build with CUDA: finds the usable GPUs once,
// creates each GPU's CudaBackend on first use, and reports library versions.
//
// Note [Probing without a driver]
// ~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~
// A binary built with CUDA must run on the CPU of a machine with no GPU or no driver. The CUDA
// runtime loads without libcuda and answers cudaGetDeviceCount with an error (insufficient
// driver, no device) instead of crashing; that error becomes device_count() == 0 and the reason.
// GPUs older than compute capability 8.0 are not usable: kiln ships sm_80 and sm_90 code plus
// compute_90 PTX, none of which runs there. The probe runs once; its answer is cached.
//
// Note [Process lifetime]
// ~~~~~~~~~~~~~~~~~~~~~~~
// A GPU's backend (its stream, pool and cuDNN plans) is created on first use and deliberately
// never destroyed. Tensors may live in static storage and be released after any static
// destructor of ours has run, and the CUDA runtime tears itself down at exit in an order we do
// not control; freeing device memory then would fail or crash. The operating system reclaims
// everything when the process ends.
#include "backend/cuda_bridge.h"

#include <cublas_v2.h>
#include <cuda_runtime_api.h>
#include <cudnn.h>

#include <array>
#include <atomic>
#include <mutex>

#include "core/check.h"
#include "cuda_backend.h"

namespace kiln::cuda_bridge {

namespace {

constexpr int kMinComputeMajor = 8;
constexpr int kMaxDevices = 64;

struct Probe {
  int count = 0;
  std::string why_not;
};

// Note [Probing without a driver]
Probe probe_devices() {
  Probe result;
  int count = 0;
  const cudaError_t status = cudaGetDeviceCount(&count);
  if (status != cudaSuccess) {
    cudaGetLastError();
    result.why_not = fmt::format("no usable CUDA driver or GPU ({}: {})", cudaGetErrorName(status),
                                 cudaGetErrorString(status));
    return result;
  }
  if (count == 0) {
    result.why_not = "no CUDA GPU was found";
    return result;
  }
  int usable = 0;
  for (; usable < std::min(count, kMaxDevices); ++usable) {
    int major = 0;
    int minor = 0;
    if (cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, usable) != cudaSuccess ||
        cudaDeviceGetAttribute(&minor, cudaDevAttrComputeCapabilityMinor, usable) != cudaSuccess) {
      cudaGetLastError();
      result.why_not = fmt::format("GPU {} could not be queried", usable);
      break;
    }
    if (major < kMinComputeMajor) {
      result.why_not =
          fmt::format("GPU {} has compute capability {}.{}; kiln's CUDA code needs {}.0 or newer",
                      usable, major, minor, kMinComputeMajor);
      break;
    }
  }
  result.count = usable;
  return result;
}

const Probe& probe() {
  static const Probe result = probe_devices();
  return result;
}

// Note [Process lifetime]: created once per GPU, never destroyed.
std::array<std::atomic<cuda::CudaBackend*>, kMaxDevices> backends{};
std::array<std::once_flag, kMaxDevices> backend_once;

}  // namespace

bool compiled_in() { return true; }

bool emulated() {
#if defined(KILN_CUDA_EMULATION)
  return true;
#else
  return false;
#endif
}

int device_count(std::string* why_not) {
  const Probe& p = probe();
  if (why_not != nullptr) *why_not = p.why_not;
  return p.count;
}

backend::Backend& backend(int device_index) {
  const auto slot = static_cast<std::size_t>(device_index);
  if (cuda::CudaBackend* ready = backends[slot].load(std::memory_order_acquire)) return *ready;
  std::call_once(backend_once[slot], [&] {
    backends[slot].store(new cuda::CudaBackend(device_index), std::memory_order_release);
  });
  return *backends[slot].load(std::memory_order_acquire);
}

Allocator& allocator(int device_index) { return backend(device_index).allocator(); }

std::string version_info() {
  int runtime = 0;
  int driver = 0;
  cudaRuntimeGetVersion(&runtime);
  cudaDriverGetVersion(&driver);
  cudaGetLastError();
  const std::size_t cudnn = cudnnGetVersion();
  int cublas[3] = {0, 0, 0};
  cublasGetProperty(MAJOR_VERSION, &cublas[0]);
  cublasGetProperty(MINOR_VERSION, &cublas[1]);
  cublasGetProperty(PATCH_LEVEL, &cublas[2]);
  const std::string driver_text =
      driver > 0 ? fmt::format("{}.{}", driver / 1000, driver % 1000 / 10) : std::string("none");
  // The cuDNN loaded at run time can differ from the headers kiln was built with (the GPU
  // machine's system cuDNN, or the one in PyTorch's wheel): say both.
  return fmt::format(
      "CUDA {}.{} (driver {}), cuDNN {}.{}.{} (built with {}.{}.{}), cuBLAS {}.{}.{}{}",
      runtime / 1000, runtime % 1000 / 10, driver_text, cudnn / 10000, cudnn % 10000 / 100,
      cudnn % 100, CUDNN_MAJOR, CUDNN_MINOR, CUDNN_PATCHLEVEL, cublas[0], cublas[1], cublas[2],
      emulated() ? "; emulated on the CPU (KILN_CUDA_EMULATION, tests only)" : "");
}

}  // namespace kiln::cuda_bridge
