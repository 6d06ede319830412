// The whole public API of kiln in one include.
#pragma once

#include "kiln/allocator.h"
#include "kiln/build_info.h"
#include "kiln/device.h"
#include "kiln/dtype.h"
#include "kiln/error.h"
#include "kiln/feature_maps.h"
#include "kiln/image.h"
#include "kiln/layers.h"
#include "kiln/model.h"
#include "kiln/ops.h"
#include "kiln/optimizers.h"
#include "kiln/plot_model.h"
#include "kiln/shape.h"
#include "kiln/tape.h"
#include "kiln/tensor.h"
