// The state of the block being emulated, shared by the scheduler (scheduler.cpp) and the meeting
// points (meeting_points.cpp): its threads, their warps' open collectives, its barrier.
#pragma once

#include <array>
#include <boost/context/detail/fcontext.hpp>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "fibers.h"
#include "kernel_api.h"

namespace kiln::emu {

namespace ctx = boost::context::detail;

constexpr unsigned kWarp = 32;
constexpr std::size_t kMaxStaticShared = 48 * 1024;  // CUDA's shared memory per block

enum class State : unsigned char { not_started, runnable, at_barrier, at_warp, stopped, finished };

struct Thread {
  ThreadContext context;
  unsigned linear = 0;  // x fastest, then y, then z
  State state = State::not_started;
  const char* wait_file = nullptr;  // where it waits
  int wait_line = 0;
  ctx::fcontext_t fiber = nullptr;      // its suspended context
  ctx::fcontext_t scheduler = nullptr;  // where it yields to
  FiberStack stack;
  bool has_stack = false;
  std::array<unsigned char, 16> collective_result{};  // what its last warp collective returned
  // The scheduler's stack, learnt from ASan at the first switch (for the switches back).
  const void* scheduler_bottom = nullptr;
  std::size_t scheduler_size = 0;
};

struct WarpMeeting {
  bool open = false;
  const char* file = nullptr;
  int line = 0;
  WarpOp op = WarpOp::sync;
  unsigned mask = 0;
  int width = 32;
  unsigned arrived = 0;  // lanes
  std::array<std::array<unsigned char, 16>, kWarp> values{};
  std::array<int, kWarp> operands{};
  std::array<std::array<unsigned char, 16>, kWarp> results{};
  std::size_t bytes = 0;
  unsigned finished_lanes = 0;  // lanes of this warp that have exited (kept across meetings)
};

// Everything about the block that is running.
struct Block {
  const LaunchSite* site = nullptr;
  std::vector<Thread> threads;
  std::vector<WarpMeeting> warps;
  unsigned finished = 0;
  unsigned at_barrier = 0;
  const char* barrier_file = nullptr;
  int barrier_line = 0;
  struct SharedVariable {
    const void* address;
    std::size_t bytes;
  };
  std::vector<SharedVariable> shared;  // declared by this block so far
  std::size_t shared_bytes = 0;
  bool faulted = false;
};

// ---- the scheduler's entry points for kernel_launch.cpp

// Whether the calling host thread is running an emulated CUDA thread.
bool inside_kernel();
// Runs every block of a grid whose launch has been checked (launch_kernel), then checks the
// redzones of the device memory. Synchronous; one grid at a time in the process.
void run_grid(const LaunchSite& site, dim3 grid, dim3 block, ThreadBody body, void* context);

// ---- shared by the scheduler and the meeting points

// "file.cu:123" (the file's last path component).
std::string site_text(const char* file, int line);
std::string thread_name(const Thread& t);
std::string block_name(const Block& block);
const char* op_name(WarpOp op);

// Marks the block faulted (the first fault wins) and reports it (record_fault).
void fault_in_block(Block& block, const std::string& message);
// Parks the calling thread at a meeting point until the meeting completes.
void wait_at(Thread& t, State state, const char* file, int line);
// After a fault the thread must not run on: the scheduler abandons the block (Note [Threads as
// fibers] in scheduler.cpp) and never resumes it.
void stop(Thread& t);

// Note [Strict meeting points] in meeting_points.cpp.
void arrive_at_barrier(Block& block, Thread& t, const char* file, int line);
void arrive_at_warp(Block& block, Thread& t, const char* file, int line, WarpOp op, unsigned mask,
                    const void* value, std::size_t bytes, int operand, int width, void* result);
// Called when a thread's kernel returns: exiting while others wait for it is a fault.
void on_thread_finished(Block& block, Thread& t);

}  // namespace kiln::emu
