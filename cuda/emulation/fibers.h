// Fiber stacks and switches for the emulation's scheduler (Note [Threads as fibers] in
// scheduler.cpp): stacks mmap'd once with a guard page below and reused for every emulated
// thread, and the two halves of a switch that tell AddressSanitizer which stack runs next.
#pragma once

#include <cstddef>

#include "emulator.h"

namespace kiln::emu {

struct FiberStack {
  void* bottom = nullptr;  // lowest usable address
  std::size_t size = 0;
  void* top() const { return static_cast<char*>(bottom) + size; }
};

// A stack from the pool (new ones are mapped on demand; a failed mapping aborts: there is no
// way to run the kernel without one).
FiberStack take_fiber_stack();
// Returns a stack; under ASan its shadow is cleaned for the next fiber.
void give_back_fiber_stack(const FiberStack& stack);

// Around every fcontext jump: start_switch before (with the stack being switched to; a null
// fake_stack when the current fiber is finishing for good), finish_switch after (it learns the
// stack switched from). No-ops without ASan.
void start_switch(void** fake_stack, const void* bottom, std::size_t size);
void finish_switch(void* fake_stack, const void** bottom, std::size_t* size);

}  // namespace kiln::emu
