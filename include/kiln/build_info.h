// What this libkiln was built with and what it can use now.
#pragma once

#include <string>

#include "kiln/export.h"
#include "kiln/version.h"

namespace kiln {

// "0.1.0" — the library's version (may differ from the headers' KILN_VERSION_STRING when a
// program runs against another libkiln.so of the same major version).
KILN_API std::string version();

// Several lines: version, compiler, whether CUDA / cuDNN / cuBLAS are compiled in (and their
// versions), the CPU BLAS, and the devices usable now.
KILN_API std::string build_info();

}  // namespace kiln
