// Atomic file replacement: the new contents go to a temp file in the destination's directory,
// which is fsynced and renamed over the destination, and the directory is fsynced. A failure at
// any step removes the temp file and leaves an existing destination exactly as it was, so a crash
// or a full disk never destroys the previous checkpoint. A process killed mid-write (SIGKILL) leaves
// its temp file (.<name>.tmp-XXXXXX) behind; the next successful write of the same path removes
// it, so two processes must not write one path at the same time.
#pragma once

#include <functional>
#include <string>
#include <string_view>

#include "kiln/export.h"

namespace kiln {

// Calls `write(temp_path)`, which must create the complete new file at temp_path (the path exists,
// empty, when called; the writer may truncate or replace it) and close it before returning. Then
// commits as above. Exceptions from `write` propagate after the temp file is removed; failures of
// the commit steps are Errors naming `path`. A new file gets mode 0644, a replaced one keeps its
// mode.
KILN_API void write_file_atomically(const std::string& path,
                                    const std::function<void(const std::string& temp_path)>& write);

// The same for a file whose contents are known: CSV logs, JSON metrics.
KILN_API void write_file_atomically(const std::string& path, std::string_view contents);

}  // namespace kiln
