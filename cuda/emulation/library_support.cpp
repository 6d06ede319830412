// Checks shared by the cuBLAS, cuBLASLt and cuDNN stand-ins (see library_support.h).
#include "library_support.h"

#include <fmt/format.h>

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

CheckedRange checked_range(const char* argument, const void* ptr, std::size_t bytes) {
  return {argument, ptr, bytes, allocation_id(ptr)};
}

bool ranges_still_live(const std::string& call, const std::vector<CheckedRange>& ranges) {
  for (const CheckedRange& range : ranges) {
    if (allocation_id(range.ptr) == range.allocation && is_device_range(range.ptr, range.bytes)) {
      continue;
    }
    record_fault(cudaErrorIllegalAddress,
                 fmt::format("{} replayed from a graph: argument {} ({}) is no longer the device "
                             "memory it was at capture (freed since?)",
                             call, range.argument, describe_pointer(range.ptr)));
    return false;
  }
  return true;
}

std::string queue_library_work(cudaStream_t stream, const std::string& call,
                               std::function<void()> work) {
  const cudaError_t status = run_or_record(stream, call, std::move(work));
  if (status == cudaSuccess) return "";
  return fmt::format("cannot queue work on {} now: {}", stream_name(stream),
                     cudaGetErrorName(status));
}

}  // namespace kiln::emu
