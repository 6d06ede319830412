// Internal helpers for raising kiln::Error with formatted messages.
#pragma once

#include <cstddef>
#include <string>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "kiln/error.h"

namespace kiln {

// "512 B", "1.50 KiB", "30.00 MiB", "2.00 GiB", "4.00 TiB": sizes in messages (core/error.cpp).
std::string format_bytes(std::size_t bytes);

template <class... Args>
[[noreturn]] void fail(fmt::format_string<Args...> format, Args&&... args) {
  throw Error(fmt::format(format, std::forward<Args>(args)...));
}

}  // namespace kiln

// KILN_CHECK(condition, "format {}", args...): throws kiln::Error with the message when false.
#define KILN_CHECK(condition, ...) \
  do {                             \
    if (!(condition)) {            \
      ::kiln::fail(__VA_ARGS__);   \
    }                              \
  } while (false)
