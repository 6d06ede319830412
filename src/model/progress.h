// Keras-style progress output for fit: "Epoch 1/3", then
// "59/59 [==============================] - 2s 35ms/step - loss: 0.2146 - accuracy: 0.9371",
// updated in place on a terminal and printed once per epoch otherwise.
#pragma once

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <map>
#include <string>
#include <vector>

namespace kiln {

class ProgressBar {
 public:
  ProgressBar(std::int64_t steps, int verbose, std::FILE* out = stdout);
  // Whether a line would be drawn after step `done` (1-based, before the last): on a terminal
  // with verbose 1, every 200 ms. fit reads its metrics from the device only then (Note
  // [Metrics on the device] in metric_sums.h); the last step's line is the epoch's final one.
  bool due(std::int64_t done) const;
  // Draws the line after step `done` with the running values so far: a running line when due(),
  // or the epoch's final line.
  void update(std::int64_t done, const std::vector<std::pair<std::string, double>>& values,
              bool final);

 private:
  std::string line(std::int64_t done,
                   const std::vector<std::pair<std::string, double>>& values) const;
  std::int64_t steps_;
  int verbose_;
  std::FILE* out_;
  bool terminal_;
  std::chrono::steady_clock::time_point start_, last_draw_;
};

// " - loss: 0.2146" (Keras prints %.4f, or %.4e below 1e-3).
std::string format_log_value(const std::string& key, double value);

}  // namespace kiln
