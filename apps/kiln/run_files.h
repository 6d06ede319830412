// The text files of a run directory (history.csv, confusion_matrix.csv, metrics.json) and the
// per-epoch history they are made from.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "kiln/model.h"
#include "kiln/tensor.h"

namespace kiln::cli {

// Adds one epoch's logs to `history`; the first epoch fixes the keys in Keras's order (loss, each
// output's loss, the metrics, then the "val_" keys likewise; outputs in the model's order).
void append_epoch(History& history, const std::map<std::string, double>& logs,
                  const std::vector<std::string>& outputs);
std::size_t epoch_count(const History& history);

// history.csv: "epoch,<keys>" (e.g. epoch,loss,accuracy[,val_loss,val_accuracy]), epochs from 1.
std::string history_csv(const History& history);
// {"loss": [..], ...} with the keys in order (in metrics.json).
std::string history_json(const History& history);

// confusion_matrix.csv: a header "true\predicted,<class>,...", then one row per true class.
std::string confusion_csv(const Tensor& matrix, const std::vector<std::string>& class_names);

// "runs/<dataset>-YYYYmmdd-HHMMSS" (local time) for the seed experiment, else
// "runs/<dataset>-<experiment>-YYYYmmdd-HHMMSS".
std::string default_run_dir(const std::string& dataset, const std::string& experiment);
// Creates the directory (and its parents); an Error naming it on failure.
void make_run_dir(const std::string& dir);
// `dir/name`.
std::string run_file(const std::string& dir, const std::string& name);

}  // namespace kiln::cli
