// Layering probe (KilnLayeringCheck.cmake): a header of the CUDA backend (plain C++, no CUDA
// headers). Compiled as a file of the core layer it must not be found; of the cuda layer it must.
#include "cuda/cuda_api.h"

int kiln_layering_cuda_probe() { return 0; }
