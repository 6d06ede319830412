// libFuzzer target: kiln::read_image on the input as a .jpg file (seeded with JPEG files).
// The body is kiln::fuzz::fuzz_jpeg in fuzz_entries.h (shared with the regression test).
#include <cstddef>
#include <cstdint>

#include "fuzz/fuzz_entries.h"

extern "C" int LLVMFuzzerInitialize(int* /*argc*/, char*** /*argv*/) {
  kiln::fuzz::init_environment();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  kiln::fuzz::fuzz_jpeg(data, size);
  return 0;
}
