// The optimizer's state in a model .h5 as Keras 2 (hdf5_format.save_model_to_hdf5) stores it, so
// Keras resumes where kiln stopped and kiln where Keras stopped:
//   optimizer_weights/   attrs weight_names = ["Adam/iter:0", "Adam/dense/kernel/m:0", ...,
//                                              "Adam/dense/kernel/v:0", ...]
//     Adam/iter:0                 int64 scalar: steps taken
//     Adam/<layer>/<weight>/m:0   first moments, one per trainable variable, in model order
//     Adam/<layer>/<weight>/v:0   then the second moments
// (SGD with momentum: SGD/iter:0, then SGD/<layer>/<weight>/momentum:0.) Keras restores the list
// by position (optimizer.set_weights), so the order is the contract; names are for people.
#pragma once

#include <hdf5.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "kiln/model.h"

namespace kiln {

// Writes the group when the model is compiled and its optimizer has state (after a step).
void write_optimizer_weights(hid_t file, const Model& model);

// The optimizer's slots in Optimizer::state() order and its step count.
struct OptimizerState {
  std::vector<Tensor> slots;  // each on its variable's device
  std::int64_t iterations = 0;
};

// The state in `file`'s optimizer_weights when named exactly as kiln names the state of `model`'s
// optimizer (same optimizer, same trainable variables, same slots); nothing when the group is
// missing or named otherwise. A slot of another shape is an Error naming `where`. Reads only.
std::optional<OptimizerState> read_optimizer_state(hid_t file, const Model& model,
                                                   const std::string& where);
// The names kiln gives the optimizer's weights in that group, iterations first.
std::vector<std::string> optimizer_weight_names(const Model& model);

// When `file` has optimizer_weights named exactly as kiln would name its state (same optimizer,
// same trainable variables, same slots), restores it; a slot of another shape is an Error naming
// the file. Any other group (another optimizer, AMSGrad's vhat slots, Keras >= 2.11's naming) is
// left unread and the optimizer starts fresh. Returns whether state was restored.
bool read_optimizer_weights(hid_t file, Model& model, const std::string& where);

}  // namespace kiln
