// Optimizer state in Keras 2's optimizer_weights layout (model/optimizer_weights.h).
#include "model/optimizer_weights.h"

#include "core/check.h"
#include "io/hdf5_file.h"
#include "io/keras_h5.h"

namespace kiln {
namespace {

constexpr const char* kGroup = "optimizer_weights";

// "dense/kernel:0" -> "dense/kernel"
std::string variable_path(const std::string& name) { return name.substr(0, name.rfind(':')); }

// The slot suffixes of `optimizer`'s state() halves: Adam's m then v, SGD's momentum.
std::vector<std::string> slot_kinds(const Optimizer& optimizer) {
  if (optimizer.name() == "Adam") return {"m", "v"};
  if (optimizer.name() == "SGD") return {"momentum"};
  return {};
}

// The names Keras gives the optimizer's weights, iterations first.
std::vector<std::string> weight_names(const Model& model, const Optimizer& optimizer) {
  std::vector<std::string> names{optimizer.name() + "/iter:0"};
  for (const std::string& kind : slot_kinds(optimizer)) {
    for (const auto& variable : model.trainable_weights()) {
      names.push_back(optimizer.name() + "/" + variable_path(variable->name()) + "/" + kind + ":0");
    }
  }
  return names;
}

void write_iterations(hid_t group, const std::string& name, std::int64_t iterations) {
  h5::Handle space(H5Screate(H5S_SCALAR));
  h5::Handle links(H5Pcreate(H5P_LINK_CREATE));
  H5Pset_create_intermediate_group(links.id(), 1);
  h5::Handle dataset(H5Dcreate2(group, name.c_str(), H5T_STD_I64LE, space.id(), links.id(),
                                H5P_DEFAULT, H5P_DEFAULT));
  KILN_CHECK(dataset.valid() && H5Dwrite(dataset.id(), H5T_NATIVE_INT64, H5S_ALL, H5S_ALL,
                                         H5P_DEFAULT, &iterations) >= 0,
             "HDF5 {}: cannot write {}", h5::describe(group), name);
}

}  // namespace

void write_optimizer_weights(hid_t file, const Model& model) {
  if (!model.compiled()) return;
  const Optimizer& optimizer = model.optimizer();
  const std::vector<Tensor> slots = optimizer.state();
  const std::vector<std::string> names = weight_names(model, optimizer);
  if (slots.empty() || slots.size() + 1 != names.size()) return;
  h5::Handle group = h5::create_group(file, kGroup);
  h5::write_string_list_attribute(group.id(), "weight_names", names);
  write_iterations(group.id(), names[0], optimizer.iterations());
  for (std::size_t i = 0; i < slots.size(); ++i) {
    const Tensor host = slots[i].to(Device::cpu()).astype(DType::f32);
    h5::write_dataset(group.id(), names[i + 1], DType::f32, host.raw_data(), host.shape());
  }
}

std::optional<OptimizerState> read_optimizer_state(hid_t file, const Model& model,
                                                   const std::string& where) {
  if (!model.compiled() || !h5::link_exists(file, kGroup)) return std::nullopt;
  h5::Handle group = h5::open_group(file, kGroup);
  const std::vector<std::string> names = h5::read_string_list_attribute(group.id(), "weight_names");
  if (names != optimizer_weight_names(model)) return std::nullopt;
  std::int32_t iterations = 0;  // stored int64; HDF5 converts (and fails on overflow)
  h5::read_dataset(h5::open_dataset(group.id(), names[0]).id(), DType::i32, &iterations);
  KILN_CHECK(iterations >= 0, "{}: optimizer weight {} is {}, expected a step count >= 0", where,
             names[0], iterations);
  const auto variables = model.trainable_weights();
  OptimizerState state{{}, iterations};
  std::int64_t budget = kMaxFileWeightValues;
  for (std::size_t i = 1; i < names.size(); ++i) {
    Tensor slot = read_keras_weight(group.id(), "optimizer_weights", names[i], budget);
    const Tensor& variable = variables[(i - 1) % variables.size()]->value();
    KILN_CHECK(slot.shape() == variable.shape(),
               "{}: optimizer weight {} has shape {}, its variable {} has {}", where, names[i],
               shape_str(slot.shape()), variables[(i - 1) % variables.size()]->name(),
               shape_str(variable.shape()));
    state.slots.push_back(slot.to(variable.device()));
  }
  return state;
}

std::vector<std::string> optimizer_weight_names(const Model& model) {
  return weight_names(model, model.optimizer());
}

bool read_optimizer_weights(hid_t file, Model& model, const std::string& where) {
  const std::optional<OptimizerState> state = read_optimizer_state(file, model, where);
  if (!state) return false;
  model.optimizer().load_state(state->slots, state->iterations);
  return true;
}

}  // namespace kiln
