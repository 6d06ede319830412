// kiln::distributed (kiln/distributed.h): the MPI job this process belongs to, or a world of one.
// Built with MPI when CMake finds it (KILN_HAVE_MPI); without it, everything is a world of one and
// init() under mpirun is a kiln::Error that says so.
#include "kiln/distributed.h"

#include <omp.h>

#include <cstdio>
#include <cstdlib>
#include <string_view>
#include <thread>

#include "backend/cuda_bridge.h"
#include "core/check.h"
#include "distributed/device_reduce.h"

#ifdef KILN_HAVE_MPI
#define OMPI_SKIP_MPICXX 1  // the C API only (kiln links MPI::MPI_C)
#define MPICH_SKIP_MPICXX 1
#include <mpi.h>
#endif

namespace kiln::distributed {

namespace {

struct State {
  bool active = false;
  bool mpi = false;          // joined an MPI job (false for KILN_DISTRIBUTED=one)
  bool joined_here = false;  // MPI_Init was ours (so MPI_Finalize is too)
  int rank = 0, world = 1, local_rank = 0, local_size = 1;
  BucketBytes buckets;
};

State& state() {
  static State s;
  return s;
}

// mpirun (OpenMPI, MPICH, Intel MPI, Slurm's PMI) leaves one of these in every rank's environment.
bool under_mpirun() {
  for (const char* name : {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_RANK", "MPI_LOCALNRANKS"}) {
    if (std::getenv(name) != nullptr) return true;
  }
  return false;
}

enum class Mode { off, mpi, one };

// KILN_DISTRIBUTED: auto (the default: MPI under mpirun, else nothing), off, or one (a
// data-parallel world of one without MPI: the data-parallel step, NCCL on a GPU included, runs
// with world size 1 — the check of that path on a one-GPU machine that has no mpirun).
Mode wanted() {
  const char* value = std::getenv("KILN_DISTRIBUTED");
  const std::string_view mode = value != nullptr ? value : "auto";
  KILN_CHECK(mode == "auto" || mode == "off" || mode == "one",
             "KILN_DISTRIBUTED must be auto, off or one, found '{}'", mode);
  if (mode == "one") return Mode::one;
  return mode == "auto" && under_mpirun() ? Mode::mpi : Mode::off;
}

// A CPU rank gets its share of this machine's cores (OMP_NUM_THREADS, when set, wins).
void share_cores(int local_size) {
  if (std::getenv("OMP_NUM_THREADS") != nullptr) return;
  const int cores = static_cast<int>(std::thread::hardware_concurrency());
  omp_set_num_threads(std::max(1, cores / std::max(1, local_size)));
}

std::uint64_t fnv1a(const std::string& text) {
  std::uint64_t h = 1469598103934665603ULL;
  for (unsigned char c : text) {
    h ^= c;
    h *= 1099511628211ULL;
  }
  return h;
}

#ifdef KILN_HAVE_MPI

void check_mpi(int code, const char* what) {
  if (code == MPI_SUCCESS) return;
  char text[MPI_MAX_ERROR_STRING];
  int length = 0;
  MPI_Error_string(code, text, &length);
  fail("MPI: {} failed: {}", what, std::string(text, static_cast<std::size_t>(length)));
}

void join() {
  State& s = state();
  int initialized = 0;
  MPI_Initialized(&initialized);
  if (initialized == 0) {
    // Gradient buckets are all-reduced on their own thread while the main thread goes on with
    // the backward pass; MPI calls never overlap (SERIALIZED), MULTIPLE is asked for all the same.
    int provided = 0;
    check_mpi(MPI_Init_thread(nullptr, nullptr, MPI_THREAD_MULTIPLE, &provided), "MPI_Init_thread");
    KILN_CHECK(provided >= MPI_THREAD_SERIALIZED,
               "MPI: this MPI gives thread level {}; kiln needs MPI_THREAD_SERIALIZED ({}) or more",
               provided, static_cast<int>(MPI_THREAD_SERIALIZED));
    s.joined_here = true;
  }
  MPI_Comm_rank(MPI_COMM_WORLD, &s.rank);
  MPI_Comm_size(MPI_COMM_WORLD, &s.world);
  MPI_Comm local;
  check_mpi(
      MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, s.rank, MPI_INFO_NULL, &local),
      "MPI_Comm_split_type");
  MPI_Comm_rank(local, &s.local_rank);
  MPI_Comm_size(local, &s.local_size);
  MPI_Comm_free(&local);
  s.active = true;
  s.mpi = true;
}

#else

void join() {
  fail(
      "KILN_DISTRIBUTED: this process was started by mpirun, but this kiln was built without "
      "MPI (install libopenmpi-dev and rebuild, or set KILN_DISTRIBUTED=off to run each process "
      "alone)");
}

#endif

}  // namespace

void init() {
  State& s = state();
  if (s.active) return;
  const Mode mode = wanted();
  if (mode == Mode::off) return;
  if (mode == Mode::one) {
    s.active = true;  // rank 0 of 1, local rank 0 of 1; no MPI call is ever made
  } else {
    join();
    share_cores(s.local_size);
  }
  if (const char* mb = std::getenv("KILN_BUCKET_MB")) {
    const double value = std::atof(mb);
    KILN_CHECK(value > 0, "KILN_BUCKET_MB must be a positive number of megabytes, found '{}'", mb);
    s.buckets.rest = static_cast<std::int64_t>(value * (1 << 20));
    s.buckets.first = std::min(s.buckets.first, s.buckets.rest);
  }
}

void finalize() {
  State& s = state();
  if (!s.active) return;
  release_device_communicator();  // before MPI goes (NCCL's communicator, when one was made)
#ifdef KILN_HAVE_MPI
  if (s.joined_here) MPI_Finalize();
#endif
  s = State{};
}

bool active() { return state().active; }
int rank() { return state().rank; }
int world_size() { return state().world; }
int local_rank() { return state().local_rank; }
int local_size() { return state().local_size; }

bool built_with_mpi() {
#ifdef KILN_HAVE_MPI
  return true;
#else
  return false;
#endif
}

Device rank_device() {
  std::string why_not;
  const int gpus = cuda_bridge::compiled_in() ? cuda_bridge::device_count(&why_not) : 0;
  if (gpus == 0) return Device::cpu();
  KILN_CHECK(gpus >= local_size(),
             "distributed: {} ranks on this machine but {} GPUs; NCCL needs one GPU per rank "
             "(run {} ranks here, or set KILN_DEVICE=cpu)",
             local_size(), gpus, gpus);
  return Device::cuda(local_rank());
}

#ifdef KILN_HAVE_MPI

void all_reduce_sum(double* values, std::int64_t count) {
  if (world_size() == 1) return;
  check_mpi(MPI_Allreduce(MPI_IN_PLACE, values, static_cast<int>(count), MPI_DOUBLE, MPI_SUM,
                          MPI_COMM_WORLD),
            "MPI_Allreduce");
}

void all_reduce_sum(float* values, std::int64_t count) {
  if (world_size() == 1) return;
  check_mpi(MPI_Allreduce(MPI_IN_PLACE, values, static_cast<int>(count), MPI_FLOAT, MPI_SUM,
                          MPI_COMM_WORLD),
            "MPI_Allreduce");
}

void broadcast(float* values, std::int64_t count) {
  if (world_size() == 1) return;
  check_mpi(MPI_Bcast(values, static_cast<int>(count), MPI_FLOAT, 0, MPI_COMM_WORLD), "MPI_Bcast");
}

void broadcast(std::string& text) {
  if (world_size() == 1) return;
  std::uint64_t size = text.size();
  check_mpi(MPI_Bcast(&size, 1, MPI_UINT64_T, 0, MPI_COMM_WORLD), "MPI_Bcast");
  text.resize(size);
  check_mpi(MPI_Bcast(text.data(), static_cast<int>(size), MPI_CHAR, 0, MPI_COMM_WORLD),
            "MPI_Bcast");
}

void barrier() {
  if (world_size() > 1) check_mpi(MPI_Barrier(MPI_COMM_WORLD), "MPI_Barrier");
}

#else

void all_reduce_sum(double*, std::int64_t) {}
void all_reduce_sum(float*, std::int64_t) {}
void broadcast(float*, std::int64_t) {}
void broadcast(std::string&) {}
void barrier() {}

#endif

void check_same(const std::string& what, const std::string& text) {
  if (world_size() == 1) return;
  const std::uint64_t mine = fnv1a(text);
  std::string rank0 = std::to_string(mine);
  broadcast(rank0);
  double differing = rank0 == std::to_string(mine) ? 0.0 : 1.0;
  all_reduce_sum(&differing, 1);
  if (differing == 0.0) return;
  fail(
      "distributed: {} of {} rank(s) differ from rank 0 in {} (this is rank {}: hash {:016x}, "
      "rank 0's {:016x}); every rank must run the same model with the same kiln",
      static_cast<int>(differing), world_size(), what, rank(), mine, std::stoull(rank0));
}

void abort_all(const std::string& message, int exit_code) {
  std::fprintf(stderr, "kiln: rank %d: %s\n", rank(), message.c_str());
  std::fflush(stderr);
  std::fflush(stdout);
#ifdef KILN_HAVE_MPI
  if (state().mpi && world_size() > 1) MPI_Abort(MPI_COMM_WORLD, exit_code);
#endif
  std::exit(exit_code);
}

BucketBytes bucket_bytes() { return state().buckets; }
void set_bucket_bytes(const BucketBytes& bytes) {
  KILN_CHECK(bytes.first > 0 && bytes.rest > 0,
             "set_bucket_bytes: sizes must be positive, found "
             "{} and {}",
             bytes.first, bytes.rest);
  state().buckets = bytes;
}

}  // namespace kiln::distributed

namespace kiln::distributed {

bool built_with_nccl() {
#ifdef KILN_HAVE_NCCL
  return true;
#else
  return false;
#endif
}

}  // namespace kiln::distributed
