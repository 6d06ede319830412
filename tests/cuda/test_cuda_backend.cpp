// The CUDA backend's own behaviour beyond parity with the CPU (test_op_parity.cpp): what it
// refuses and how it says so, and what it reports about itself.
#include <string>

#include "cuda_test_util.h"
#include "kiln/build_info.h"

namespace kiln::cuda_test {
namespace {

TEST(CudaBackend, Float64IsRejectedWithAClearError) {
  KILN_SKIP_WITHOUT_GPU();
  EXPECT_THROW(Tensor::zeros({4}, DType::f64, cuda0()), Error);
  Tensor x = Tensor::empty({4}, DType::f64, cuda0());
  Tensor y = Tensor::empty({4}, DType::f64, cuda0());
  try {
    gpu().axpy(1.0, x, y);
    FAIL() << "expected kiln::Error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("float64"), std::string::npos) << e.what();
  }
}

// A float64 item() of a float32 device scalar: converted on the host (the device has no f64).
TEST(CudaBackend, ItemOfADeviceScalarConvertsOnTheHost) {
  KILN_SKIP_WITHOUT_GPU();
  const Tensor one = Tensor::full({1}, 2.5, DType::f32, cuda0());
  EXPECT_EQ(one.item(), 2.5);
  EXPECT_EQ(Tensor::full({1, 1}, -7.0, DType::i32, cuda0()).item(), -7.0);
}

// Note [Large batches] in cuda/cudnn_conv.cpp: a batch is split into calls of whole images; an
// image that alone exceeds cuDNN's 32-bit sizes is an error that says so.
TEST(CudaBackend, AnImageTooLargeForOneCudnnCallIsAClearError) {
  KILN_SKIP_WITHOUT_GPU();
  backend::Conv2dGeometry g;
  g.n = 2, g.h = 16, g.w = 16, g.c = 1, g.kh = 3, g.kw = 3, g.o = 2, g.oh = 14, g.ow = 14;
  cuda::set_cudnn_element_limit(100);  // one image has 256 elements
  const Tensor x = Tensor::zeros({2, 16, 16, 1}, DType::f32, cuda0());
  const Tensor w = Tensor::zeros({3, 3, 1, 2}, DType::f32, cuda0());
  Tensor y = Tensor::empty({2, 14, 14, 2}, DType::f32, cuda0());
  try {
    gpu().conv2d_forward(g, x, w, y);
    ADD_FAILURE() << "expected kiln::Error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("more than cuDNN's 32-bit sizes allow"), std::string::npos)
        << e.what();
  }
  cuda::set_cudnn_element_limit(0);
  EXPECT_EQ(cuda::cudnn_element_limit(), 2147483647);
}

TEST(CudaBackend, BuildInfoNamesTheLibrariesAndTheEmulation) {
  KILN_SKIP_WITHOUT_GPU();
  const std::string info = build_info();
  EXPECT_NE(info.find("cuDNN"), std::string::npos) << info;
  EXPECT_NE(info.find("(built with"), std::string::npos) << info;
  EXPECT_NE(info.find("cuda:0"), std::string::npos) << info;
  EXPECT_EQ(info.find("emulated on the CPU") != std::string::npos, cuda_emulated()) << info;
}

}  // namespace
}  // namespace kiln::cuda_test
