// kiln::Error: the one exception type the library throws. Its message says what was
// expected, what was found and where (op, layer, file).
#pragma once

#include <stdexcept>
#include <string>

#include "kiln/export.h"

namespace kiln {

class KILN_API Error : public std::runtime_error {
 public:
  explicit Error(const std::string& message);
};

}  // namespace kiln
