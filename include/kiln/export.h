// KILN_API marks the public symbols of libkiln.so; everything else is hidden.
#pragma once

#if defined(KILN_BUILDING_LIBRARY)
#define KILN_API __attribute__((visibility("default")))
#else
#define KILN_API
#endif
