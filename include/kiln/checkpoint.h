// Training checkpoints: what it takes to continue fit() where it stopped — the model's weights, its
// optimizer's state (Adam's moments and step count), the epochs completed, the history so far and
// the caller's own description of the run — in one HDF5 file, written atomically.
//
//   FitOptions fit;
//   fit.on_epoch_end = [&](int epoch, const auto& logs) {
//     /* add logs to state.history */ state.epoch = epoch + 1;
//     kiln::save_checkpoint(model, "checkpoint.h5", state);
//   };
//   // later, in a new process: build and compile the same model, then
//   kiln::TrainingState state = kiln::load_checkpoint(model, "checkpoint.h5");
//   fit.initial_epoch = state.epoch;
//
// Functions rather than Keras's ModelCheckpoint / BackupAndRestore callbacks: fit() reports epochs
// through one FitOptions::on_epoch_end hook, not a callback list, and a pair of functions called
// from it is what a PyTorch user writes (torch.save of the epoch, model and optimizer state) and
// what BackupAndRestore does inside.
//
// The file is a Keras 2 weights file that also carries the optimizer's state as Keras 2's
// model.save does, so Keras and h5py read it:
//   root               the weights as save_weights writes them (layer_names; conv2d/conv2d/kernel:0…)
//   optimizer_weights/ Adam/iter:0, Adam/<layer>/<weight>/m:0 …, then …/v:0 (SGD: momentum:0)
//   root attributes    kiln_checkpoint = 2 (the format), epoch, history (JSON {"loss": [..], …}),
//                      metadata (the caller's text, stored as given)
// Format 1 files, written by the kiln CLI before checkpoints were part of the library, load too
// (their run_config attribute is returned as the metadata).
#pragma once

#include <string>

#include "kiln/export.h"
#include "kiln/model.h"

namespace kiln {

struct TrainingState {
  int epoch = 0;         // epochs completed: FitOptions::initial_epoch of the run that continues
  History history;       // every key has one value per completed epoch (or no keys at all)
  std::string metadata;  // the caller's own text (the kiln CLI: its run configuration as JSON)
};

// Saves the weights of `model`, the state of its optimizer (when it is compiled) and `state` to
// `path`. A crash or an error while saving leaves an existing file at `path` as it was. An Error
// when the history does not hold `state.epoch` values per key.
KILN_API void save_checkpoint(const Model& model, const std::string& path,
                              const TrainingState& state);

// The epoch, history and metadata of the checkpoint at `path`, without reading any weights: to
// decide how to build the model before load_checkpoint.
KILN_API TrainingState read_checkpoint_state(const std::string& path);

// Restores the weights and the optimizer's state saved at `path` into `model`, which must be built
// and compiled as the saved one was (the layers with weights in the same order, the same shapes,
// the same optimizer), and returns the saved state. Everything is read and checked before anything
// is replaced: an Error naming the file and what differs leaves the model and its optimizer as
// they were.
KILN_API TrainingState load_checkpoint(Model& model, const std::string& path);

}  // namespace kiln
