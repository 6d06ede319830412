// The whole seed model against PyTorch (float64) on a tiny batch, from the same weights: softmax
// outputs, gradients of the first and last kernels, and the losses of three Adam steps
// (tests/reference/torch_seed_reference.py computes them; Debian's python3-torch runs it).
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>

#include "kiln/model_io.h"

namespace kiln {
namespace {

namespace fs = std::filesystem;

template <class T>
void write_raw(const fs::path& path, const std::vector<T>& values) {
  std::ofstream out(path, std::ios::binary);
  out.write(reinterpret_cast<const char*>(values.data()),
            static_cast<std::streamsize>(values.size() * sizeof(T)));
}

void expect_close(const std::vector<float>& got, const std::vector<double>& want, double rtol,
                  double atol, const char* what) {
  ASSERT_EQ(got.size(), want.size()) << what;
  int reported = 0;
  for (std::size_t i = 0; i < got.size(); ++i) {
    if (std::abs(got[i] - want[i]) > atol + rtol * std::abs(want[i]) && reported++ < 5) {
      ADD_FAILURE() << what << "[" << i << "]: kiln " << got[i] << " vs PyTorch " << want[i];
    }
  }
}

TEST(TorchReference, SeedModelMatchesPyTorch) {
  const fs::path dir = fs::temp_directory_path() / ("kiln_torch_ref_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  clear_session();
  auto model = seed_model();
  model->compile(std::make_shared<Adam>(), "sparse_categorical_crossentropy");
  constexpr std::int64_t batch = 4;
  const Tensor x = Tensor::uniform({batch, 28, 28, 1}, 0.0, 1.0, 2024);
  const Tensor y = Tensor::from_vector<std::int32_t>({3, 7, 0, 9}, {batch});
  save_weights(*model, (dir / "weights.h5").string());
  write_raw(dir / "x.bin", x.to_vector<float>());
  write_raw(dir / "y.bin", y.to_vector<std::int32_t>());

  const std::string script =
      std::string(KILN_SOURCE_DIR) + "/tests/reference/torch_seed_reference.py";
  const std::string command = "/usr/bin/python3 " + script + " " + dir.string() + " 4";
  ASSERT_EQ(std::system(command.c_str()), 0) << "the PyTorch reference failed: " << command
                                             << " (needs Debian python3-torch and python3-h5py)";
  std::ifstream in(dir / "ref.json");
  const nlohmann::json ref = nlohmann::json::parse(in);

  expect_close(model->call(x).to_vector<float>(), ref["probs"].get<std::vector<double>>(), 1e-4,
               1e-6, "probs");
  std::vector<std::shared_ptr<Variable>> vars = model->weights();
  {
    GradientTape tape;
    tape.accumulate(sparse_categorical_crossentropy(y, model->call(x, true)), vars);
  }
  expect_close(vars[0]->grad().to_vector<float>(),
               ref["grad_conv2d_kernel"].get<std::vector<double>>(), 1e-3, 1e-6,
               "d loss / d conv2d kernel");
  expect_close(vars[8]->grad().to_vector<float>(),
               ref["grad_dense_2_kernel"].get<std::vector<double>>(), 1e-3, 1e-6,
               "d loss / d dense_2 kernel");

  const auto losses = ref["adam_losses"].get<std::vector<double>>();
  for (std::size_t step = 0; step < losses.size(); ++step) {
    const double loss =
        model->train_step({{model->input_names()[0], x}}, {{model->output_names()[0], y}})
            .to_host()
            .at("loss");
    EXPECT_NEAR(loss, losses[step], 1e-4 * std::abs(losses[step])) << "Adam step " << step + 1;
  }
  EXPECT_LT(losses.back(), losses.front());
  fs::remove_all(dir);
}

}  // namespace
}  // namespace kiln
