// The load-time self-test (model/self_test.h).
#include "model/self_test.h"

#include <algorithm>
#include <cmath>

#include "core/check.h"
#include "io/hdf5_file.h"
#include "kiln/device.h"

namespace kiln {
namespace {

// A fixed input in [0, 1] (the range of kiln's image inputs), the same on every machine.
Tensor fixed_input(const Shape& sample_shape) {
  Shape shape{1};
  shape.insert(shape.end(), sample_shape.begin(), sample_shape.end());
  std::vector<float> values(static_cast<std::size_t>(shape_numel(shape)));
  for (std::size_t i = 0; i < values.size(); ++i) {
    values[i] = static_cast<float>(0.5 + 0.5 * std::sin(0.37 * static_cast<double>(i) + 0.1));
  }
  return Tensor::from_vector(values, shape);
}

// The self-test runs in full fp32 on every device (TF32 off, restored after), so a file written
// on a GPU verifies on the CPU and the other way round well within the tolerance.
class Fp32Only {
 public:
  Fp32Only() : previous_(tf32_allowed()) { set_allow_tf32(false); }
  ~Fp32Only() { set_allow_tf32(previous_); }
  Fp32Only(const Fp32Only&) = delete;
  Fp32Only& operator=(const Fp32Only&) = delete;

 private:
  bool previous_;
};

TensorMap run_full_precision(Model& model, const TensorMap& inputs) {
  Fp32Only fp32;
  return model.predict(inputs, 1);
}

void write_tensor(hid_t group, const std::string& name, const Tensor& tensor) {
  const Tensor host = tensor.to(Device::cpu()).astype(DType::f32);
  h5::write_dataset(group, name, DType::f32, host.raw_data(), host.shape());
}

Tensor read_tensor(hid_t group, const std::string& name) {
  h5::Handle dataset = h5::open_dataset(group, name);
  Tensor values = Tensor::empty(h5::dataset_shape(dataset.id()), DType::f32);
  h5::read_dataset(dataset.id(), DType::f32, values.raw_data());
  return values;
}

}  // namespace

void write_self_test(hid_t file, const Model& model) {
  TensorMap inputs;
  for (const std::string& name : model.input_names()) {
    inputs[name] = fixed_input(model.layer_output_shape(name)).to(model.device());
  }
  // predict changes no weight or statistic; Model has no const inference entry point.
  const TensorMap outputs = run_full_precision(const_cast<Model&>(model), inputs);
  h5::Handle group = h5::create_group(file, kSelfTestGroup);
  for (const auto& [name, tensor] : inputs) write_tensor(group.id(), "inputs/" + name, tensor);
  for (const auto& [name, tensor] : outputs) write_tensor(group.id(), "outputs/" + name, tensor);
}

bool has_self_test(hid_t file) { return h5::link_exists(file, kSelfTestGroup); }

void verify_self_test(hid_t file, Model& model, const std::string& where) {
  h5::Handle group = h5::open_group(file, kSelfTestGroup);
  TensorMap inputs;
  for (const std::string& name : model.input_names()) {
    KILN_CHECK(h5::link_exists(group.id(), "inputs/" + name),
               "{}: self-test: no stored input for the model's input '{}'", where, name);
    inputs[name] = read_tensor(group.id(), "inputs/" + name).to(model.device());
  }
  const TensorMap outputs = run_full_precision(model, inputs);
  for (const auto& [name, got_tensor] : outputs) {
    KILN_CHECK(h5::link_exists(group.id(), "outputs/" + name),
               "{}: self-test: no stored output for the model's output '{}'", where, name);
    const Tensor want = read_tensor(group.id(), "outputs/" + name);
    const Tensor got = got_tensor.to(Device::cpu()).astype(DType::f32);
    KILN_CHECK(got.shape() == want.shape(), "{}: self-test: output '{}' has shape {}, stored {}",
               where, name, shape_str(got.shape()), shape_str(want.shape()));
    const float* g = got.data<float>();
    const float* w = want.data<float>();
    double largest = 1.0, difference = 0.0;
    for (std::int64_t i = 0; i < want.numel(); ++i) {
      largest = std::max(largest, std::abs(static_cast<double>(w[i])));
      const double d = std::abs(static_cast<double>(g[i]) - w[i]);
      difference = std::isnan(d) ? INFINITY : std::max(difference, d);
    }
    KILN_CHECK(difference <= kSelfTestTolerance * largest,
               "{}: self-test failed: output '{}' differs from the stored output by up to {:.3g} "
               "(allowed {:.3g} = {} x max(1, max |stored|)); the weights or the layers do not "
               "compute what they computed when the file was saved",
               where, name, difference, kSelfTestTolerance * largest, kSelfTestTolerance);
  }
}

}  // namespace kiln
