// The emulated GPU's memory (see emulator.h): host memory handed out by cudaMalloc, with poison,
// redzones and a quarantine for freed blocks.
//
// Note [Redzones]
// ~~~~~~~~~~~~~~~
// Each allocation is carved from a host block of kRedzone + bytes (rounded up to 256) + kRedzone
// bytes: the redzones hold a known pattern, checked after every kernel and library call and at
// cudaFree, so a kernel that writes past either end of its buffer is reported by the launch that
// did it, down to the first byte past the requested size (reads past the end are not seen).
// Under AddressSanitizer the memory is
// exact-size instead (no redzones of ours), and ASan reports every out-of-bounds read and write,
// and every use after free, at the faulting instruction.
#include <sanitizer/asan_interface.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <map>
#include <mutex>
#include <string>

#include "emulator.h"

namespace kiln::emu {

namespace {

constexpr unsigned char kPoison = 0xFF;  // fresh device memory: NaN for f32 / f64
constexpr unsigned char kRedzoneByte = 0xA5;
constexpr std::size_t kQuarantineBytes = std::size_t{256} << 20;

#if defined(KILN_EMU_ASAN)
constexpr std::size_t kRedzone = 0;
#else
constexpr std::size_t kRedzone = 256;  // one alignment unit, so the user pointer stays aligned
#endif

struct Allocation {
  std::uint64_t id = 0;           // unique over the process (allocation_id)
  unsigned char* host = nullptr;  // what malloc returned
  std::size_t bytes = 0;          // what cudaMalloc was asked for
  std::size_t padded = 0;         // bytes rounded up to kDeviceAlignment
};

struct Memory {
  std::mutex mutex;
  std::map<std::uintptr_t, Allocation> live;  // by user address
  std::deque<Allocation> quarantine;
  std::size_t quarantined = 0;
  std::size_t in_use = 0;
  std::size_t capacity = 0;
  std::uint64_t allocations = 0;  // made so far: the next id
};

std::size_t capacity_from_environment() {
  const char* value = std::getenv("KILN_CUDA_EMULATION_MEMORY");
  if (value != nullptr && *value != '\0') {
    char* end = nullptr;
    const unsigned long long bytes = std::strtoull(value, &end, 10);
    if (end != value && bytes > 0) return static_cast<std::size_t>(bytes);
    std::fprintf(stderr,
                 "kiln CUDA emulation: KILN_CUDA_EMULATION_MEMORY='%s' is not a byte count; "
                 "using 4 GiB\n",
                 value);
  }
  return std::size_t{4} << 30;
}

Memory& memory() {
  static Memory* m = [] {
    auto* created = new Memory;  // never destroyed: tensors may be freed during static teardown
    created->capacity = capacity_from_environment();
    return created;
  }();
  return *m;
}

unsigned char* user_pointer(const Allocation& a) { return a.host + kRedzone; }

std::size_t round_up(std::size_t bytes) {
  return (bytes + kDeviceAlignment - 1) / kDeviceAlignment * kDeviceAlignment;
}

// The live allocation holding `ptr` in [start, start + bytes] (one past the end included, as a
// pointer to an empty range may point there), or nullptr. Caller holds the mutex.
const Allocation* find(Memory& m, const void* ptr) {
  const auto address = reinterpret_cast<std::uintptr_t>(ptr);
  auto it = m.live.upper_bound(address);
  if (it == m.live.begin()) return nullptr;
  --it;
  const Allocation& a = it->second;
  return address <= it->first + a.bytes ? &a : nullptr;
}

std::string redzone_damage(const Allocation& a) {
  if (kRedzone == 0) return "";
  for (std::size_t i = 0; i < kRedzone; ++i) {
    if (a.host[i] != kRedzoneByte) {
      return "a write " + std::to_string(kRedzone - i) + " byte(s) before the start of a " +
             std::to_string(a.bytes) + "-byte device allocation";
    }
  }
  const unsigned char* tail = user_pointer(a) + a.bytes;
  for (std::size_t i = 0; i < a.padded - a.bytes + kRedzone; ++i) {
    if (tail[i] != kRedzoneByte) {
      return "a write at byte " + std::to_string(a.bytes + i) + ", past the end of a " +
             std::to_string(a.bytes) + "-byte device allocation";
    }
  }
  return "";
}

// Frees the oldest quarantined blocks until the quarantine fits its budget.
[[maybe_unused]] void trim_quarantine(Memory& m) {  // unused under ASan
  while (m.quarantined > kQuarantineBytes && !m.quarantine.empty()) {
    m.quarantined -= m.quarantine.front().padded;
    std::free(m.quarantine.front().host);
    m.quarantine.pop_front();
  }
}

}  // namespace

void* device_allocate(std::size_t bytes) {
  Memory& m = memory();
  std::lock_guard lock(m.mutex);
  const std::size_t padded = round_up(bytes == 0 ? 1 : bytes);
  if (padded > m.capacity || m.in_use + padded > m.capacity) return nullptr;
#if defined(KILN_EMU_ASAN)
  const std::size_t host_bytes = bytes == 0 ? 1 : bytes;  // exact: ASan guards the ends
#else
  const std::size_t host_bytes = kRedzone + padded + kRedzone;
#endif
  void* host = nullptr;
  if (posix_memalign(&host, kDeviceAlignment, host_bytes) != 0 || host == nullptr) return nullptr;
  Allocation a;
  a.id = ++m.allocations;
  a.host = static_cast<unsigned char*>(host);
  a.bytes = bytes;
  a.padded = padded;
  std::memset(a.host, kRedzoneByte, host_bytes);
  std::memset(user_pointer(a), kPoison, kRedzone == 0 ? host_bytes : bytes);
  m.live[reinterpret_cast<std::uintptr_t>(user_pointer(a))] = a;
  m.in_use += padded;
  return user_pointer(a);
}

bool device_free(void* ptr) {
  Memory& m = memory();
  std::string damage;
  {
    std::lock_guard lock(m.mutex);
    auto it = m.live.find(reinterpret_cast<std::uintptr_t>(ptr));
    if (it == m.live.end()) return false;
    Allocation a = it->second;
    m.live.erase(it);
    m.in_use -= a.padded;
    damage = redzone_damage(a);
#if defined(KILN_EMU_ASAN)
    std::free(a.host);  // ASan's own quarantine catches later uses
#else
    std::memset(user_pointer(a), kPoison, a.bytes);  // later reads give NaN
    m.quarantine.push_back(a);
    m.quarantined += a.padded;
    trim_quarantine(m);
#endif
  }
  if (!damage.empty()) record_fault(cudaErrorIllegalAddress, "at cudaFree: " + damage);
  return true;
}

bool is_device_range(const void* ptr, std::size_t bytes) {
  if (ptr == nullptr) return false;
  Memory& m = memory();
  std::lock_guard lock(m.mutex);
  const Allocation* a = find(m, ptr);
  if (a == nullptr) return false;
  const std::size_t offset =
      static_cast<std::size_t>(static_cast<const unsigned char*>(ptr) - user_pointer(*a));
  return offset <= a->bytes && bytes <= a->bytes - offset;
}

std::uint64_t allocation_id(const void* ptr) {
  if (ptr == nullptr) return 0;
  Memory& m = memory();
  std::lock_guard lock(m.mutex);
  const Allocation* a = find(m, ptr);
  return a != nullptr ? a->id : 0;
}

bool is_device_pointer(const void* ptr) {
  if (ptr == nullptr) return false;
  Memory& m = memory();
  std::lock_guard lock(m.mutex);
  return find(m, ptr) != nullptr;
}

std::string check_redzones() {
  Memory& m = memory();
  std::lock_guard lock(m.mutex);
  for (const auto& [address, a] : m.live) {
    const std::string damage = redzone_damage(a);
    if (!damage.empty()) {
      char where[32];
      std::snprintf(where, sizeof(where), "%#zx", static_cast<std::size_t>(address));
      return damage + " at " + where + " (Note [Redzones] in device_memory.cpp)";
    }
  }
  return "";
}

std::size_t device_capacity() { return memory().capacity; }

std::size_t device_bytes_in_use() {
  Memory& m = memory();
  std::lock_guard lock(m.mutex);
  return m.in_use;
}

std::string describe_pointer(const void* ptr) {
  char text[32];
  std::snprintf(text, sizeof(text), "%p", ptr);
  if (ptr == nullptr) return "a null pointer";
  Memory& m = memory();
  std::lock_guard lock(m.mutex);
  const Allocation* a = find(m, ptr);
  if (a == nullptr) return std::string("host pointer ") + text;
  const auto offset = static_cast<const unsigned char*>(ptr) - user_pointer(*a);
  return std::string("device pointer ") + text + " (offset " + std::to_string(offset) + " in a " +
         std::to_string(a->bytes) + "-byte allocation)";
}

float round_to_tf32(float value) {
  std::uint32_t bits = 0;
  std::memcpy(&bits, &value, sizeof(bits));
  if ((bits & 0x7F800000u) == 0x7F800000u) return value;  // inf and NaN stay as they are
  bits += 0x1000u;                                        // half of the 13 dropped bits: ties away
  bits &= 0xFFFFE000u;
  float rounded = 0.0f;
  std::memcpy(&rounded, &bits, sizeof(rounded));
  return rounded;
}

}  // namespace kiln::emu
