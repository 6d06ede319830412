// Usage errors, range validators, nearest names and output-path checks for the kiln CLI.
#include "usage.h"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <filesystem>

#include "kiln/error.h"

namespace kiln::cli {

CLI::Validator whole_number(std::int64_t lo, std::int64_t hi) {
  return CLI::Validator(
      [lo, hi](std::string& text) -> std::string {
        std::int64_t value = 0;
        std::size_t used = 0;
        try {
          value = std::stoll(text, &used);
        } catch (const std::exception&) {
          used = 0;
        }
        if (used == text.size() && used > 0 && value >= lo && value <= hi) return {};
        return fmt::format("must be a whole number from {} to {}, found '{}'", lo, hi, text);
      },
      fmt::format("INT in {}..{}", lo, hi));
}

int usage_error(const std::string& message) {
  std::fflush(stdout);
  std::fprintf(stderr, "kiln: %s\n", message.c_str());
  return kExitUsageError;
}

namespace {

std::size_t edit_distance(const std::string& a, const std::string& b) {
  std::vector<std::size_t> previous(b.size() + 1), current(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j) previous[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    current[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      const std::size_t substitution = previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1);
      current[j] = std::min({previous[j] + 1, current[j - 1] + 1, substitution});
    }
    std::swap(previous, current);
  }
  return previous[b.size()];
}

std::string lower(std::string text) {
  std::transform(text.begin(), text.end(), text.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return text;
}

}  // namespace

std::string nearest_name(const std::string& word, const std::vector<std::string>& names) {
  std::string best;
  std::size_t best_distance = std::max<std::size_t>(2, word.size() / 3) + 1;
  for (const std::string& name : names) {
    const std::size_t distance = edit_distance(lower(word), lower(name));
    if (distance < best_distance) {
      best = name;
      best_distance = distance;
    }
  }
  return best;
}

void check_output_path(const std::string& path, const std::vector<std::string>& extensions) {
  namespace fs = std::filesystem;
  const fs::path target(path);
  const std::string extension = lower(target.extension().string());
  if (std::find(extensions.begin(), extensions.end(), extension) == extensions.end()) {
    throw Error(fmt::format("{}: unknown picture extension '{}' (expected {})", path, extension,
                            fmt::join(extensions, ", ")));
  }
  std::error_code error;
  if (fs::is_directory(target, error)) throw Error(fmt::format("{}: is a directory", path));
  const fs::path directory = target.parent_path().empty() ? fs::path(".") : target.parent_path();
  if (!fs::is_directory(directory, error)) {
    throw Error(fmt::format("{}: the directory {} does not exist", path, directory.string()));
  }
  if (access(directory.c_str(), W_OK) != 0) {
    throw Error(fmt::format("{}: the directory {} is not writable", path, directory.string()));
  }
}

}  // namespace kiln::cli
