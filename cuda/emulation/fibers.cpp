// Fiber stacks and ASan-annotated switches (see fibers.h).
#include "fibers.h"

#include <sanitizer/asan_interface.h>
#include <sanitizer/common_interface_defs.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <vector>

namespace kiln::emu {

namespace {

#if defined(KILN_EMU_ASAN)
constexpr std::size_t kStackBytes = 256 * 1024;
#else
constexpr std::size_t kStackBytes = 64 * 1024;
#endif

struct StackPool {
  std::mutex mutex;
  std::vector<FiberStack> free;
};

StackPool& pool() {
  static auto* created = new StackPool;  // never destroyed: stacks live as long as the process
  return *created;
}

FiberStack map_stack() {
  const auto page = static_cast<std::size_t>(sysconf(_SC_PAGESIZE));
  void* memory =
      mmap(nullptr, kStackBytes + page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (memory == MAP_FAILED) {
    std::fprintf(stderr, "kiln CUDA emulation: cannot map a fiber stack\n");
    std::abort();
  }
  mprotect(memory, page, PROT_NONE);  // an overflow hits the guard page
  return FiberStack{static_cast<char*>(memory) + page, kStackBytes};
}

}  // namespace

FiberStack take_fiber_stack() {
  StackPool& p = pool();
  {
    std::lock_guard lock(p.mutex);
    if (!p.free.empty()) {
      const FiberStack stack = p.free.back();
      p.free.pop_back();
      return stack;
    }
  }
  return map_stack();
}

void give_back_fiber_stack(const FiberStack& stack) {
#if defined(KILN_EMU_ASAN)
  // An abandoned or finished fiber leaves poisoned frames behind; the next one starts clean.
  __asan_unpoison_memory_region(stack.bottom, stack.size);
#endif
  StackPool& p = pool();
  std::lock_guard lock(p.mutex);
  p.free.push_back(stack);
}

#if defined(KILN_EMU_ASAN)
void start_switch(void** fake_stack, const void* bottom, std::size_t size) {
  __sanitizer_start_switch_fiber(fake_stack, bottom, size);
}
void finish_switch(void* fake_stack, const void** bottom, std::size_t* size) {
  __sanitizer_finish_switch_fiber(fake_stack, bottom, size);
}
#else
void start_switch(void**, const void*, std::size_t) {}
void finish_switch(void*, const void**, std::size_t*) {}
#endif

}  // namespace kiln::emu
