// Checks shared by the cuBLAS and cuDNN stand-ins (see library_support.h).
#include "library_support.h"

#include <cstdint>

#include "emulator.h"

namespace kiln::emu {

std::string device_range_problem(const char* argument, const void* ptr, std::size_t bytes,
                                 std::size_t alignment, cudaError_t* fault) {
  *fault = cudaSuccess;
  const std::string what = std::string("argument ") + argument + " (" + describe_pointer(ptr) + ")";
  if (!is_device_range(ptr, bytes)) {
    *fault = cudaErrorIllegalAddress;
    return what + " is not device memory covering the " + std::to_string(bytes) +
           " bytes the call accesses";
  }
  if (alignment > 1 && reinterpret_cast<std::uintptr_t>(ptr) % alignment != 0) {
    *fault = cudaErrorMisalignedAddress;
    return what + " is not aligned to " + std::to_string(alignment) + " bytes";
  }
  return "";
}

void check_redzones_after(const std::string& call) {
  const std::string damage = check_redzones();
  if (!damage.empty()) record_fault(cudaErrorIllegalAddress, "after " + call + ": " + damage);
}

}  // namespace kiln::emu
