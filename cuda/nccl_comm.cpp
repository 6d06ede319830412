// NCCL's all-reduce of a GPU gradient buffer for data-parallel training (docs/DISTRIBUTED.md).
// One communicator per process, one GPU per rank: rank 0 makes NCCL's unique id and MPI carries it
// to the others (kiln::distributed::broadcast; nothing to carry in a world of one), then every
// rank joins with ncclCommInitRank on its own GPU. Buckets of the gradient buffer are summed on a
// communication stream of their own while the backward pass goes on (Note [Gradient buckets on a
// GPU] in distributed/data_parallel.cpp); the host never waits. Registered with src/distributed
// (device_reduce.h) when libkiln loads. In the CUDA emulation this file runs unchanged against
// the emulation's NCCL stand-in (cuda/emulation/nccl/, MPI underneath).
#include <nccl.h>

#include <cstring>
#include <string>

#include "backend/cuda_bridge.h"
#include "core/check.h"
#include "cuda_backend.h"
#include "cuda_check.h"
#include "device_guard.h"
#include "distributed/device_reduce.h"
#include "kiln/distributed.h"

namespace kiln::cuda {

namespace {

void check_nccl(ncclResult_t result, const char* what) {
  if (result == ncclSuccess) return;
  const char* detail = ncclGetLastError(nullptr);
  fail("NCCL: {} failed: {} ({})", what, ncclGetErrorString(result),
       detail != nullptr && *detail != '\0' ? detail : "no detail");
}

// This rank's communicator, on its GPU, with the stream its sums run on and the events that order
// that stream against the device's own. Made at the first sum; destroyed by release().
struct Communicator {
  ncclComm_t comm = nullptr;
  int device = -1;
  cudaStream_t stream = nullptr;  // the communication stream
  cudaEvent_t queued = nullptr;   // the device stream's work so far: a bucket's gradients
  cudaEvent_t summed = nullptr;   // the communication stream's sums so far
};

Communicator& state() {
  static Communicator c;  // release() ends it, before MPI goes; never a static destructor
  return c;
}

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
  Communicator& c = state();
  if (c.comm != nullptr) {
    KILN_CHECK(c.device == device,
               "NCCL: this rank's communicator is on cuda:{}, the gradients "
               "on cuda:{}; one GPU per rank",
               c.device, device);
    return c;
  }
  const ncclUniqueId id = shared_id();
  DeviceGuard guard(device);
  check_nccl(ncclCommInitRank(&c.comm, distributed::world_size(), id, distributed::rank()),
             "ncclCommInitRank");
  c.device = device;
  CHECK_CUDA(cudaStreamCreateWithFlags(&c.stream, cudaStreamNonBlocking));
  CHECK_CUDA(cudaEventCreateWithFlags(&c.queued, cudaEventDisableTiming));
  CHECK_CUDA(cudaEventCreateWithFlags(&c.summed, cudaEventDisableTiming));
  return c;
}

CudaBackend& backend_of(const Tensor& buffer) {
  KILN_CHECK(buffer.dtype() == DType::f32 && buffer.device().is_cuda(),
             "NCCL: the gradients must be f32 on a GPU, found {}", buffer.str());
  return static_cast<CudaBackend&>(cuda_bridge::backend(buffer.device().index));
}

// Elements [begin, end) of `buffer` times `weight`, summed over the ranks in place, on the
// communication stream after the device stream's work so far.
void nccl_reduce(const Tensor& buffer, std::int64_t begin, std::int64_t end, float weight) {
  CudaBackend& gpu = backend_of(buffer);
  KILN_CHECK(0 <= begin && begin <= end && end <= buffer.numel(),
             "NCCL: elements [{}, {}) of a buffer of {}", begin, end, buffer.numel());
  if (begin == end) return;
  const int device = buffer.device().index;
  Communicator& c = communicator(device);
  DeviceGuard guard(device);
  CHECK_CUDA(cudaEventRecord(c.queued, gpu.stream()));
  CHECK_CUDA(cudaStreamWaitEvent(c.stream, c.queued, 0));
  Tensor flat = buffer;  // a handle on the same storage
  float* data = flat.data<float>() + begin;
  ncclRedOp_t op = ncclSum;
  if (weight != 1.0f) {  // this rank's share of the batch, applied by NCCL before the sum
    check_nccl(ncclRedOpCreatePreMulSum(&op, &weight, ncclFloat, ncclScalarHostImmediate, c.comm),
               "ncclRedOpCreatePreMulSum");
  }
  check_nccl(ncclAllReduce(data, data, static_cast<std::size_t>(end - begin), ncclFloat, op, c.comm,
                           c.stream),
             "ncclAllReduce");
  // An operator may go as soon as the last call given it has returned (NCCL's documentation).
  if (weight != 1.0f) check_nccl(ncclRedOpDestroy(op, c.comm), "ncclRedOpDestroy");
}

// The device stream waits for every sum queued so far.
void nccl_join(const Tensor& buffer) {
  CudaBackend& gpu = backend_of(buffer);
  const int device = buffer.device().index;
  Communicator& c = communicator(device);
  DeviceGuard guard(device);
  CHECK_CUDA(cudaEventRecord(c.summed, c.stream));
  CHECK_CUDA(cudaStreamWaitEvent(gpu.stream(), c.summed, 0));
}

// distributed::finalize: the sums finish, then the communicator, its stream and events go.
void nccl_release() {
  Communicator& c = state();
  if (c.comm == nullptr) return;
  DeviceGuard guard(c.device);
  CHECK_CUDA(cudaStreamSynchronize(c.stream));
  check_nccl(ncclCommDestroy(c.comm), "ncclCommDestroy");
  CHECK_CUDA(cudaEventDestroy(c.queued));
  CHECK_CUDA(cudaEventDestroy(c.summed));
  CHECK_CUDA(cudaStreamDestroy(c.stream));
  c = Communicator{};
}

const bool registered = [] {
  distributed::set_device_all_reduce({&nccl_reduce, &nccl_join, &nccl_release});
  return true;
}();

}  // namespace

}  // namespace kiln::cuda
