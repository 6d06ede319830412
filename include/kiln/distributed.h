// Data-parallel training across processes (docs/DISTRIBUTED.md): `mpirun -np N kiln train ...`.
// Every process (rank) holds the whole model and trains on its share of each global batch; the
// gradients are averaged with MPI's all-reduce (NCCL's on GPUs), so N ranks compute what one
// process would with the same global batch.
//
// init() joins the MPI job when the program was started by mpirun (and KILN_DISTRIBUTED is not
// "off"); otherwise it does nothing and the process is a world of one. fit() and evaluate() read
// the state below: nothing else needs to change in a training program.
#pragma once

#include <cstdint>
#include <string>

#include "kiln/device.h"
#include "kiln/export.h"

namespace kiln::distributed {

// Joins the MPI job when under mpirun and KILN_DISTRIBUTED is "auto" (the default); a no-op when
// not under mpirun or with KILN_DISTRIBUTED=off. KILN_DISTRIBUTED=one makes a data-parallel world
// of one without MPI (active(), world size 1): fit takes the data-parallel path — on a GPU, NCCL
// with a communicator of one rank — which checks that path on a one-GPU machine without mpirun.
// A kiln::Error when KILN_DISTRIBUTED has another value, or when under mpirun and kiln was built
// without MPI. Sets this rank's CPU threads to cores / ranks on this machine (unless
// OMP_NUM_THREADS is set). Safe to call twice.
KILN_API void init();
// Destroys the NCCL communicator, if one was made, and leaves the MPI job (a no-op when init()
// did not join one). Call on every rank, after the last collective (fit, evaluate) of the
// program.
KILN_API void finalize();

// Whether init() joined an MPI job (true even for mpirun -np 1), or made a world of one
// (KILN_DISTRIBUTED=one).
KILN_API bool active();
// This process's rank and the number of ranks (0 and 1 when not active).
KILN_API int rank();
KILN_API int world_size();
// The rank among the ranks on this machine, and their number.
KILN_API int local_rank();
KILN_API int local_size();
// Whether this kiln was built with MPI (and, below, with NCCL).
KILN_API bool built_with_mpi();
KILN_API bool built_with_nccl();

// The device this rank trains on: cuda:local_rank when this machine has a GPU per local rank,
// else the CPU (a kiln::Error when there are GPUs but fewer than the local ranks).
KILN_API Device rank_device();

// Element-wise sums over every rank, in place (host memory). No-ops when not active().
KILN_API void all_reduce_sum(double* values, std::int64_t count);
KILN_API void all_reduce_sum(float* values, std::int64_t count);
// Rank 0's values on every rank, in place (host memory).
KILN_API void broadcast(float* values, std::int64_t count);
// Rank 0's bytes on every rank (`text` resized as needed).
KILN_API void broadcast(std::string& text);
// Waits for every rank.
KILN_API void barrier();

// Every rank must give the same `text` (a model's config and kiln's version, say): its hash is
// compared with rank 0's, and every rank throws a kiln::Error naming `what` when any differs.
KILN_API void check_same(const std::string& what, const std::string& text);

// Prints "kiln: rank R: <message>" to stderr and stops every rank (MPI_Abort with `exit_code`);
// in a world of one it only prints and exits. For an error that one rank meets alone, where the
// others would otherwise wait for it forever in the next collective.
[[noreturn]] KILN_API void abort_all(const std::string& message, int exit_code);

// The gradient bucket sizes (bytes): the first bucket (the last layers' gradients, final first
// in the backward pass) and the others, PyTorch DDP's defaults 1 MB and 25 MB. KILN_BUCKET_MB
// sets the others (and caps the first) for experiments; set_bucket_bytes for tests.
struct BucketBytes {
  std::int64_t first = 1 << 20;
  std::int64_t rest = 25 << 20;
};
KILN_API BucketBytes bucket_bytes();
KILN_API void set_bucket_bytes(const BucketBytes& bytes);

}  // namespace kiln::distributed
