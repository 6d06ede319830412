// Atomic file replacement (kiln/atomic_file.h) for a writer that needs a path, such as HDF5's.
#pragma once

#include <functional>
#include <string>
#include <string_view>

#include "kiln/atomic_file.h"

namespace kiln {

// Calls `write(temp_path)`, which must create the complete new file at temp_path (the path exists,
// empty, when called; the writer may truncate or replace it) and close it before returning. Then
// commits as above. Exceptions from `write` propagate after the temp file is removed; failures of
// the commit steps are Errors naming `path`. A new file gets mode 0644, a replaced one keeps its
// mode.
void write_file_atomically(const std::string& path,
                           const std::function<void(const std::string& temp_path)>& write);

}  // namespace kiln
