// The load-time self-test (frugally-deep's idea): kiln stores one fixed input per model input and
// the outputs the model gave for it when it was saved, and load_model(path, {.verify = true})
// runs the input again and compares.
//   kiln_self_test/
//     inputs/<input layer name>    (1, ...) float32
//     outputs/<output layer name>  float32
// In an .h5 model file the group is at the root; a .keras archive carries the same layout as the
// HDF5 member kiln_self_test.h5 (Keras ignores members it does not know).
#pragma once

#include <hdf5.h>

#include <string>

#include "kiln/model.h"

namespace kiln {

inline constexpr const char* kSelfTestGroup = "kiln_self_test";
inline constexpr const char* kSelfTestMember = "kiln_self_test.h5";
// A mismatch is max |got - stored| > kSelfTestTolerance * max(1, max |stored|), per output. Both
// runs are full fp32 (TF32 off), so another device or summation order differs by ~1e-6; the
// margin is far below what a wrong or misplaced weight gives.
inline constexpr double kSelfTestTolerance = 1e-3;

// Runs the model on the fixed input and writes the group into `file`.
void write_self_test(hid_t file, const Model& model);
bool has_self_test(hid_t file);
// Runs the stored inputs through `model` and compares with the stored outputs; a mismatch, a
// missing or extra input or output is an Error naming `where`, the output and the largest
// difference.
void verify_self_test(hid_t file, Model& model, const std::string& where);

}  // namespace kiln
