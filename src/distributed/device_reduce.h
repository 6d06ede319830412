// The door from src/distributed to the NCCL all-reduce in cuda/nccl_comm.cpp: that file, compiled
// only into CUDA builds, registers its function here when the library loads. Without it, a
// gradient buffer on a GPU is summed through a host copy and MPI.
#pragma once

#include "kiln/tensor.h"

namespace kiln::distributed {

// Scales `buffer` (f32, on a GPU) by `weight` and sums it over the ranks, in place, queued on the
// device's stream (no host wait).
using DeviceAllReduce = void (*)(Tensor& buffer, float weight);
void set_device_all_reduce(DeviceAllReduce reduce);
DeviceAllReduce device_all_reduce();  // null when kiln has no NCCL

}  // namespace kiln::distributed
