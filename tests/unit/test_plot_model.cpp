// The odd/even experiment's graph: its shapes, parameters, connections and its picture.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "kiln/error.h"
#include "kiln/plot_model.h"

namespace kiln {
namespace {

namespace fs = std::filesystem;

TEST(PlotModel, OddEvenModelHasTheSeedsShapes) {
  clear_session();
  auto model = odd_even_model();
  EXPECT_EQ(model->output_names(), (std::vector<std::string>{"num_out", "odd_out"}));
  EXPECT_EQ(model->layer_output_shape("concatenate"), (Shape{3200 + 784}));
  EXPECT_EQ(model->inbound_layers("concatenate"),
            (std::vector<std::string>{"flatten_1", "flatten_2"}));
  EXPECT_EQ(model->inbound_layers("odd_out"), (std::vector<std::string>{"flatten_2"}));
  // conv_1 640 + conv_2 73,856 + num_out (3984*10 + 10) + odd_out (784 + 1)
  EXPECT_EQ(model->count_params(), 640 + 73856 + 39850 + 785);
  EXPECT_NE(model->summary().find("['flatten_1[0][0]',"), std::string::npos) << model->summary();
}

TEST(PlotModel, DotTextAndPicture) {
  clear_session();
  auto model = odd_even_model();
  const std::string dot = model_to_dot(*model);
  EXPECT_NE(dot.find("\"flatten_1\" -> \"concatenate\""), std::string::npos) << dot;
  EXPECT_NE(dot.find("\"flatten_2\" -> \"odd_out\""), std::string::npos) << dot;
  EXPECT_NE(dot.find("conv_1 | Conv2D | output: (None, 26, 26, 64)"), std::string::npos) << dot;

  const fs::path dir = fs::temp_directory_path() / ("kiln_plot_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  const std::string png = (dir / "model.png").string();
  plot_model(*model, png);
  std::ifstream in(png, std::ios::binary);
  char magic[8] = {};
  in.read(magic, 8);
  EXPECT_EQ(std::string(magic + 1, 3), "PNG");
  plot_model(*model, (dir / "model.svg").string());
  EXPECT_GT(fs::file_size(dir / "model.svg"), 1000u);
  EXPECT_THROW(plot_model(*model, (dir / "model.gif").string()), Error);
  EXPECT_THROW(plot_model(*model, (dir / "missing" / "model.png").string()), Error);
  EXPECT_FALSE(fs::exists(dir / "model.gif"));
  std::size_t files = 0;
  for (const auto& entry : fs::directory_iterator(dir)) files += entry.is_regular_file();
  EXPECT_EQ(files, 2u);  // no temp files left behind
  fs::remove_all(dir);
}

}  // namespace
}  // namespace kiln
