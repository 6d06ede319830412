// Writing a file so that readers see either the old contents or the new, never a part: the new
// contents go to a temp file beside `path`, which is flushed to disk (fsync) and renamed over
// `path`, and the directory is flushed. On any failure the temp file is removed and an existing
// file at `path` is left exactly as it was (a crash or a full disk never destroys it). A process
// killed mid-write leaves its temp file (.<name>.tmp-XXXXXX); the next write of `path` removes it,
// so two processes must not write one path at the same time.
#pragma once

#include <string>
#include <string_view>

#include "kiln/export.h"

namespace kiln {

// Replaces (or creates) `path` with `contents` as above; an Error naming `path` when a step fails.
// A new file gets mode 0644, a replaced one keeps its mode.
KILN_API void write_file_atomically(const std::string& path, std::string_view contents);

}  // namespace kiln
