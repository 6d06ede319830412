// Training checkpoints (kiln/checkpoint.h): a round trip restores the weights, the optimizer's
// slots and step count, the epoch, history and metadata, so that training continues exactly as
// the saved model would have; the file is a Keras weights file (load_weights reads it); a damaged,
// foreign or mismatched file is an Error that leaves the model and its optimizer as they were; a
// format 1 file (written by the kiln CLI before checkpoints moved into the library) still loads.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <memory>

#include "kiln/checkpoint.h"
#include "kiln/error.h"
#include "kiln/layers.h"
#include "kiln/model.h"
#include "kiln/model_io.h"
#include "kiln/ops.h"
#include "kiln/optimizers.h"
#include "temp_dir.h"

namespace kiln {
namespace {

namespace fs = std::filesystem;

// The model of tests/unit/data/checkpoint_format1.h5: input (3) -> hidden Dense(4, relu) ->
// out Dense(2, softmax), a functional model (whose InputLayer Keras lists in weights files).
std::unique_ptr<Model> tiny_model(std::shared_ptr<Optimizer> optimizer) {
  SymbolicTensor input = Input({3}, "input");
  SymbolicTensor hidden = Dense(4, {.activation = "relu", .name = "hidden"})(input);
  SymbolicTensor out = Dense(2, {.activation = "softmax", .name = "out"})(hidden);
  auto model = std::make_unique<Model>(input, out, "tiny");
  model->compile(std::move(optimizer), "categorical_crossentropy", {"accuracy"});
  return model;
}

std::unique_ptr<Model> tiny_sequential(std::shared_ptr<Optimizer> optimizer) {
  auto model = std::make_unique<Sequential>(
      std::vector<LayerRef>{InputLayer({3}), Dense(4, {.activation = "relu", .name = "hidden"}),
                            Dense(2, {.activation = "softmax", .name = "out"})},
      "tiny_sequential");
  model->compile(std::move(optimizer), "categorical_crossentropy", {"accuracy"});
  return model;
}

const Tensor& batch_x() {
  static const Tensor x = Tensor::uniform({8, 3}, -1, 1, 11);
  return x;
}

const Tensor& batch_y() {
  static const Tensor y =
      one_hot(Tensor::from_vector(std::vector<std::int32_t>{0, 1, 1, 0, 1, 0, 0, 1}, {8}), 2);
  return y;
}

void train_steps(Model& model, int epochs) {
  FitOptions fit;
  fit.batch_size = 4;
  fit.epochs = epochs;
  fit.verbose = 0;
  fit.shuffle = false;
  model.fit(batch_x(), batch_y(), fit);
}

std::vector<std::vector<float>> values_of(const std::vector<Tensor>& tensors) {
  std::vector<std::vector<float>> values;
  for (const Tensor& t : tensors) values.push_back(t.to_vector<float>());
  return values;
}

std::vector<std::vector<float>> weights_of(const Model& model) {
  std::vector<Tensor> tensors;
  for (const auto& variable : model.weights()) tensors.push_back(variable->value());
  return values_of(tensors);
}

TrainingState sample_state() {
  TrainingState state;
  state.epoch = 2;
  state.history.keys = {"loss", "accuracy"};
  state.history.values = {{"loss", {0.75, 0.5}}, {"accuracy", {0.25, 0.625}}};
  state.metadata = R"({"run": "unit test"})";
  return state;
}

class Checkpoint : public kiln::testing::TempDirTest {
 protected:
  void SetUp() override {
    TempDirTest::SetUp();
    clear_session();
  }
};

void expect_same_state(const TrainingState& got, const TrainingState& want) {
  EXPECT_EQ(got.epoch, want.epoch);
  EXPECT_EQ(got.history.keys, want.history.keys);
  EXPECT_EQ(got.history.values, want.history.values);
  EXPECT_EQ(got.metadata, want.metadata);
}

TEST_F(Checkpoint, RoundTripRestoresWeightsAdamSlotsEpochAndHistory) {
  for (const bool sequential : {false, true}) {
    SCOPED_TRACE(sequential ? "Sequential" : "functional");
    set_random_seed(1);
    auto saved = sequential ? tiny_sequential(std::make_shared<Adam>(AdamOptions{0.01}))
                            : tiny_model(std::make_shared<Adam>(AdamOptions{0.01}));
    train_steps(*saved, 3);  // 6 steps
    ASSERT_EQ(saved->optimizer().iterations(), 6);
    save_checkpoint(*saved, path("checkpoint.h5"), sample_state());

    set_random_seed(2);  // other initial weights
    auto loaded = sequential ? tiny_sequential(std::make_shared<Adam>(AdamOptions{0.01}))
                             : tiny_model(std::make_shared<Adam>(AdamOptions{0.01}));
    ASSERT_NE(weights_of(*loaded), weights_of(*saved));
    expect_same_state(load_checkpoint(*loaded, path("checkpoint.h5")), sample_state());
    EXPECT_EQ(weights_of(*loaded), weights_of(*saved));
    EXPECT_EQ(loaded->optimizer().iterations(), 6);
    ASSERT_EQ(loaded->optimizer().state().size(), 8u);  // m and v of 4 variables
    EXPECT_EQ(values_of(loaded->optimizer().state()), values_of(saved->optimizer().state()));

    // Training on from the checkpoint is training on from the saved model, step for step.
    train_steps(*saved, 1);
    train_steps(*loaded, 1);
    EXPECT_EQ(weights_of(*loaded), weights_of(*saved));
  }
}

TEST_F(Checkpoint, SgdMomentumRoundTrip) {
  auto saved = tiny_model(std::make_shared<SGD>(SGDOptions{0.1, 0.9, false}));
  train_steps(*saved, 2);
  save_checkpoint(*saved, path("checkpoint.h5"), sample_state());
  clear_session();
  set_random_seed(5);
  auto loaded = tiny_model(std::make_shared<SGD>(SGDOptions{0.1, 0.9, false}));
  load_checkpoint(*loaded, path("checkpoint.h5"));
  EXPECT_EQ(loaded->optimizer().iterations(), 4);
  EXPECT_EQ(values_of(loaded->optimizer().state()), values_of(saved->optimizer().state()));
  EXPECT_EQ(weights_of(*loaded), weights_of(*saved));
}

TEST_F(Checkpoint, StateReadsWithoutAModel) {
  auto model = tiny_model(std::make_shared<Adam>());
  train_steps(*model, 1);
  save_checkpoint(*model, path("checkpoint.h5"), sample_state());
  expect_same_state(read_checkpoint_state(path("checkpoint.h5")), sample_state());
}

// One mapping for every file: the weights of a checkpoint are a Keras 2 weights file.
TEST_F(Checkpoint, LoadWeightsReadsACheckpoint) {
  auto model = tiny_model(std::make_shared<Adam>());
  train_steps(*model, 1);
  save_checkpoint(*model, path("checkpoint.h5"), sample_state());
  set_random_seed(9);
  auto other = tiny_model(std::make_shared<Adam>());
  load_weights(*other, path("checkpoint.h5"));
  EXPECT_EQ(weights_of(*other), weights_of(*model));
}

// The model and its optimizer as they were before a failed load.
struct Snapshot {
  std::vector<std::vector<float>> weights, slots;
  std::int64_t iterations;
  explicit Snapshot(const Model& model)
      : weights(weights_of(model)),
        slots(values_of(model.optimizer().state())),
        iterations(model.optimizer().iterations()) {}
  void expect_unchanged(const Model& model) const {
    EXPECT_EQ(weights_of(model), weights);
    EXPECT_EQ(values_of(model.optimizer().state()), slots);
    EXPECT_EQ(model.optimizer().iterations(), iterations);
  }
};

// Loads `file` into a trained tiny model, expects an Error containing `words`, and checks that the
// model and its optimizer are unchanged.
void expect_refused(const std::string& file, const std::string& words,
                    std::unique_ptr<Model> model = nullptr) {
  if (!model) {
    set_random_seed(3);
    model = tiny_model(std::make_shared<Adam>());
    train_steps(*model, 1);
  }
  const Snapshot before(*model);
  try {
    load_checkpoint(*model, file);
    ADD_FAILURE() << "loaded " << file;
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(words), std::string::npos) << e.what();
  }
  before.expect_unchanged(*model);
}

std::string save_trained_checkpoint(const std::string& file) {
  set_random_seed(4);
  auto model = tiny_model(std::make_shared<Adam>());
  train_steps(*model, 2);
  save_checkpoint(*model, file, sample_state());
  return file;
}

TEST_F(Checkpoint, TruncatedFileIsAnErrorAndChangesNothing) {
  const std::string file = save_trained_checkpoint(path("checkpoint.h5"));
  fs::resize_file(file, fs::file_size(file) / 2);
  expect_refused(file, file);
}

TEST_F(Checkpoint, CorruptWeightIsAnErrorAndChangesNothing) {
  const std::string file = save_trained_checkpoint(path("checkpoint.h5"));
  // Find the stored bytes of out/kernel:0's first value and flip one: Fletcher32 catches it.
  std::string bytes;
  {
    std::ifstream in(file, std::ios::binary);
    bytes.assign(std::istreambuf_iterator<char>(in), {});
  }
  set_random_seed(4);
  auto reference = tiny_model(std::make_shared<Adam>());
  train_steps(*reference, 2);
  const float first = reference->get_layer("out")->weights()[0]->value().to_vector<float>()[0];
  const std::string needle(reinterpret_cast<const char*>(&first), sizeof first);
  const auto at = bytes.find(needle);
  ASSERT_NE(at, std::string::npos);
  bytes[at + 1] = static_cast<char>(bytes[at + 1] ^ 0x5a);
  std::ofstream(file, std::ios::binary | std::ios::trunc) << bytes;
  expect_refused(file, "out");
}

TEST_F(Checkpoint, OtherShapesAreAnErrorAndChangeNothing) {
  const std::string file = save_trained_checkpoint(path("checkpoint.h5"));
  clear_session();
  SymbolicTensor input = Input({3}, "input");
  SymbolicTensor hidden = Dense(5, {.activation = "relu", .name = "hidden"})(input);
  auto wider = std::make_unique<Model>(input, Dense(2, {.name = "out"})(hidden), "wider");
  wider->compile(std::make_shared<Adam>(), "categorical_crossentropy", {});
  expect_refused(file, "expects (3, 5)", std::move(wider));
}

TEST_F(Checkpoint, AnotherOptimizerIsAnErrorAndChangesNothing) {
  const std::string file = save_trained_checkpoint(path("checkpoint.h5"));
  auto sgd = tiny_model(std::make_shared<SGD>(SGDOptions{0.1, 0.9, false}));
  train_steps(*sgd, 1);
  expect_refused(file, "SGD/iter:0", std::move(sgd));
}

TEST_F(Checkpoint, AWeightsFileIsNotACheckpoint) {
  auto model = tiny_model(std::make_shared<Adam>());
  save_weights(*model, path("weights.h5"));
  expect_refused(path("weights.h5"), "not a kiln checkpoint");
  EXPECT_THROW(read_checkpoint_state(path("weights.h5")), Error);
}

TEST_F(Checkpoint, AFailedSaveKeepsThePreviousFile) {
  const std::string file = save_trained_checkpoint(path("checkpoint.h5"));
  const auto size = fs::file_size(file);
  auto model = tiny_model(std::make_shared<Adam>());
  TrainingState state = sample_state();
  state.epoch = 3;  // the history holds 2 epochs
  EXPECT_THROW(save_checkpoint(*model, file, state), Error);
  EXPECT_EQ(fs::file_size(file), size);
  expect_same_state(read_checkpoint_state(file), sample_state());
  EXPECT_EQ(entries(), std::vector<std::string>{"checkpoint.h5"});
}

// tests/unit/data/checkpoint_format1.h5 was written by the kiln CLI's checkpoint code of main
// 3274cce (apps/kiln/checkpoint.cpp, format 1: slots as optimizer_weights/slot_NNNN, no
// InputLayer group) for tiny_model() with Adam, its k-th weight's j-th value set to
// fixture_value(k, j), Adam's m of variable i to fixture_value(10 + i, j), v to
// fixture_value(20 + i, j), 7 iterations, epoch 2 and the history of sample_state().
float fixture_value(int k, std::size_t j) {
  return 0.01f * static_cast<float>(k + 1) + 0.001f * static_cast<float>(j);
}

std::vector<float> fixture_values(int k, const Tensor& like) {
  std::vector<float> values(static_cast<std::size_t>(like.numel()));
  for (std::size_t j = 0; j < values.size(); ++j) values[j] = fixture_value(k, j);
  return values;
}

TEST_F(Checkpoint, FormatOneFileFromTheCliStillLoads) {
  const std::string file = std::string(KILN_SOURCE_DIR) + "/tests/unit/data/checkpoint_format1.h5";
  auto model = tiny_model(std::make_shared<Adam>(AdamOptions{0.01}));
  const TrainingState state = load_checkpoint(*model, file);
  EXPECT_EQ(state.epoch, 2);
  EXPECT_EQ(state.history.keys, sample_state().history.keys);
  EXPECT_EQ(state.history.values, sample_state().history.values);
  EXPECT_NE(state.metadata.find(R"("limit":64)"), std::string::npos) << state.metadata;
  int k = 0;
  for (const auto& variable : model->weights()) {
    EXPECT_EQ(variable->value().to_vector<float>(), fixture_values(k++, variable->value()))
        << variable->name();
  }
  const std::vector<Tensor> slots = model->optimizer().state();
  ASSERT_EQ(slots.size(), 8u);
  for (std::size_t i = 0; i < slots.size(); ++i) {
    const int kind = i < 4 ? 10 : 20;
    EXPECT_EQ(slots[i].to_vector<float>(), fixture_values(kind + static_cast<int>(i % 4), slots[i]))
        << "slot " << i;
  }
  EXPECT_EQ(model->optimizer().iterations(), 7);
}

}  // namespace
}  // namespace kiln
