// Device: where a tensor's bytes live — the CPU or CUDA GPU number N.
#pragma once

#include <cstdint>
#include <string>

#include "kiln/export.h"

namespace kiln {

struct KILN_API Device {
  enum class Kind : unsigned char { cpu, cuda };
  Kind kind = Kind::cpu;
  int index = 0;

  static Device cpu() { return {}; }
  static Device cuda(int index = 0) { return {Kind::cuda, index}; }
  bool is_cpu() const { return kind == Kind::cpu; }
  bool is_cuda() const { return kind == Kind::cuda; }
  std::string str() const;  // "cpu" or "cuda:0"
  bool operator==(const Device&) const = default;
};

// True when kiln was built with CUDA and a usable GPU and driver are present.
KILN_API bool cuda_available();
// True when kiln's CUDA backend runs on its CPU emulation of CUDA (a test build configured with
// -DKILN_CUDA_EMULATION=ON): cuda:0 then computes on the CPU, slowly, with strict checks, and
// cuda_available() is true. Tests use it to size their largest cases down.
KILN_API bool cuda_emulated();
// CUDA when a GPU is usable, else the CPU; KILN_DEVICE=cpu|cuda[:N] overrides.
// The first call reports once (on stderr) which device it picked and why.
KILN_API Device default_device();
// The same choice and why, without the report: the caller says it (the kiln CLI prints it in the
// header of the commands that compute), and default_device() stays silent afterwards.
struct DeviceChoice {
  Device device;
  std::string reason;  // "a GPU is usable", "KILN_DEVICE=cpu", or why no GPU is usable
};
KILN_API DeviceChoice default_device_choice();
// Parses "cpu", "cuda", "cuda:N" or "auto"; asking for CUDA where none is usable is an Error.
KILN_API Device parse_device(const std::string& text);

// How often the host has waited for `device`'s work since the process started: reads of device
// data to the host (to_vector, item, to(cpu)), synchronisation, copies from pinned memory and
// cuDNN's algorithm benchmarks each count one. The CPU counts the same points — where a GPU
// would make the host wait — so a test on the CPU shows what a GPU run would wait for: a
// steady-state training step, nothing.
struct SyncStats {
  std::uint64_t waits = 0;
  // Captured training steps replayed on `device` (a CUDA graph launch each; Note [Captured steps]
  // in src/model/step_graph.cpp). Not waits: a replay is queued like any kernel.
  std::uint64_t graph_replays = 0;
};
KILN_API SyncStats sync_stats(Device device);

// TF32 tensor-core math for CUDA convolutions and matrix products: on by default (as PyTorch does
// for convolutions); off gives full fp32. KILN_TF32=0 sets it off at start. No effect on the CPU.
KILN_API void set_allow_tf32(bool allowed);
KILN_API bool tf32_allowed();

}  // namespace kiln
