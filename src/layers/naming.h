// Keras-style unique names: the first "conv2d", then "conv2d_1", "conv2d_2", … per prefix,
// until clear_session().
#pragma once

#include <string>

namespace kiln {

std::string unique_name(const std::string& prefix);

}  // namespace kiln
