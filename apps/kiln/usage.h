// Usage errors of the kiln CLI: one line "kiln: …" and exit status 2 (runtime errors exit 1),
// validators that name the allowed range, the nearest name for a misspelt one, and the check of
// an output path that runs before any work.
#pragma once

#include <CLI/CLI.hpp>

#include <cstdint>
#include <string>
#include <vector>

namespace kiln::cli {

inline constexpr int kExitRuntimeError = 1;
inline constexpr int kExitUsageError = 2;

// Accepts a whole number in lo..hi; otherwise CLI11 reports "--flag: must be a whole number
// from lo to hi, found 'text'".
CLI::Validator whole_number(std::int64_t lo, std::int64_t hi);

// Prints "kiln: <message>" on stderr and returns kExitUsageError.
int usage_error(const std::string& message);

// The name in `names` closest to `word` (edit distance), or "" when none is close.
std::string nearest_name(const std::string& word, const std::vector<std::string>& names);

// Error (kiln::Error) unless `path` ends in one of `extensions` (lower case, with the dot; any
// case is accepted), its directory exists and is writable, and it is not a directory.
void check_output_path(const std::string& path, const std::vector<std::string>& extensions);

}  // namespace kiln::cli
