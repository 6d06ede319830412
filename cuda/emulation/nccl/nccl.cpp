// kiln's stand-in for NCCL in the CUDA emulation (test builds only; docs/CUDA_EMULATION.md,
// docs/DISTRIBUTED.md): exactly the calls cuda/nccl_comm.cpp makes, against NCCL's real header,
// so that file runs unchanged on the emulated GPU — ncclGetUniqueId, ncclCommInitRank,
// ncclAllReduce (f32 sums, plain or pre-multiplied by ncclRedOpCreatePreMulSum's host scalar),
// ncclRedOpDestroy, ncclGroupStart / ncclGroupEnd, ncclCommDestroy, ncclGetErrorString,
// ncclGetLastError. Anything else is a link error of the emulated libkiln (-Wl,--no-undefined).
//
// Note [NCCL over MPI]
// ~~~~~~~~~~~~~~~~~~~~
// Emulated device memory is host memory, so MPI carries the sums: a communicator of N > 1 ranks
// is an MPI communicator split from MPI_COMM_WORLD by the unique id (every rank of the MPI job
// must call ncclCommInitRank together, as kiln's ranks do; MPI must be initialised, which
// kiln::distributed::init() does under mpirun), and ncclAllReduce is MPI_Allreduce on it. A
// communicator of one rank needs no MPI at all (kiln's KILN_DISTRIBUTED=one). The checks are
// NCCL's documented ones plus the emulation's strictness: a unique id not made by
// ncclGetUniqueId, ranks that disagree on the size or give the same rank (every rank fails
// together, rather than hang), buffers that are not device memory covering `count` elements
// (checked as the cuBLAS and cuDNN stand-ins check theirs), partially overlapping send and
// receive buffers, an operator made for another communicator or type, an invalid stream. Each
// failure returns the documented result and leaves its reason for ncclGetLastError. Work runs
// at the call, as all emulated device work does (emulator.h), after the work queued before it;
// inside ncclGroupStart / ncclGroupEnd the collectives are held and run, in call order, at the
// outermost ncclGroupEnd, as NCCL defers them. A collective on a stream that captures is refused
// (ncclInvalidUsage, the capture invalidated): NCCL on a GPU can be captured, the emulation does
// not record MPI calls into graphs (kiln never captures a data-parallel step).
#define OMPI_SKIP_MPICXX 1  // the C API only (MPI::MPI_C)
#define MPICH_SKIP_MPICXX 1
#include <mpi.h>
#include <nccl.h>

#include <atomic>
#include <climits>
#include <cstdint>
#include <cstring>
#include <functional>
#include <map>
#include <mutex>
#include <random>
#include <string>
#include <vector>

#include "emulator.h"
#include "library_support.h"

struct ncclComm {
  MPI_Comm mpi = MPI_COMM_NULL;  // MPI_COMM_NULL for a communicator of one
  int nranks = 1, rank = 0, device = 0;
  std::map<int, float> pre_mul_sums;  // operators made by ncclRedOpCreatePreMulSum: op -> scalar
  int next_op = ncclNumOps;
};

namespace kiln::emu::nccl {

namespace {

constexpr char kMagic[] = "kiln-emulated-nccl-unique-id";

std::mutex error_mutex;
std::string last_error;  // ncclGetLastError: process-wide, as NCCL's (its comm argument is unused)

ncclResult_t fail(ncclResult_t result, const std::string& message) {
  std::lock_guard lock(error_mutex);
  last_error = message;
  return result;
}

ObjectRegistry<ncclComm>& comms() {
  static auto* registry = new ObjectRegistry<ncclComm>;  // never destroyed
  return *registry;
}

// The held collectives of the calling thread's group (ncclGroupStart / ncclGroupEnd).
thread_local int group_depth = 0;
thread_local std::vector<std::function<ncclResult_t()>> group_work;

bool mpi_usable() {
  int initialized = 0, finalized = 0;
  MPI_Initialized(&initialized);
  MPI_Finalized(&finalized);
  return initialized != 0 && finalized == 0;
}

std::string mpi_error(int code) {
  char text[MPI_MAX_ERROR_STRING];
  int length = 0;
  MPI_Error_string(code, text, &length);
  return std::string(text, static_cast<std::size_t>(length));
}

std::uint64_t fnv1a(const void* data, std::size_t bytes) {
  std::uint64_t h = 1469598103934665603ULL;
  for (std::size_t i = 0; i < bytes; ++i) {
    h ^= static_cast<const unsigned char*>(data)[i];
    h *= 1099511628211ULL;
  }
  return h;
}

// Rank `rank` of `nranks` joins the communicator of `id` (Note [NCCL over MPI]).
ncclResult_t init_rank(ncclComm_t* out, int nranks, const ncclUniqueId& id, int rank) {
  if (out == nullptr) return fail(ncclInvalidArgument, "ncclCommInitRank: comm is NULL");
  if (nranks < 1 || rank < 0 || rank >= nranks) {
    return fail(ncclInvalidArgument, "ncclCommInitRank: rank " + std::to_string(rank) + " of " +
                                         std::to_string(nranks) + " ranks");
  }
  if (std::memcmp(id.internal, kMagic, sizeof kMagic) != 0) {
    return fail(ncclInvalidArgument,
                "ncclCommInitRank: the unique id was not made by ncclGetUniqueId (not "
                "broadcast from the root rank?)");
  }
  int device = 0;
  if (cudaGetDevice(&device) != cudaSuccess) {
    return fail(ncclUnhandledCudaError, "ncclCommInitRank: cudaGetDevice failed");
  }
  MPI_Comm mpi = MPI_COMM_NULL;
  if (nranks > 1) {
    if (!mpi_usable()) {
      return fail(ncclInvalidUsage,
                  "ncclCommInitRank: the emulated NCCL carries a communicator of " +
                      std::to_string(nranks) +
                      " ranks over MPI, which is not initialised (run under mpirun, after "
                      "kiln::distributed::init())");
    }
    const int color = static_cast<int>(fnv1a(id.internal, sizeof id.internal) & 0x7fffffff);
    int code = MPI_Comm_split(MPI_COMM_WORLD, color, rank, &mpi);
    if (code != MPI_SUCCESS) {
      return fail(ncclSystemError, "ncclCommInitRank: MPI_Comm_split: " + mpi_error(code));
    }
    // Every rank of the id must agree on the size and hold a rank of its own: checked together,
    // so every rank fails, none waits for the others.
    int size = 0, position = 0;
    MPI_Comm_size(mpi, &size);
    MPI_Comm_rank(mpi, &position);
    int mine[2] = {nranks, -nranks}, agreed[2] = {0, 0};
    int bad = (size != nranks || position != rank) ? 1 : 0, any_bad = 0;
    MPI_Allreduce(mine, agreed, 2, MPI_INT, MPI_MAX, mpi);
    MPI_Allreduce(&bad, &any_bad, 1, MPI_INT, MPI_MAX, mpi);
    if (agreed[0] != -agreed[1] || any_bad != 0) {
      MPI_Comm_free(&mpi);
      return fail(ncclInvalidUsage,
                  "ncclCommInitRank: the ranks of this unique id disagree: " +
                      std::to_string(size) + " processes joined, this one as rank " +
                      std::to_string(rank) + " of " + std::to_string(nranks) +
                      " (every rank of the id must give the same nranks and a rank of its own)");
    }
  }
  ncclComm* comm = comms().create();
  comm->mpi = mpi;
  comm->nranks = nranks;
  comm->rank = rank;
  comm->device = device;
  *out = comm;
  return ncclSuccess;
}

ncclComm* live_comm(ncclComm_t comm) { return comms().is_live(comm) ? comm : nullptr; }

// count floats at `data` summed over the communicator's ranks, in place.
ncclResult_t sum_in_place(const ncclComm& comm, float* data, std::size_t count) {
  if (comm.nranks == 1) return ncclSuccess;
  if (!mpi_usable()) {
    return fail(ncclSystemError, "ncclAllReduce: MPI was finalised under the communicator");
  }
  for (std::size_t done = 0; done < count;) {
    const int part = static_cast<int>(std::min<std::size_t>(count - done, INT_MAX));
    const int code = MPI_Allreduce(MPI_IN_PLACE, data + done, part, MPI_FLOAT, MPI_SUM, comm.mpi);
    if (code != MPI_SUCCESS) {
      return fail(ncclSystemError, "ncclAllReduce: MPI_Allreduce: " + mpi_error(code));
    }
    done += static_cast<std::size_t>(part);
  }
  return ncclSuccess;
}

ncclResult_t all_reduce(const void* sendbuff, void* recvbuff, std::size_t count,
                        ncclDataType_t datatype, ncclRedOp_t op, ncclComm_t handle,
                        cudaStream_t stream) {
  const std::string call = "ncclAllReduce";
  ncclComm* comm = live_comm(handle);
  if (comm == nullptr) {
    return fail(ncclInvalidArgument, call + ": the communicator does not exist (destroyed?)");
  }
  if (datatype != ncclFloat) {
    return fail(ncclInvalidArgument, call + ": data type " + std::to_string(datatype) +
                                         " is not emulated (ncclFloat only)");
  }
  float scalar = 1.0f;
  if (op != ncclSum) {
    const auto found = comm->pre_mul_sums.find(static_cast<int>(op));
    if (found == comm->pre_mul_sums.end()) {
      return fail(ncclInvalidArgument,
                  call + ": reduction " + std::to_string(op) +
                      " is not emulated (ncclSum, or an operator ncclRedOpCreatePreMulSum made "
                      "for this communicator)");
    }
    scalar = found->second;
  }
  if (!stream_is_valid(stream)) {
    return fail(ncclInvalidArgument, call + ": " + stream_name(stream) + " does not exist");
  }
  const std::size_t bytes = count * sizeof(float);
  if (count > 0) {
    for (const auto& [name, ptr] : {std::pair<const char*, const void*>{"sendbuff", sendbuff},
                                    std::pair<const char*, const void*>{"recvbuff", recvbuff}}) {
      cudaError_t fault = cudaSuccess;
      const std::string problem = device_range_problem(name, ptr, bytes, sizeof(float), &fault);
      if (!problem.empty()) return fail(ncclInvalidArgument, call + ": " + problem);
    }
    const auto* s = static_cast<const char*>(sendbuff);
    const auto* r = static_cast<const char*>(recvbuff);
    if (s != r && s < r + bytes && r < s + bytes) {
      return fail(ncclInvalidArgument,
                  call +
                      ": sendbuff and recvbuff overlap without being equal (in place means "
                      "sendbuff == recvbuff)");
    }
  }
  if (stream_is_capturing(stream)) {
    invalidate_capture(stream, call + " on a capturing stream");
    return fail(ncclInvalidUsage, call + ": " + stream_name(stream) +
                                      " captures; capturing NCCL calls is not emulated");
  }
  ncclResult_t result = ncclSuccess;
  const cudaError_t queued = run_or_record(stream, call, [&] {
    auto* out = static_cast<float*>(recvbuff);
    if (out != sendbuff && count > 0) std::memmove(out, sendbuff, bytes);
    if (scalar != 1.0f) {
      for (std::size_t i = 0; i < count; ++i) out[i] *= scalar;
    }
    result = sum_in_place(*comm, out, count);
    check_redzones_after(call);
  });
  if (queued != cudaSuccess)
    return fail(ncclUnhandledCudaError, call + ": the stream refused the work");
  return result;
}

}  // namespace

}  // namespace kiln::emu::nccl

using namespace kiln::emu;
using namespace kiln::emu::nccl;

const char* ncclGetErrorString(ncclResult_t result) {
  switch (result) {
    case ncclSuccess: return "no error";
    case ncclUnhandledCudaError:
      return "unhandled cuda error (run with NCCL_DEBUG=INFO for details)";
    case ncclSystemError: return "unhandled system error (run with NCCL_DEBUG=INFO for details)";
    case ncclInternalError:
      return "internal error - please report this issue to the NCCL developers";
    case ncclInvalidArgument: return "invalid argument (run with NCCL_DEBUG=WARN for details)";
    case ncclInvalidUsage: return "invalid usage (run with NCCL_DEBUG=WARN for details)";
    case ncclRemoteError: return "remote process exited or there was a network error";
    case ncclInProgress: return "NCCL operation in progress";
    default: return "unknown result code";
  }
}

const char* ncclGetLastError(ncclComm_t) {
  std::lock_guard lock(error_mutex);
  return last_error.c_str();
}

ncclResult_t ncclGetUniqueId(ncclUniqueId* uniqueId) {
  if (uniqueId == nullptr) return fail(ncclInvalidArgument, "ncclGetUniqueId: uniqueId is NULL");
  static std::atomic<std::uint64_t> made{0};
  std::memset(uniqueId->internal, 0, sizeof uniqueId->internal);
  std::memcpy(uniqueId->internal, kMagic, sizeof kMagic);
  std::random_device random;
  const std::uint64_t nonce[2] = {(std::uint64_t{random()} << 32) | random(), made.fetch_add(1)};
  std::memcpy(uniqueId->internal + sizeof kMagic, nonce, sizeof nonce);
  return ncclSuccess;
}

ncclResult_t ncclCommInitRank(ncclComm_t* comm, int nranks, ncclUniqueId commId, int rank) {
  if (group_depth > 0) {
    return fail(ncclInvalidUsage,
                "ncclCommInitRank inside ncclGroupStart / ncclGroupEnd is not emulated");
  }
  return init_rank(comm, nranks, commId, rank);
}

ncclResult_t ncclCommDestroy(ncclComm_t comm) {
  if (comm == nullptr) return ncclSuccess;  // NCCL accepts NULL
  if (!comms().is_live(comm)) {
    return fail(ncclInvalidArgument,
                "ncclCommDestroy: the communicator does not exist (destroyed twice?)");
  }
  if (comm->mpi != MPI_COMM_NULL && mpi_usable()) MPI_Comm_free(&comm->mpi);
  comms().destroy(comm);
  return ncclSuccess;
}

ncclResult_t ncclRedOpCreatePreMulSum(ncclRedOp_t* op, void* scalar, ncclDataType_t datatype,
                                      ncclScalarResidence_t residence, ncclComm_t handle) {
  const std::string call = "ncclRedOpCreatePreMulSum";
  ncclComm* comm = live_comm(handle);
  if (comm == nullptr) {
    return fail(ncclInvalidArgument, call + ": the communicator does not exist (destroyed?)");
  }
  if (op == nullptr || scalar == nullptr) {
    return fail(ncclInvalidArgument, call + ": op or scalar is NULL");
  }
  if (datatype != ncclFloat || residence != ncclScalarHostImmediate) {
    return fail(ncclInvalidArgument,
                call + ": only an ncclFloat scalar with ncclScalarHostImmediate is emulated");
  }
  if (is_device_pointer(scalar)) {
    return fail(ncclInvalidArgument, call +
                                         ": scalar points to device memory, but the residence is "
                                         "ncclScalarHostImmediate");
  }
  float value = 0.0f;
  std::memcpy(&value, scalar, sizeof value);  // read now, as HostImmediate promises
  const int id = comm->next_op++;
  comm->pre_mul_sums[id] = value;
  *op = static_cast<ncclRedOp_t>(id);
  return ncclSuccess;
}

ncclResult_t ncclRedOpDestroy(ncclRedOp_t op, ncclComm_t handle) {
  ncclComm* comm = live_comm(handle);
  if (comm == nullptr || comm->pre_mul_sums.erase(static_cast<int>(op)) == 0) {
    return fail(ncclInvalidArgument,
                "ncclRedOpDestroy: operator " + std::to_string(op) +
                    " was not made for this communicator by ncclRedOpCreate*, or was destroyed");
  }
  return ncclSuccess;
}

ncclResult_t ncclAllReduce(const void* sendbuff, void* recvbuff, size_t count,
                           ncclDataType_t datatype, ncclRedOp_t op, ncclComm_t comm,
                           cudaStream_t stream) {
  if (group_depth == 0) return all_reduce(sendbuff, recvbuff, count, datatype, op, comm, stream);
  // Held until the outermost ncclGroupEnd; the operator's scalar is looked up now, as its
  // destruction may follow this call at once.
  float scalar = 1.0f;
  if (op != ncclSum) {
    const auto found = comms().is_live(comm) ? comm->pre_mul_sums.find(static_cast<int>(op))
                                             : std::map<int, float>::iterator();
    if (!comms().is_live(comm) || found == comm->pre_mul_sums.end()) {
      return fail(ncclInvalidArgument, "ncclAllReduce: reduction " + std::to_string(op) +
                                           " is not emulated, or its communicator does not exist");
    }
    scalar = found->second;
  }
  group_work.push_back([=]() -> ncclResult_t {
    if (op == ncclSum || scalar == 1.0f) {
      return all_reduce(sendbuff, recvbuff, count, datatype, ncclSum, comm, stream);
    }
    ncclRedOp_t held = ncclSum;
    float value = scalar;
    ncclResult_t made =
        ncclRedOpCreatePreMulSum(&held, &value, datatype, ncclScalarHostImmediate, comm);
    if (made != ncclSuccess) return made;
    const ncclResult_t result = all_reduce(sendbuff, recvbuff, count, datatype, held, comm, stream);
    ncclRedOpDestroy(held, comm);
    return result;
  });
  return ncclSuccess;
}

ncclResult_t ncclGroupStart() {
  ++group_depth;
  return ncclSuccess;
}

ncclResult_t ncclGroupEnd() {
  if (group_depth == 0) {
    return fail(ncclInvalidUsage, "ncclGroupEnd without ncclGroupStart");
  }
  if (--group_depth > 0) return ncclSuccess;
  std::vector<std::function<ncclResult_t()>> work;
  work.swap(group_work);
  ncclResult_t first = ncclSuccess;
  for (auto& w : work) {
    const ncclResult_t result = w();
    if (first == ncclSuccess) first = result;
  }
  return first;
}
