// Layering probe, compiled as a file of the core layer (KilnLayeringCheck.cmake): its own and the
// public headers are found.
#include "core/check.h"
#include "kiln/tensor.h"

int kiln_layering_control() { return kiln::Tensor().defined() ? 1 : 0; }
