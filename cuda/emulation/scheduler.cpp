// Runs emulated CUDA grids: every CUDA thread is a fiber, blocks run one after another, and the
// threads of a block take turns between meeting points (barriers, warp collectives).
//
// Note [Threads as fibers]
// ~~~~~~~~~~~~~~~~~~~~~~~~
// A block's threads are fibers on the launching host thread (Boost.Context's fcontext switch, a
// few nanoseconds; ASan is told about every switch so it follows the stacks). The scheduler runs
// them in phases: each phase resumes every runnable thread once, in the configured order, and a
// thread runs until it finishes or waits — at __syncthreads() until the whole block has arrived,
// at a warp collective until every lane of its mask has. The last thread to arrive completes the
// meeting point and carries on; the others become runnable for the next phase. A phase in which
// nothing could run while some threads still wait is a deadlock, reported with where each thread
// waits. A faulty block is abandoned: its fibers are never resumed again, their stacks simply
// return to the pool (nothing on them needs destroying: kernels hold no resources). Fibers and
// stacks: fibers.h; the meeting points themselves: meeting_points.cpp.
//
// Note [Shared memory]
// ~~~~~~~~~~~~~~~~~~~~
// The rewriter turns `__shared__ T name[N];` into a `static thread_local` variable plus a call to
// declare_shared(). Blocks never overlap on a host thread, so one instance serves each block in
// turn; the first thread of a block to pass the declaration poisons it with 0xFF bytes, so a
// read of shared memory that no thread of this block wrote yields NaN instead of the previous
// block's data. The bytes declared by a block count against CUDA's 48 KiB of static shared
// memory.
#include <fmt/format.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include "block.h"
#include "emulator.h"

namespace kiln::emu {

namespace {

// ---- global state: one kernel runs at a time in the whole process

std::mutex& launch_mutex() {
  static std::mutex m;
  return m;
}

struct Scheduling {
  Order order = Order::forward;
  std::uint64_t seed = 1;
};

Scheduling from_environment() {
  Scheduling s;
  const char* value = std::getenv("KILN_CUDA_EMULATION_ORDER");
  if (value == nullptr || *value == '\0') return s;
  const std::string text(value);
  if (text == "forward") return s;
  if (text == "reverse") {
    s.order = Order::reverse;
    return s;
  }
  if (text.rfind("shuffle", 0) == 0) {
    s.order = Order::shuffle;
    if (text.size() > 8 && text[7] == ':') s.seed = std::strtoull(text.c_str() + 8, nullptr, 10);
    return s;
  }
  std::fprintf(stderr,
               "kiln CUDA emulation: KILN_CUDA_EMULATION_ORDER='%s' is not forward, reverse or "
               "shuffle[:seed]; using forward\n",
               value);
  return s;
}

Scheduling& scheduling() {
  static Scheduling s = from_environment();
  return s;
}

std::atomic<std::uint64_t> launches{0};
thread_local Thread* running = nullptr;  // the emulated thread on this host thread, if any
thread_local Block* current_block = nullptr;
const ThreadContext no_thread{};

void switch_to_thread(Thread& t) {
  running = &t;
  void* fake_stack = nullptr;
  start_switch(&fake_stack, t.stack.bottom, t.stack.size);
  const ctx::transfer_t back = ctx::jump_fcontext(t.fiber, &t);
  finish_switch(fake_stack, nullptr, nullptr);
  running = nullptr;
  t.fiber = back.fctx;  // where to resume it (meaningless once it finished)
}

// Called on the thread's fiber: back to the scheduler until resumed.
void yield_to_scheduler(Thread& t) {
  void* fake_stack = nullptr;
  start_switch(&fake_stack, t.scheduler_bottom, t.scheduler_size);
  const ctx::transfer_t back = ctx::jump_fcontext(t.scheduler, nullptr);
  t.scheduler = back.fctx;
  finish_switch(fake_stack, &t.scheduler_bottom, &t.scheduler_size);
}

struct GridJob {
  const LaunchSite* site;
  ThreadBody body;
  void* context;
};
thread_local const GridJob* current_job = nullptr;

void enter_thread(ctx::transfer_t from) {
  auto& t = *static_cast<Thread*>(from.data);
  t.scheduler = from.fctx;
  finish_switch(nullptr, &t.scheduler_bottom, &t.scheduler_size);
  try {
    current_job->body(current_job->context);
  } catch (...) {
    fault_in_block(*current_block, fmt::format("kernel {} threw a C++ exception on the emulated "
                                               "GPU",
                                               current_job->site->kernel));
  }
  t.state = State::finished;
  on_thread_finished(*current_block, t);
  start_switch(nullptr, t.scheduler_bottom, t.scheduler_size);
  ctx::jump_fcontext(t.scheduler, nullptr);  // never comes back
  std::abort();
}

void start_thread(Thread& t) {
  t.stack = take_fiber_stack();
  t.has_stack = true;
  t.fiber = ctx::make_fcontext(t.stack.top(), t.stack.size, &enter_thread);
  t.state = State::runnable;
}

// ---- running a block

std::vector<unsigned> make_order(std::size_t count, std::mt19937_64& random) {
  std::vector<unsigned> order(count);
  std::iota(order.begin(), order.end(), 0u);
  switch (scheduling().order) {
    case Order::forward: break;
    case Order::reverse: std::reverse(order.begin(), order.end()); break;
    case Order::shuffle: std::shuffle(order.begin(), order.end(), random); break;
  }
  return order;
}

std::string deadlock_report(const Block& block) {
  std::map<std::string, std::vector<unsigned>> waiting;
  for (const Thread& t : block.threads) {
    if (t.state == State::at_barrier) {
      waiting["__syncthreads() at " + site_text(t.wait_file, t.wait_line)].push_back(t.linear);
    } else if (t.state == State::at_warp) {
      waiting["a warp collective at " + site_text(t.wait_file, t.wait_line)].push_back(t.linear);
    }
  }
  std::string text = fmt::format("deadlock in {}: {} of {} threads finished;", block_name(block),
                                 block.finished, block.threads.size());
  for (const auto& [where, who] : waiting) {
    text += fmt::format(" {} wait at {} (threads {}{});", who.size(), where, who.front(),
                        who.size() > 1 ? fmt::format("..{}", who.back()) : std::string());
  }
  return text;
}

void run_block(Block& block, std::mt19937_64& random) {
  std::vector<unsigned> order = make_order(block.threads.size(), random);
  while (block.finished < block.threads.size() && !block.faulted) {
    bool ran = false;
    for (unsigned index : order) {
      Thread& t = block.threads[index];
      if (t.state == State::not_started) start_thread(t);
      if (t.state != State::runnable) continue;
      switch_to_thread(t);
      ran = true;
      if (t.state == State::finished) {  // its stack serves the next thread while still cached
        give_back_fiber_stack(t.stack);
        t.has_stack = false;
      }
      if (block.faulted) break;
    }
    if (!ran && !block.faulted) fault_in_block(block, deadlock_report(block));
    if (scheduling().order == Order::shuffle) order = make_order(block.threads.size(), random);
  }
  for (Thread& t : block.threads) {
    if (t.has_stack) give_back_fiber_stack(t.stack);
    t.has_stack = false;
  }
}

uint3 index_of(std::uint64_t linear, const dim3& extent) {
  uint3 i;
  i.x = static_cast<unsigned>(linear % extent.x);
  i.y = static_cast<unsigned>(linear / extent.x % extent.y);
  i.z = static_cast<unsigned>(linear / (static_cast<std::uint64_t>(extent.x) * extent.y));
  return i;
}

void prepare_block(Block& block, const LaunchSite& site, dim3 grid, dim3 block_dim,
                   std::uint64_t block_linear) {
  const unsigned count = block_dim.x * block_dim.y * block_dim.z;
  block.site = &site;
  block.threads.assign(count, Thread{});
  block.warps.assign((count + kWarp - 1) / kWarp, WarpMeeting{});
  block.finished = 0;
  block.at_barrier = 0;
  block.barrier_file = nullptr;
  block.shared.clear();
  block.shared_bytes = 0;
  block.faulted = false;
  const uint3 block_idx = index_of(block_linear, grid);
  for (unsigned i = 0; i < count; ++i) {
    Thread& t = block.threads[i];
    t.linear = i;
    t.context.thread_idx = index_of(i, block_dim);
    t.context.block_idx = block_idx;
    t.context.block_dim = block_dim;
    t.context.grid_dim = grid;
  }
}

}  // namespace

// ---- shared with the meeting points (block.h)

std::string site_text(const char* file, int line) {
  const char* slash = std::strrchr(file, '/');
  return fmt::format("{}:{}", slash != nullptr ? slash + 1 : file, line);
}

std::string thread_name(const Thread& t) {
  const uint3& i = t.context.thread_idx;
  return fmt::format("thread ({},{},{})", i.x, i.y, i.z);
}

std::string block_name(const Block& block) {
  const uint3& b = block.threads.front().context.block_idx;
  return fmt::format("block ({},{},{}) of kernel {} (launched at {})", b.x, b.y, b.z,
                     block.site->kernel, site_text(block.site->file, block.site->line));
}

void fault_in_block(Block& block, const std::string& message) {
  if (block.faulted) return;
  block.faulted = true;
  record_fault(cudaErrorLaunchFailure, message);
}

void wait_at(Thread& t, State state, const char* file, int line) {
  t.state = state;
  t.wait_file = file;
  t.wait_line = line;
  yield_to_scheduler(t);
}

void stop(Thread& t) {
  t.state = State::stopped;
  yield_to_scheduler(t);
}

// ---- the device-side API (kernel_api.h)

const ThreadContext& this_thread() {
  if (running == nullptr) {
    record_fault(cudaErrorLaunchFailure,
                 "threadIdx / blockIdx / blockDim / gridDim read outside a kernel");
    return no_thread;
  }
  return running->context;
}

void syncthreads(const char* file, int line) {
  if (running == nullptr || current_block == nullptr) {
    record_fault(
        cudaErrorLaunchFailure,
        fmt::format("__syncthreads() called outside a kernel at {}", site_text(file, line)));
    return;
  }
  arrive_at_barrier(*current_block, *running, file, line);
}

void warp_collective(const char* file, int line, WarpOp op, unsigned mask, const void* value,
                     std::size_t bytes, int operand, int width, void* result) {
  if (running == nullptr || current_block == nullptr) {
    record_fault(cudaErrorLaunchFailure, fmt::format("{} called outside a kernel at {}",
                                                     op_name(op), site_text(file, line)));
    if (result != nullptr && bytes > 0) std::memcpy(result, value, bytes);
    return;
  }
  arrive_at_warp(*current_block, *running, file, line, op, mask, value, bytes, operand, width,
                 result);
}

void declare_shared(void* address, std::size_t bytes, const char* name, const char* file,
                    int line) {
  Block* block = current_block;
  if (block == nullptr) return;
  for (const Block::SharedVariable& seen : block->shared) {
    if (seen.address == address) return;
  }
  block->shared.push_back({address, bytes});
  std::memset(address, 0xFF, bytes);
  block->shared_bytes += bytes;
  if (block->shared_bytes > kMaxStaticShared) {
    fault_in_block(
        *block, fmt::format("__shared__ {} at {} brings the static shared memory of {} "
                            "to {} bytes, over CUDA's 48 KiB",
                            name, site_text(file, line), block_name(*block), block->shared_bytes));
  }
}

void check_atomic_address(const void* address, std::size_t bytes, const char* what) {
  if (is_device_range(address, bytes)) return;
  Block* block = current_block;
  if (block != nullptr) {
    const auto* at = static_cast<const char*>(address);
    for (const Block::SharedVariable& seen : block->shared) {
      const auto* first = static_cast<const char*>(seen.address);
      if (at >= first && at + bytes <= first + seen.bytes) return;
    }
  }
  const std::string message = fmt::format("{} on {}, which is neither device nor shared memory",
                                          what, describe_pointer(address));
  if (block != nullptr && running != nullptr) {
    fault_in_block(*block, message);
    stop(*running);
  } else {
    record_fault(cudaErrorIllegalAddress, message);
  }
}

bool inside_kernel() { return running != nullptr; }

void run_grid(const LaunchSite& site, dim3 grid, dim3 block_dim, ThreadBody body, void* context) {
  if (running != nullptr) {
    record_fault(cudaErrorLaunchFailure,
                 fmt::format("kernel {} launched from device code (dynamic parallelism is not "
                             "emulated)",
                             site.kernel));
    return;
  }
  std::lock_guard lock(launch_mutex());
  ++launches;
  const GridJob job{&site, body, context};
  current_job = &job;
  Block block;
  current_block = &block;
  std::mt19937_64 random(scheduling().seed);
  const std::uint64_t blocks = static_cast<std::uint64_t>(grid.x) * grid.y * grid.z;
  std::vector<std::uint64_t> order;
  if (scheduling().order == Order::shuffle) {
    order.resize(blocks);
    std::iota(order.begin(), order.end(), std::uint64_t{0});
    std::shuffle(order.begin(), order.end(), random);
  }
  for (std::uint64_t i = 0; i < blocks; ++i) {
    std::uint64_t b = i;
    if (scheduling().order == Order::reverse) b = blocks - 1 - i;
    if (scheduling().order == Order::shuffle) b = order[i];
    prepare_block(block, site, grid, block_dim, b);
    run_block(block, random);
    if (block.faulted) break;
  }
  current_block = nullptr;
  current_job = nullptr;
  const std::string corrupted = check_redzones();
  if (!corrupted.empty()) {
    record_fault(cudaErrorIllegalAddress,
                 fmt::format("after kernel {} (launched at {}): {}", site.kernel,
                             site_text(site.file, site.line), corrupted));
  }
}

void set_order(Order order, std::uint64_t seed) {
  std::lock_guard lock(launch_mutex());
  scheduling().order = order;
  scheduling().seed = seed;
}

Order order() { return scheduling().order; }

std::uint64_t kernels_launched() { return launches.load(); }

}  // namespace kiln::emu
