// Internal helpers for raising kiln::Error with formatted messages.
#pragma once

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "kiln/error.h"

namespace kiln {

template <class... Args>
[[noreturn]] void fail(fmt::format_string<Args...> format, Args&&... args) {
  throw Error(fmt::format(format, std::forward<Args>(args)...));
}

}  // namespace kiln

// KILN_CHECK(condition, "format {}", args...): throws kiln::Error with the message when false.
#define KILN_CHECK(condition, ...)  \
  do {                              \
    if (!(condition)) {             \
      ::kiln::fail(__VA_ARGS__);    \
    }                               \
  } while (false)
