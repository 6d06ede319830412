// The activation names kiln::activation() takes — Keras's names — shared by the op and by the
// layers that check their `activation` argument when they are made.
#pragma once

#include <string>
#include <vector>

namespace kiln::ops {

// In the order messages list them.
const std::vector<std::string>& activation_names();
// "linear, relu, …", for messages.
std::string activation_name_list();
bool is_activation(const std::string& name);

}  // namespace kiln::ops
