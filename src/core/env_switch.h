// On / off switches read from the environment (KILN_TF32, KILN_CUDNN_GRAPH).
#pragma once

#include <cstdlib>
#include <string_view>

namespace kiln {

// True unless the variable `name` is set to 0, false or off (unset: true).
inline bool switch_from_environment(const char* name) {
  const char* value = std::getenv(name);
  if (value == nullptr) return true;
  const std::string_view text(value);
  return !(text == "0" || text == "false" || text == "off");
}

}  // namespace kiln
