// The start every detector suite's one run shares: the packaged model (scripts/fetch-models.sh)
// and darknet's photo, or the reason to skip without them; the photo read and pre-processed; the
// committed TF.js reference and the one to compare with (tfjs_reference.h), or why it could not
// be made. A suite keeps one such run in a static and begins each test with
// SKIP_WITHOUT_MODEL(run).
#pragma once

#include <gtest/gtest.h>

#include <exception>
#include <filesystem>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <utility>

#include "kiln/detector.h"
#include "kiln/image.h"
#include "tfjs_reference.h"

namespace kiln::testing {

struct DetectorRun {
  std::string skip;   // why the suite is skipped, or empty
  std::string error;  // why the reference could not be made, or empty
  nlohmann::json committed, reference;
  std::string reference_source;
  std::unique_ptr<Detector> detector;
  Tensor image, input;
  Letterbox where;
};

// Fills `run` for the packaged model `name` on `photo`, compared with `script`'s reference
// (tests/reference/tfjs/) or the committed tests/reference/`committed`. False when the model or
// the photo is missing (run.skip says which).
inline bool start_detector_run(DetectorRun& run, const std::string& name, const std::string& photo,
                               const std::string& script, const std::string& committed) {
  namespace fs = std::filesystem;
  const std::string model = Detector::default_model_path(name);
  if (!fs::exists(model)) {
    run.skip = model + " is missing: run scripts/fetch-models.sh";
    return false;
  }
  if (!fs::exists(photo)) {
    run.skip = photo + " is missing: apt-get install darknet";
    return false;
  }
  std::ifstream in(std::string(KILN_SOURCE_DIR) + "/tests/reference/" + committed);
  run.committed = nlohmann::json::parse(in);
  run.detector = std::make_unique<Detector>(Detector::load(name));
  run.image = read_image(photo);
  run.input = run.detector->preprocess(run.image, &run.where);
  try {
    TfjsReference reference =
        tfjs_reference(script, fs::path(model).parent_path(), run.input, committed);
    run.reference = std::move(reference.json);
    run.reference_source = reference.source;
  } catch (const std::exception& e) {
    run.error = e.what();
  }
  return true;
}

}  // namespace kiln::testing

// Skips the test when the suite's run has no model or photo; fails it when the reference could
// not be made.
#define SKIP_WITHOUT_MODEL(run)                        \
  if (!(run).skip.empty()) GTEST_SKIP() << (run).skip; \
  ASSERT_TRUE((run).error.empty()) << (run).error;
