// The device registry (src/backend/registry.cpp): the one place that checks a GPU index. Every
// way of reaching a device — parse_device, backend_for, allocator_for, memory_stats, a tensor
// made there — refuses an unusable GPU with the same words.
#include <gtest/gtest.h>

#include <functional>
#include <string>

#include "backend/backend.h"
#include "kiln/allocator.h"
#include "kiln/device.h"
#include "kiln/error.h"
#include "kiln/tensor.h"

namespace kiln {
namespace {

std::string error_of(const std::function<void()>& work) {
  try {
    work();
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}

bool starts_with(const std::string& text, const std::string& prefix) {
  return text.rfind(prefix, 0) == 0;
}

// No machine that runs the tests has 64 GPUs (kiln probes at most 64).
constexpr int kAbsent = 63;

TEST(DeviceRegistry, EveryDoorRefusesAnUnusableGpuWithTheSameWords) {
  const Device absent = Device::cuda(kAbsent);
  const std::string said = error_of([&] { (void)backend::backend_for(absent); });
  const std::string prefix = "device cuda:63 requested, but ";
  ASSERT_TRUE(starts_with(said, prefix)) << said;
  if (cuda_available()) {
    EXPECT_TRUE(said.find("GPU(s) are usable") != std::string::npos) << said;
  } else {
    EXPECT_TRUE(starts_with(said, prefix + "no GPU is usable: ")) << said;
  }
  EXPECT_EQ(error_of([&] { (void)allocator_for(absent); }), said);
  EXPECT_EQ(error_of([&] { (void)memory_stats(absent); }), said);
  EXPECT_EQ(error_of([&] { (void)sync_stats(absent); }), said);
  EXPECT_EQ(error_of([&] { (void)Tensor::zeros({2}, DType::f32, absent); }), said);
  EXPECT_EQ(error_of([&] { (void)Tensor::zeros({2}, DType::f32, Device::cpu()).to(absent); }),
            said);
  // parse_device names the text it was given, and gives the same reason.
  const std::string parsed = error_of([] { (void)parse_device("cuda:63"); });
  EXPECT_EQ(parsed, "device 'cuda:63' requested, but " + said.substr(prefix.size()));
}

TEST(DeviceRegistry, ANegativeIndexIsRefused) {
  const std::string said = error_of([] { (void)backend::backend_for(Device::cuda(-1)); });
  EXPECT_TRUE(starts_with(said, "device cuda:-1 requested, but ")) << said;
}

TEST(DeviceRegistry, TheCpuIsAlwaysThere) {
  EXPECT_EQ(backend::backend_for(Device::cpu()).device(), Device::cpu());
  EXPECT_EQ(&allocator_for(Device::cpu()), &allocator_for(parse_device("cpu")));
}

// One TF32 switch: what set_allow_tf32 sets is what tf32_allowed (and the CUDA backend) reads.
TEST(DeviceRegistry, OneTf32Switch) {
  const bool before = tf32_allowed();
  set_allow_tf32(!before);
  EXPECT_EQ(tf32_allowed(), !before);
  set_allow_tf32(before);
  EXPECT_EQ(tf32_allowed(), before);
}

}  // namespace
}  // namespace kiln
