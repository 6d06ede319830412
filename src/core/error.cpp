#include "kiln/error.h"

#include "core/check.h"

namespace kiln {

Error::Error(const std::string& message) : std::runtime_error(message) {}

OutOfMemoryError::OutOfMemoryError(const std::string& message, std::size_t requested_bytes,
                                   const std::string& layer)
    : Error(message), requested_bytes_(requested_bytes), layer_(layer) {}

std::size_t OutOfMemoryError::requested_bytes() const { return requested_bytes_; }

const std::string& OutOfMemoryError::layer() const { return layer_; }

std::string format_bytes(std::size_t bytes) {
  const double value = static_cast<double>(bytes);
  if (bytes >= (std::size_t{1} << 40)) return fmt::format("{:.2f} TiB", value / (1ULL << 40));
  if (bytes >= (std::size_t{1} << 30)) return fmt::format("{:.2f} GiB", value / (1 << 30));
  if (bytes >= (std::size_t{1} << 20)) return fmt::format("{:.2f} MiB", value / (1 << 20));
  if (bytes >= (std::size_t{1} << 10)) return fmt::format("{:.2f} KiB", value / (1 << 10));
  return fmt::format("{} B", bytes);
}

}  // namespace kiln
