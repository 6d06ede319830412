// The door from src/distributed to the NCCL all-reduce in cuda/nccl_comm.cpp: that file, compiled
// only into builds with CUDA (or its emulation), MPI and NCCL (or the emulation's stand-in),
// registers its functions here when the library loads. Without them, a gradient buffer on a GPU is
// summed through a host copy and MPI after the backward pass.
#pragma once

#include <cstdint>

#include "kiln/tensor.h"

namespace kiln::distributed {

// Note [Gradient buckets on a GPU] in data_parallel.cpp.
struct DeviceAllReduce {
  // Queues, on a communication stream of the buffer's device, after the work queued so far on
  // the device's own stream: elements [begin, end) of `buffer` (f32, on a GPU) scaled by `weight`
  // and summed over the ranks, in place. Returns at once (no host wait).
  void (*reduce)(const Tensor& buffer, std::int64_t begin, std::int64_t end,
                 float weight) = nullptr;
  // Makes the device's stream wait for every sum queued so far (no host wait).
  void (*join)(const Tensor& buffer) = nullptr;
  // Destroys the communicator, if one was made (distributed::finalize, before MPI goes).
  void (*release)() = nullptr;
};
void set_device_all_reduce(const DeviceAllReduce& reduce);
const DeviceAllReduce& device_all_reduce();  // reduce is null when kiln has no NCCL
// device_all_reduce().release, when there is one.
void release_device_communicator();

}  // namespace kiln::distributed
