// What the cuBLAS (cublas.cpp), cuBLASLt (cublaslt_*.cpp) and cuDNN (cudnn_*.cpp) stand-ins
// share: the registry that tells live handles and descriptors from destroyed ones, the failure
// type their checks throw, the check that a data pointer is device memory covering what the call
// reads or writes, and how their work is run or recorded by a stream capture.
//
// Note [Failures]
// ~~~~~~~~~~~~~~~
// Every argument check throws a Failure carrying the library's status, a message and, for a bad
// data pointer, the CUDA error a GPU would raise (cudaErrorIllegalAddress). Each C entry point
// catches it in one place (run_cudnn / run_cublas), which prefixes the call's name, records the
// fault with record_fault (so cudaGetLastError reports it too), keeps the message for the
// library's error text and returns the status. Nothing is thrown across the C API.
#pragma once

#include <cuda_runtime_api.h>

#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <set>
#include <string>
#include <utility>
#include <vector>

namespace kiln::emu {

template <class Status>
struct Failure {
  Status status;
  std::string message;
  cudaError_t fault = cudaSuccess;  // a device fault to record as well (Note [Failures])
};

template <class Status>
void require(bool condition, Status status, std::string message) {
  if (!condition) throw Failure<Status>{status, std::move(message)};
}

// "" when [ptr, ptr + bytes) lies in one device allocation and ptr is aligned to `alignment`;
// otherwise what is wrong, naming `argument`. *fault receives the CUDA error a GPU would raise.
std::string device_range_problem(const char* argument, const void* ptr, std::size_t bytes,
                                 std::size_t alignment, cudaError_t* fault);

// Throws Failure{status} with the fault of device_range_problem when the range is not device
// memory (Note [Failures]).
template <class Status>
void require_device_range(Status status, const char* argument, const void* ptr, std::size_t bytes,
                          std::size_t alignment) {
  cudaError_t fault = cudaSuccess;
  std::string problem = device_range_problem(argument, ptr, bytes, alignment, &fault);
  if (!problem.empty()) throw Failure<Status>{status, std::move(problem), fault};
}

// Records a fault when a redzone was overwritten during `call` (emulator.h: checked after every
// kernel and library call).
void check_redzones_after(const std::string& call);

// A device range a call reads or writes, with the allocation it lay in when the call was made.
struct CheckedRange {
  const char* argument;
  const void* ptr;
  std::size_t bytes;
  std::uint64_t allocation;
};

// `ptr` has passed its checks: remember its allocation (allocation_id in emulator.h).
CheckedRange checked_range(const char* argument, const void* ptr, std::size_t bytes);

// At a replay of the work of `call` from a graph: false, with a fault naming the call and the
// argument, when a range no longer lies in the allocation it had at capture (freed since). Work
// run at the call passes trivially.
bool ranges_still_live(const std::string& call, const std::vector<CheckedRange>& ranges);

// run_or_record (emulator.h) for a library call: "" when `work` was run or recorded, else why the
// handle's stream cannot take work now (the CUDA error is already recorded).
std::string queue_library_work(cudaStream_t stream, const std::string& call,
                               std::function<void()> work);

// Queues the work of `call` on `stream`; throws Failure{status} when the stream cannot take it.
template <class Status>
void queue_or_fail(Status status, cudaStream_t stream, const std::string& call,
                   std::function<void()> work) {
  std::string problem = queue_library_work(stream, call, std::move(work));
  if (!problem.empty()) throw Failure<Status>{status, std::move(problem)};
}

// Live handles or descriptors of one kind, so that a destroyed or never-created one is recognised
// before it is dereferenced. A destroyed object is kept (not freed) for the next kRetired
// destructions, so its address is not handed out again while a stale copy may still be used.
template <class Object>
class ObjectRegistry {
 public:
  Object* create() {
    auto* object = new Object();
    std::lock_guard lock(mutex_);
    live_.insert(object);
    return object;
  }

  // False when `object` is not live.
  bool destroy(Object* object) {
    std::lock_guard lock(mutex_);
    if (live_.erase(object) == 0) return false;
    retired_.push_back(object);
    if (retired_.size() > kRetired) {
      delete retired_.front();
      retired_.pop_front();
    }
    return true;
  }

  bool is_live(const Object* object) {
    std::lock_guard lock(mutex_);
    return live_.count(const_cast<Object*>(object)) == 1;
  }

 private:
  static constexpr std::size_t kRetired = std::size_t{1} << 14;
  std::mutex mutex_;
  std::set<Object*> live_;
  std::deque<Object*> retired_;
};

}  // namespace kiln::emu
