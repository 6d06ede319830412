// Barriers and warp collectives of the emulated block (block.h): who has arrived, what each lane
// receives, and what makes a meeting point a fault.
//
// Note [Strict meeting points]
// ~~~~~~~~~~~~~~~~~~~~~~~~~~~~
// CUDA calls a barrier that only part of a block reaches undefined behaviour (a hang or a silent
// wrong answer on real hardware, depending on the GPU generation). Here it is a fault: a thread
// that arrives at a barrier after another thread of the block has exited, or at a different
// __syncthreads() than the one the others wait at, ends the launch with a message naming both.
// Warp collectives are held to the same rule per warp: every lane of the mask must exist, must
// not have exited, and must arrive at the same call site with the same mask and width; a lane
// that reads a lane outside the mask is a fault too.
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <cstring>
#include <vector>

#include "block.h"

namespace kiln::emu {

namespace {

std::string hex(unsigned value) { return fmt::format("{:#010x}", value); }

const Thread* first_finished(const Block& block) {
  for (const Thread& t : block.threads) {
    if (t.state == State::finished) return &t;
  }
  return nullptr;
}

void release_barrier(Block& block) {
  for (Thread& t : block.threads) {
    if (t.state == State::at_barrier) t.state = State::runnable;
  }
  block.at_barrier = 0;
  block.barrier_file = nullptr;
}

unsigned warp_lanes(const Block& block, unsigned warp) {
  const auto count = static_cast<unsigned>(block.threads.size());
  const unsigned first = warp * kWarp;
  const unsigned lanes = std::min(kWarp, count - first);
  return lanes == kWarp ? 0xffffffffu : ((1u << lanes) - 1u);
}

int source_lane(WarpOp op, int lane, int operand, int width) {
  const int segment = lane / width * width;
  switch (op) {
    case WarpOp::shfl_idx: return segment + ((operand % width) + width) % width;
    case WarpOp::shfl_up: return lane - segment >= operand ? lane - operand : -1;
    case WarpOp::shfl_down: return lane - segment + operand < width ? lane + operand : -1;
    case WarpOp::shfl_xor: {
      const int other = lane ^ operand;
      return other >= segment && other < segment + width ? other : -1;
    }
    default: return -1;
  }
}

void complete_warp(Block& block, unsigned warp, WarpMeeting& m) {
  const bool shuffle = m.op == WarpOp::shfl_idx || m.op == WarpOp::shfl_up ||
                       m.op == WarpOp::shfl_down || m.op == WarpOp::shfl_xor;
  unsigned ballot = 0;
  for (unsigned lane = 0; lane < kWarp; ++lane) {
    if ((m.mask >> lane & 1u) != 0 && m.operands[lane] != 0) ballot |= 1u << lane;
  }
  for (unsigned lane = 0; lane < kWarp; ++lane) {
    if ((m.mask >> lane & 1u) == 0) continue;
    if (shuffle) {
      const int from = source_lane(m.op, static_cast<int>(lane), m.operands[lane], m.width);
      const unsigned source = from < 0 ? lane : static_cast<unsigned>(from);
      if ((m.mask >> source & 1u) == 0) {
        fault_in_block(block, fmt::format("{} at {}: lane {} of warp {} reads lane {}, which is "
                                          "not in the mask {} ({})",
                                          op_name(m.op), site_text(m.file, m.line), lane, warp,
                                          source, hex(m.mask), block_name(block)));
        return;
      }
      m.results[lane] = m.values[source];
    } else {
      int value = 0;
      if (m.op == WarpOp::ballot) {
        std::memcpy(&value, &ballot, sizeof(value));
      } else if (m.op == WarpOp::all) {
        value = ballot == m.mask ? 1 : 0;
      } else if (m.op == WarpOp::any) {
        value = ballot != 0 ? 1 : 0;
      }
      std::memcpy(m.results[lane].data(), &value, sizeof(value));
    }
  }
  for (unsigned lane = 0; lane < kWarp; ++lane) {
    if ((m.mask >> lane & 1u) == 0) continue;
    Thread& t = block.threads[warp * kWarp + lane];
    t.collective_result = m.results[lane];
    if (t.state == State::at_warp) t.state = State::runnable;
  }
  m.open = false;
}

std::string lane_list(unsigned bits) {
  std::vector<unsigned> lanes;
  for (unsigned lane = 0; lane < kWarp; ++lane) {
    if ((bits >> lane & 1u) != 0) lanes.push_back(lane);
  }
  return fmt::format("{}", fmt::join(lanes, ","));
}

// What is wrong with this arrival at a warp collective (Note [Strict meeting points]).
std::string warp_problem(const Block& block, const Thread& t, const char* file, int line, WarpOp op,
                         unsigned mask, int width) {
  const unsigned warp = t.linear / kWarp;
  const unsigned lane = t.linear % kWarp;
  const WarpMeeting& m = block.warps[warp];
  const unsigned exists = warp_lanes(block, warp);
  const std::string here = fmt::format("{} at {}", op_name(op), site_text(file, line));
  const std::string who = fmt::format("lane {} of warp {} in {}", lane, warp, block_name(block));
  std::string problem;
  if ((mask >> lane & 1u) == 0) {
    problem =
        fmt::format("{}: {} calls it with mask {}, which leaves it out", here, who, hex(mask));
  } else if ((mask & ~exists) != 0) {
    problem = fmt::format(
        "{}: the mask {} names lanes {} of warp {}, which do not exist (the "
        "block has {} threads; {})",
        here, hex(mask), lane_list(mask & ~exists), warp, block.threads.size(), block_name(block));
  } else if (width < 1 || width > 32 || (width & (width - 1)) != 0) {
    problem = fmt::format("{}: width {} is not a power of two up to 32", here, width);
  } else if (m.open && (m.line != line || std::strcmp(m.file, file) != 0 || m.op != op ||
                        m.mask != mask || m.width != width)) {
    problem = fmt::format(
        "{} with mask {}: {} arrives while lanes {} wait at {} at {} with mask "
        "{}: a warp collective must be met at one call site with one mask "
        "(Note [Strict meeting points])",
        here, hex(mask), who, lane_list(m.arrived), op_name(m.op), site_text(m.file, m.line),
        hex(m.mask));
  } else {
    for (unsigned other = 0; other < kWarp && problem.empty(); ++other) {
      if ((mask >> other & 1u) == 0) continue;
      const Thread& peer = block.threads[warp * kWarp + other];
      if (peer.state == State::finished) {
        problem = fmt::format("{}: {} waits for lane {}, which has exited (mask {})", here, who,
                              other, hex(mask));
      }
    }
  }
  return problem;
}

}  // namespace

const char* op_name(WarpOp op) {
  switch (op) {
    case WarpOp::sync: return "__syncwarp";
    case WarpOp::shfl_idx: return "__shfl_sync";
    case WarpOp::shfl_up: return "__shfl_up_sync";
    case WarpOp::shfl_down: return "__shfl_down_sync";
    case WarpOp::shfl_xor: return "__shfl_xor_sync";
    case WarpOp::ballot: return "__ballot_sync";
    case WarpOp::all: return "__all_sync";
    case WarpOp::any: return "__any_sync";
  }
  return "warp collective";
}

// The lane whose value `lane` receives, or -1 for its own value (CUDA's out-of-range rule).

void arrive_at_barrier(Block& block, Thread& t, const char* file, int line) {
  if (block.finished > 0) {
    const Thread* gone = first_finished(block);
    fault_in_block(block, fmt::format("__syncthreads() at {} was reached by {} of {} after {} had "
                                      "exited: a barrier must be reached by every thread of the "
                                      "block (Note [Strict meeting points])",
                                      site_text(file, line), thread_name(t), block_name(block),
                                      thread_name(*gone)));
    stop(t);
    return;
  }
  if (block.at_barrier > 0 &&
      (block.barrier_line != line || std::strcmp(block.barrier_file, file) != 0)) {
    fault_in_block(block, fmt::format("__syncthreads() at {} was reached by {} of {} while other "
                                      "threads wait at __syncthreads() at {}: divergent barriers "
                                      "(Note [Strict meeting points])",
                                      site_text(file, line), thread_name(t), block_name(block),
                                      site_text(block.barrier_file, block.barrier_line)));
    stop(t);
    return;
  }
  block.barrier_file = file;
  block.barrier_line = line;
  ++block.at_barrier;
  if (block.at_barrier == block.threads.size()) {
    release_barrier(block);  // the last one to arrive carries on
    return;
  }
  wait_at(t, State::at_barrier, file, line);
}

void arrive_at_warp(Block& block, Thread& t, const char* file, int line, WarpOp op, unsigned mask,
                    const void* value, std::size_t bytes, int operand, int width, void* result) {
  const unsigned warp = t.linear / kWarp;
  const unsigned lane = t.linear % kWarp;
  WarpMeeting& m = block.warps[warp];
  const unsigned exists = warp_lanes(block, warp);
  const bool mismatch = m.open && (m.line != line || std::strcmp(m.file, file) != 0 || m.op != op ||
                                   m.mask != mask || m.width != width);
  const bool bad_width = width < 1 || width > 32 || (width & (width - 1)) != 0;
  if ((mask >> lane & 1u) == 0 || (mask & ~exists) != 0 || bad_width || mismatch ||
      (mask & m.finished_lanes) != 0) {
    fault_in_block(block, warp_problem(block, t, file, line, op, mask, width));
    stop(t);
    return;
  }
  if (!m.open) {
    const unsigned finished_lanes = m.finished_lanes;
    m = WarpMeeting{};
    m.finished_lanes = finished_lanes;
    m.open = true;
    m.file = file;
    m.line = line;
    m.op = op;
    m.mask = mask;
    m.width = width;
    m.bytes = bytes;
  }
  if (bytes > 0) std::memcpy(m.values[lane].data(), value, bytes);
  m.operands[lane] = operand;
  m.arrived |= 1u << lane;
  if (m.arrived == mask) {
    complete_warp(block, warp, m);
  } else {
    wait_at(t, State::at_warp, file, line);
  }
  if (block.faulted) stop(t);
  std::memcpy(result, t.collective_result.data(), bytes > 0 ? bytes : sizeof(int));
}

void on_thread_finished(Block& block, Thread& t) {
  ++block.finished;
  if (block.at_barrier > 0) {
    fault_in_block(block, fmt::format("{} of {} exited while other threads wait at "
                                      "__syncthreads() at {} (Note [Strict meeting points])",
                                      thread_name(t), block_name(block),
                                      site_text(block.barrier_file, block.barrier_line)));
    return;
  }
  const unsigned warp = t.linear / kWarp;
  WarpMeeting& m = block.warps[warp];
  m.finished_lanes |= 1u << (t.linear % kWarp);
  if (m.open && (m.mask >> (t.linear % kWarp) & 1u) != 0) {
    fault_in_block(block,
                   fmt::format("lane {} of warp {} in {} exited while lanes {} wait for it "
                               "at {} at {}",
                               t.linear % kWarp, warp, block_name(block), lane_list(m.arrived),
                               op_name(m.op), site_text(m.file, m.line)));
  }
}

}  // namespace kiln::emu
