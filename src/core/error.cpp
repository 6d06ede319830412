#include "kiln/error.h"

namespace kiln {

Error::Error(const std::string& message) : std::runtime_error(message) {}

}  // namespace kiln
