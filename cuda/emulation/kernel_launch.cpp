// Kernel launches (kernel_api.h's launch_kernel): the checks CUDA makes at the launch — the
// configuration, the stream — and the emulation's own on pointer arguments, then the grid run by
// the scheduler (scheduler.cpp) at once or recorded into the stream's capture (Note [Stream
// capture] in stream_capture.cpp). A recorded launch owns its kernel closure; at each replay its
// pointer arguments must still lie in the allocations they had at the launch.
#include <fmt/format.h>

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "block.h"
#include "emulator.h"

namespace kiln::emu {

namespace {

// A checked launch, with the allocation of each pointer argument at the launch.
struct CheckedLaunch {
  KernelLaunch launch;
  std::vector<std::uint64_t> allocations;  // parallel to launch.pointers
};

std::string dim_text(const dim3& d) { return fmt::format("({}, {}, {})", d.x, d.y, d.z); }

std::string launch_name(const LaunchSite& site) {
  return fmt::format("kernel {} (launched at {})", site.kernel, site_text(site.file, site.line));
}

// "" or why CUDA would refuse this launch configuration.
std::string configuration_problem(dim3 grid, dim3 block, std::size_t dynamic_shared) {
  const std::uint64_t threads = static_cast<std::uint64_t>(block.x) * block.y * block.z;
  if (block.x == 0 || block.y == 0 || block.z == 0 || grid.x == 0 || grid.y == 0 || grid.z == 0) {
    return fmt::format("a zero extent (grid {}, block {})", dim_text(grid), dim_text(block));
  }
  if (threads > 1024 || block.x > 1024 || block.y > 1024 || block.z > 64) {
    return fmt::format("block {} over 1024 threads (x, y <= 1024, z <= 64)", dim_text(block));
  }
  if (grid.x > 2147483647u || grid.y > 65535 || grid.z > 65535) {
    return fmt::format("grid {} beyond (2^31-1, 65535, 65535)", dim_text(grid));
  }
  if (dynamic_shared > kMaxStaticShared) {
    return fmt::format("{} bytes of dynamic shared memory, over 48 KiB", dynamic_shared);
  }
  return "";
}

// The launch's own error: the last error, and the stream's capture is invalidated.
void refuse_launch(cudaStream_t stream, cudaError_t code, const std::string& message) {
  record_launch_error(code, message);
  invalidate_capture(stream, message);
}

// "" when every pointer argument is null or device memory, else the first that is not.
std::string pointer_problem(const KernelLaunch& launch) {
  for (const PointerArgument& p : launch.pointers) {
    if (p.pointer == nullptr || is_device_pointer(p.pointer)) continue;
    return fmt::format("argument {} of {} is {}, not device memory", p.index + 1,
                       launch_name(launch.site), describe_pointer(p.pointer));
  }
  return "";
}

// At a replay: false, with a fault, when a pointer argument left the allocation it had.
bool pointers_still_live(const CheckedLaunch& checked) {
  const KernelLaunch& launch = checked.launch;
  for (std::size_t i = 0; i < launch.pointers.size(); ++i) {
    const PointerArgument& p = launch.pointers[i];
    if (allocation_id(p.pointer) == checked.allocations[i]) continue;
    record_fault(cudaErrorIllegalAddress,
                 fmt::format("argument {} of {}, replayed from a graph, is {}: not the device "
                             "memory it pointed to at capture (freed since?)",
                             p.index + 1, launch_name(launch.site), describe_pointer(p.pointer)));
    return false;
  }
  return true;
}

void run_checked(const CheckedLaunch& checked) {
  if (!pointers_still_live(checked)) return;
  const KernelLaunch& l = checked.launch;
  run_grid(l.site, l.grid, l.block, l.body, l.closure.get());
}

}  // namespace

void launch_kernel(cudaStream_t stream, KernelLaunch launch) {
  const LaunchSite& site = launch.site;
  if (inside_kernel()) {
    record_fault(cudaErrorLaunchFailure,
                 fmt::format("kernel {} launched from device code (dynamic parallelism is not "
                             "emulated)",
                             site.kernel));
    return;
  }
  const std::string bad =
      configuration_problem(launch.grid, launch.block, launch.dynamic_shared_bytes);
  if (!bad.empty()) {
    refuse_launch(stream, cudaErrorInvalidConfiguration,
                  fmt::format("{} with {}", launch_name(site), bad));
    return;
  }
  if (!stream_is_valid(stream)) {
    record_launch_error(
        cudaErrorInvalidResourceHandle,
        fmt::format("{} on a stream that does not exist (destroyed?)", launch_name(site)));
    return;
  }
  const std::string pointer = pointer_problem(launch);
  if (!pointer.empty()) {
    refuse_launch(stream, cudaErrorIllegalAddress, pointer);
    return;
  }
  auto checked = std::make_shared<CheckedLaunch>();
  for (const PointerArgument& p : launch.pointers) {
    checked->allocations.push_back(allocation_id(p.pointer));
  }
  const std::string what = launch_name(site);
  checked->launch = std::move(launch);
  run_or_record(stream, what, [checked] { run_checked(*checked); });
}

}  // namespace kiln::emu
