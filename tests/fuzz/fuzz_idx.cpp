// libFuzzer target: kiln::read_idx on the input as a raw IDX file and on a gzip-compressed copy
// of it.
// The body is kiln::fuzz::fuzz_idx in fuzz_entries.h (shared with the regression test).
#include <cstddef>
#include <cstdint>

#include "fuzz/fuzz_entries.h"

extern "C" int LLVMFuzzerInitialize(int* /*argc*/, char*** /*argv*/) {
  kiln::fuzz::init_environment();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  kiln::fuzz::fuzz_idx(data, size);
  return 0;
}
