// The generated parity suite: every row of the op table (op_table.h) runs on the CPU backend and
// on every other usable device — each GPU, or the CUDA emulation in CI — on the same inputs, and
// every output must agree within the row's tolerance, NaN for NaN.
#include <set>

#include "cuda_test_util.h"
#include "op_table.h"

namespace kiln::cuda_test {
namespace {

std::vector<OpCase> all_cases() {
  std::vector<OpCase> cases = memory_and_elementwise_cases();
  for (auto part : {loss_reduction_and_data_cases(), matrix_conv_and_pool_cases(), layer_cases(),
                    graph_cases()}) {
    cases.insert(cases.end(), part.begin(), part.end());
  }
  return cases;
}

std::vector<Device> devices_besides_the_cpu() {
  std::vector<Device> devices;
  if (!cuda_available()) return devices;
  for (int i = 0;; ++i) {
    try {
      devices.push_back(parse_device("cuda:" + std::to_string(i)));
    } catch (const Error&) {
      break;
    }
  }
  return devices;
}

class OpParity : public ::testing::TestWithParam<OpCase> {};

TEST_P(OpParity, MatchesTheCpu) {
  KILN_SKIP_WITHOUT_GPU();
  const OpCase& row = GetParam();
  const Tf32Scope tf32(row.tf32);
  const std::vector<Tensor> expected = row.run(cpu(), Device::cpu());
  for (Device device : devices_besides_the_cpu()) {
    const std::vector<Tensor> actual = row.run(backend::backend_for(device), device);
    ASSERT_EQ(actual.size(), expected.size()) << device.str();
    for (std::size_t i = 0; i < actual.size(); ++i) {
      EXPECT_EQ(actual[i].shape(), expected[i].shape()) << "output " << i;
      EXPECT_EQ(actual[i].dtype(), expected[i].dtype()) << "output " << i;
      EXPECT_TRUE(close(actual[i], expected[i], row.tolerance, row.nan_expected))
          << row.name << ": output " << i << " on " << device.str() << " vs the CPU";
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Ops, OpParity, ::testing::ValuesIn(all_cases()),
                         [](const ::testing::TestParamInfo<OpCase>& param) {
                           return param.param.name;
                         });

// The table itself: unique names (gtest would reject duplicates late) and every Backend method
// that computes is represented.
TEST(OpTable, CoversEveryBackendMethod) {
  std::set<std::string> names;
  for (const OpCase& row : all_cases()) {
    EXPECT_TRUE(names.insert(row.name).second) << "duplicate row " << row.name;
  }
  const char* methods[] = {"fill",
                           "axpy",
                           "multiply",
                           "cast",
                           "copy_columns",
                           "pointwise_forward",
                           "pointwise_backward",
                           "softmax_forward",
                           "softmax_backward",
                           "gemm",
                           "add_bias",
                           "bias_backward",
                           "bias_activation_forward",
                           "bias_activation_backward",
                           "conv2d",
                           "conv2d_fused",
                           "pool2d",
                           "softmax_cross_entropy_forward",
                           "softmax_cross_entropy_backward",
                           "sigmoid_cross_entropy_forward",
                           "sigmoid_cross_entropy_backward",
                           "sum",
                           "argmax",
                           "accuracy_count",
                           "dropout_mask",
                           "adam_update",
                           "sgd_update",
                           "gather_rows",
                           "one_hot",
                           "general_relu_forward",
                           "general_relu_backward",
                           "smooth_activation_forward",
                           "smooth_activation_backward",
                           "maximum",
                           "maximum_backward",
                           "channel_affine",
                           "inverse_sqrt",
                           "resize_bilinear_forward",
                           "resize_bilinear_backward",
                           "depthwise_conv2d_forward",
                           "depthwise_conv2d_backward_data",
                           "depthwise_conv2d_backward_filter",
                           "broadcast_binary",
                           "spatial_mean",
                           "resize_bilinear_mode",
                           "top_k",
                           "strided_slice"};
  for (const char* method : methods) {
    bool found = false;
    for (const std::string& name : names) found = found || name.rfind(method, 0) == 0;
    EXPECT_TRUE(found) << "no row for Backend::" << method;
  }
}

}  // namespace
}  // namespace kiln::cuda_test
