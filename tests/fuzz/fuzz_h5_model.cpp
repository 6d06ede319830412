// libFuzzer target: kiln::load_model and kiln::load_weights on the input as an HDF5 file.
// The body is kiln::fuzz::fuzz_h5_model in fuzz_entries.h (shared with the regression test).
#include <cstddef>
#include <cstdint>

#include "fuzz/fuzz_entries.h"

extern "C" int LLVMFuzzerInitialize(int* /*argc*/, char*** /*argv*/) {
  kiln::fuzz::init_environment();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  kiln::fuzz::fuzz_h5_model(data, size);
  return 0;
}
