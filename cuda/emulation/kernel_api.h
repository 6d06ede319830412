// The device side of kiln's CUDA emulation (KILN_CUDA_EMULATION): force-included into every .cu
// file after cuda/emulation/rewrite_cuda_source.py has turned its launches
//   kernel<<<grid, block, shared_bytes, stream>>>(args...)
// into kiln::emu::launch(...) calls and its `__shared__` declarations into per-block storage. The
// kernels themselves compile unmodified with g++: this header supplies what nvcc would —
// threadIdx / blockIdx / blockDim / gridDim, __syncthreads, warp shuffles and votes, atomics and
// the device math kiln uses. Every emulated CUDA thread runs as a fiber (scheduler.cpp), so a
// barrier or a shuffle is a real meeting point, checked strictly: a barrier reached by part of a
// block, a shuffle whose lanes meet at different call sites or with different masks, a lane that
// reads an exited lane, or a deadlock is reported as a fault of the launch, as an illegal
// address would be on a GPU. See docs/CUDA_EMULATION.md for the whole design.
#pragma once

#ifndef KILN_CUDA_EMULATION
#error "kernel_api.h is the CUDA emulation's device header; build with -DKILN_CUDA_EMULATION=ON"
#endif

// A __shared__ declaration that reaches the compiler was not rewritten (it sits in a header, or
// the rewriter missed its form): fail the build instead of making it per-thread storage.
#undef __shared__
#define __shared__ KILN_EMU_UNREWRITTEN_SHARED_DECLARATION

#include <cuda_runtime_api.h>
#include <math.h>

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

#define KILN_EMU_API __attribute__((visibility("default")))

namespace kiln::emu {

// What kernel code sees of the emulated thread it runs as.
struct ThreadContext {
  uint3 thread_idx{};
  uint3 block_idx{};
  dim3 block_dim;
  dim3 grid_dim;
};

// The running emulated thread; a fault (and a default context) outside a kernel.
KILN_EMU_API const ThreadContext& this_thread();

// __syncthreads(): every thread of the block must reach the same call site.
KILN_EMU_API void syncthreads(const char* file, int line);

enum class WarpOp : unsigned char {
  sync,
  shfl_idx,
  shfl_up,
  shfl_down,
  shfl_xor,
  ballot,
  all,
  any
};

// One warp collective: every lane named in `mask` must arrive at the same call site with the same
// mask. Each lane deposits `bytes` bytes of `value` (at most 16) and its `operand` (source lane,
// delta or lane mask; the predicate for votes) and receives its result in `result`.
KILN_EMU_API void warp_collective(const char* file, int line, WarpOp op, unsigned mask,
                                  const void* value, std::size_t bytes, int operand, int width,
                                  void* result);

// Called where a rewritten `__shared__` declaration stands: the first thread of a block to pass it
// poisons the variable (0xFF bytes: NaN for floats) and counts it against the 48 KiB limit.
KILN_EMU_API void declare_shared(void* address, std::size_t bytes, const char* name,
                                 const char* file, int line);

// Atomics need a device or shared address; anything else is a fault.
KILN_EMU_API void check_atomic_address(const void* address, std::size_t bytes, const char* what);

using ThreadBody = void (*)(void* context);

struct LaunchSite {
  const char* kernel;
  const char* file;
  int line;
};

// A kernel argument that is a pointer (not to a function), by its position.
struct PointerArgument {
  int index;
  const void* pointer;
};

// One launch as the rewritten `<<<...>>>` makes it: the configuration, and the kernel with its
// evaluated arguments in a heap closure that outlives the caller's frame, so that a stream
// capture can record the launch and a graph replay it (Note [Stream capture] in
// stream_capture.cpp).
struct KernelLaunch {
  LaunchSite site;
  dim3 grid;
  dim3 block;
  std::size_t dynamic_shared_bytes = 0;
  std::vector<PointerArgument> pointers;
  std::shared_ptr<void> closure;
  ThreadBody body = nullptr;  // body(closure.get()) runs the kernel as the current thread
};

// Checks the configuration, the stream and the pointer arguments (each must be null or point
// into device memory); a failure becomes the launch's error, as cudaGetLastError reports it on a
// GPU, and invalidates the stream's capture. Then runs the grid — every thread, then the redzone
// check — or records it into the stream's capture; a replay checks again that every pointer
// argument lies in the allocation it had at the launch (kernel_launch.cpp).
KILN_EMU_API void launch_kernel(cudaStream_t stream, KernelLaunch launch);

template <class T>
void note_pointer(std::vector<PointerArgument>& pointers, int index, const T& value) {
  if constexpr (std::is_pointer_v<T> && !std::is_function_v<std::remove_pointer_t<T>>) {
    pointers.push_back({index, static_cast<const void*>(value)});
  }
}

// kernel<<<grid, block, shared, stream>>>(args...) as the rewriter writes it. `call` is a generic
// lambda that calls the kernel, so template arguments are deduced as nvcc deduces them; the
// arguments are evaluated once, on the host, into the launch's closure, and every thread
// receives its own copies.
template <class Call, class... Args>
void launch(const LaunchSite& site, Call call, dim3 grid, dim3 block,
            std::size_t dynamic_shared_bytes, cudaStream_t stream, Args&&... args) {
  using Arguments = std::tuple<std::decay_t<Args>...>;
  using Closure = std::pair<Call, Arguments>;
  auto closure = std::make_shared<Closure>(call, Arguments(std::forward<Args>(args)...));
  KernelLaunch launch{site, grid, block, dynamic_shared_bytes, {}, nullptr, nullptr};
  std::apply(
      [&](const auto&... a) {
        [[maybe_unused]] int index = 0;
        (note_pointer(launch.pointers, index++, a), ...);
      },
      closure->second);
  launch.body = [](void* context) {
    auto& saved = *static_cast<Closure*>(context);
    std::apply([&](auto&... a) { saved.first(a...); }, saved.second);
  };
  launch.closure = std::move(closure);
  launch_kernel(stream, std::move(launch));
}

template <class T>
T collective(const char* file, int line, WarpOp op, unsigned mask, T value, int operand,
             int width) {
  static_assert(std::is_trivially_copyable_v<T> && sizeof(T) <= 16,
                "warp shuffles exchange trivially copyable values of at most 16 bytes");
  T result;
  warp_collective(file, line, op, mask, &value, sizeof(T), operand, width, &result);
  return result;
}

inline int vote(const char* file, int line, WarpOp op, unsigned mask, int predicate) {
  int result = 0;
  warp_collective(file, line, op, mask, nullptr, 0, predicate != 0 ? 1 : 0, 32, &result);
  return result;
}

}  // namespace kiln::emu

// ---- built-in variables and intrinsics
#define threadIdx (::kiln::emu::this_thread().thread_idx)
#define blockIdx (::kiln::emu::this_thread().block_idx)
#define blockDim (::kiln::emu::this_thread().block_dim)
#define gridDim (::kiln::emu::this_thread().grid_dim)
constexpr int warpSize = 32;

#define __syncthreads() ::kiln::emu::syncthreads(__FILE__, __LINE__)
#define __syncwarp(...) ::kiln::emu::syncwarp(__FILE__, __LINE__ __VA_OPT__(, ) __VA_ARGS__)
#define __shfl_sync(mask, value, lane, ...)                                                     \
  ::kiln::emu::collective(__FILE__, __LINE__, ::kiln::emu::WarpOp::shfl_idx, mask, value, lane, \
                          ::kiln::emu::width_or_warp(0 __VA_OPT__(, ) __VA_ARGS__))
#define __shfl_up_sync(mask, value, delta, ...)                                                 \
  ::kiln::emu::collective(__FILE__, __LINE__, ::kiln::emu::WarpOp::shfl_up, mask, value, delta, \
                          ::kiln::emu::width_or_warp(0 __VA_OPT__(, ) __VA_ARGS__))
#define __shfl_down_sync(mask, value, delta, ...)                                                 \
  ::kiln::emu::collective(__FILE__, __LINE__, ::kiln::emu::WarpOp::shfl_down, mask, value, delta, \
                          ::kiln::emu::width_or_warp(0 __VA_OPT__(, ) __VA_ARGS__))
#define __shfl_xor_sync(mask, value, lane_mask, ...)                                      \
  ::kiln::emu::collective(__FILE__, __LINE__, ::kiln::emu::WarpOp::shfl_xor, mask, value, \
                          lane_mask, ::kiln::emu::width_or_warp(0 __VA_OPT__(, ) __VA_ARGS__))
#define __ballot_sync(mask, predicate) \
  static_cast<unsigned>(               \
      ::kiln::emu::vote(__FILE__, __LINE__, ::kiln::emu::WarpOp::ballot, mask, predicate))
#define __all_sync(mask, predicate) \
  ::kiln::emu::vote(__FILE__, __LINE__, ::kiln::emu::WarpOp::all, mask, predicate)
#define __any_sync(mask, predicate) \
  ::kiln::emu::vote(__FILE__, __LINE__, ::kiln::emu::WarpOp::any, mask, predicate)

namespace kiln::emu {
// The optional `width` argument of the shuffles: absent means the whole warp.
constexpr int width_or_warp(int) { return 32; }
constexpr int width_or_warp(int, int width) { return width; }
inline void syncwarp(const char* file, int line, unsigned mask = 0xffffffffu) {
  vote(file, line, WarpOp::sync, mask, 1);
}
}  // namespace kiln::emu

inline void __threadfence() {}
inline void __threadfence_block() {}
template <class T>
T __ldg(const T* address) {
  return *address;
}

// ---- atomics. Emulated threads never run at the same time, so a read-modify-write is atomic.
template <class T>
T atomicAdd(T* address, T value) {
  ::kiln::emu::check_atomic_address(address, sizeof(T), "atomicAdd");
  const T old = *address;
  *address = static_cast<T>(old + value);
  return old;
}
template <class T>
T atomicSub(T* address, T value) {
  ::kiln::emu::check_atomic_address(address, sizeof(T), "atomicSub");
  const T old = *address;
  *address = static_cast<T>(old - value);
  return old;
}
template <class T>
T atomicMax(T* address, T value) {
  ::kiln::emu::check_atomic_address(address, sizeof(T), "atomicMax");
  const T old = *address;
  *address = old < value ? value : old;
  return old;
}
template <class T>
T atomicMin(T* address, T value) {
  ::kiln::emu::check_atomic_address(address, sizeof(T), "atomicMin");
  const T old = *address;
  *address = value < old ? value : old;
  return old;
}
template <class T>
T atomicExch(T* address, T value) {
  ::kiln::emu::check_atomic_address(address, sizeof(T), "atomicExch");
  const T old = *address;
  *address = value;
  return old;
}
template <class T>
T atomicCAS(T* address, T compare, T value) {
  ::kiln::emu::check_atomic_address(address, sizeof(T), "atomicCAS");
  const T old = *address;
  if (old == compare) *address = value;
  return old;
}

// ---- device math that CUDA has and the C library lacks (the rest is <cmath>'s)
inline int min(int a, int b) { return a < b ? a : b; }
inline unsigned min(unsigned a, unsigned b) { return a < b ? a : b; }
inline long min(long a, long b) { return a < b ? a : b; }
inline unsigned long min(unsigned long a, unsigned long b) { return a < b ? a : b; }
inline long long min(long long a, long long b) { return a < b ? a : b; }
inline unsigned long long min(unsigned long long a, unsigned long long b) { return a < b ? a : b; }
inline float min(float a, float b) { return fminf(a, b); }
inline double min(double a, double b) { return fmin(a, b); }
inline int max(int a, int b) { return a > b ? a : b; }
inline unsigned max(unsigned a, unsigned b) { return a > b ? a : b; }
inline long max(long a, long b) { return a > b ? a : b; }
inline unsigned long max(unsigned long a, unsigned long b) { return a > b ? a : b; }
inline long long max(long long a, long long b) { return a > b ? a : b; }
inline unsigned long long max(unsigned long long a, unsigned long long b) { return a > b ? a : b; }
inline float max(float a, float b) { return fmaxf(a, b); }
inline double max(double a, double b) { return fmax(a, b); }
inline float rsqrtf(float x) { return 1.0f / sqrtf(x); }
inline double rsqrt(double x) { return 1.0 / sqrt(x); }
inline float __expf(float x) { return expf(x); }
inline float __logf(float x) { return logf(x); }
inline float __fdividef(float a, float b) { return a / b; }
inline float __saturatef(float x) { return x < 0.0f ? 0.0f : (x > 1.0f ? 1.0f : x); }
