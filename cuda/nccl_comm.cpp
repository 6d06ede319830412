// NCCL's all-reduce of a GPU gradient buffer for data-parallel training (docs/DISTRIBUTED.md).
// One communicator per process, one GPU per rank: rank 0 makes NCCL's unique id and MPI carries it
// to the others (kiln::distributed::broadcast), then every rank joins with ncclCommInitRank on its
// own GPU. The sum is queued on the device's stream, after the backward pass that made the
// gradients and before the optimizer's update, so the host never waits for it. Registered with
// src/distributed (device_reduce.h) when libkiln loads.
#include <nccl.h>

#include <cstring>
#include <memory>
#include <string>

#include "backend/cuda_bridge.h"
#include "core/check.h"
#include "cuda_backend.h"
#include "cuda_check.h"
#include "distributed/device_reduce.h"
#include "kiln/distributed.h"

namespace kiln::cuda {

namespace {

void check_nccl(ncclResult_t result, const char* what) {
  const char* detail = ncclGetLastError(nullptr);
  KILN_CHECK(result == ncclSuccess, "NCCL: {} failed: {} ({})", what, ncclGetErrorString(result),
             detail != nullptr ? detail : "no detail");
}

struct Communicator {
  ncclComm_t comm = nullptr;
  int device = -1;
  ~Communicator() {
    if (comm != nullptr) ncclCommDestroy(comm);
  }
};

// Rank 0's unique id, carried to every rank by MPI.
ncclUniqueId shared_id() {
  ncclUniqueId id;
  std::memset(&id, 0, sizeof id);
  if (distributed::rank() == 0) check_nccl(ncclGetUniqueId(&id), "ncclGetUniqueId");
  std::string bytes(reinterpret_cast<const char*>(&id), sizeof id);
  distributed::broadcast(bytes);
  KILN_CHECK(bytes.size() == sizeof id, "NCCL: rank 0's unique id came as {} bytes, expected {}",
             bytes.size(), sizeof id);
  std::memcpy(&id, bytes.data(), sizeof id);
  return id;
}

Communicator& communicator(int device) {
  static Communicator c;
  if (c.comm != nullptr) {
    KILN_CHECK(c.device == device,
               "NCCL: this rank's communicator is on cuda:{}, the gradients "
               "on cuda:{}; one GPU per rank",
               c.device, device);
    return c;
  }
  const ncclUniqueId id = shared_id();
  CHECK_CUDA(cudaSetDevice(device));
  check_nccl(ncclCommInitRank(&c.comm, distributed::world_size(), id, distributed::rank()),
             "ncclCommInitRank");
  c.device = device;
  return c;
}

void nccl_sum(Tensor& buffer, float weight) {
  KILN_CHECK(buffer.dtype() == DType::f32 && buffer.device().is_cuda(),
             "NCCL: the gradients must be f32 on a GPU, found {}", buffer.str());
  const int device = buffer.device().index;
  auto& gpu = static_cast<CudaBackend&>(cuda_bridge::backend(device));
  if (weight != 1.0f) gpu.axpy(static_cast<double>(weight) - 1.0, buffer, buffer);
  Communicator& c = communicator(device);
  float* data = buffer.data<float>();
  check_nccl(ncclAllReduce(data, data, static_cast<std::size_t>(buffer.numel()), ncclFloat, ncclSum,
                           c.comm, gpu.stream()),
             "ncclAllReduce");
}

const bool registered = [] {
  distributed::set_device_all_reduce(&nccl_sum);
  return true;
}();

}  // namespace

}  // namespace kiln::cuda
