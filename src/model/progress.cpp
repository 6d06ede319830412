#include "model/progress.h"

#include <cmath>
#include <unistd.h>

#include <fmt/format.h>

namespace kiln {

std::string format_log_value(const std::string& key, double value) {
  if (std::abs(value) > 1e-3 || value == 0.0) return fmt::format(" - {}: {:.4f}", key, value);
  return fmt::format(" - {}: {:.4e}", key, value);
}

ProgressBar::ProgressBar(std::int64_t steps, int verbose, std::FILE* out)
    : steps_(steps),
      verbose_(verbose),
      out_(out),
      terminal_(isatty(fileno(out)) != 0),
      start_(std::chrono::steady_clock::now()),
      last_draw_(start_) {}

std::string ProgressBar::line(std::int64_t done,
                              const std::vector<std::pair<std::string, double>>& values) const {
  constexpr int width = 30;
  const int digits = static_cast<int>(std::to_string(steps_).size());
  std::string bar = fmt::format("{:>{}}/{} [", done, digits, steps_);
  const int filled = steps_ > 0 ? static_cast<int>(width * done / steps_) : width;
  if (filled > 0) {
    bar += std::string(static_cast<std::size_t>(filled - 1), '=');
    bar += done < steps_ ? '>' : '=';
  }
  bar += std::string(static_cast<std::size_t>(width - filled), '.') + "]";
  const double elapsed =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  const double per_step = done > 0 ? elapsed / static_cast<double>(done) : 0.0;
  if (done < steps_) {
    bar += fmt::format(" - ETA: {:.0f}s", per_step * static_cast<double>(steps_ - done));
  } else {
    bar += fmt::format(" - {:.0f}s {:.0f}ms/step", elapsed, per_step * 1e3);
  }
  for (const auto& [key, value] : values) bar += format_log_value(key, value);
  return bar;
}

bool ProgressBar::due(std::int64_t done) const {
  return verbose_ == 1 && terminal_ && done < steps_ &&
         std::chrono::steady_clock::now() - last_draw_ >= std::chrono::milliseconds(200);
}

void ProgressBar::update(std::int64_t done,
                         const std::vector<std::pair<std::string, double>>& values, bool final) {
  if (verbose_ == 0) return;
  const auto now = std::chrono::steady_clock::now();
  if (verbose_ == 1 && terminal_) {
    last_draw_ = now;
    std::fprintf(out_, "\r%s%s", line(done, values).c_str(), final ? "\n" : "");
  } else if (final) {
    std::fprintf(out_, "%s\n", line(done, values).c_str());
  }
  std::fflush(out_);
}

}  // namespace kiln
