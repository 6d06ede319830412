// Layering probe (KilnLayeringCheck.cmake): a header of the backend layer. Compiled as a file of
// the core layer it must not be found; as a file of the backend layer it must.
#include "backend/backend.h"

int kiln_layering_backend_probe() { return 0; }
