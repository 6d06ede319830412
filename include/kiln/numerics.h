// Non-finite guard, like tf.debugging.enable_check_numerics: while on, every op checks its
// output and raises an Error at the first NaN or Inf, naming the op, the layer, the shape and how
// many values are not finite. Off by default (it reads each output back to the host).
#pragma once

#include "kiln/export.h"

namespace kiln {

KILN_API void set_check_numerics(bool enabled);
KILN_API bool check_numerics_enabled();

}  // namespace kiln
