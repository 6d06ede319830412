// Every elementwise, activation, softmax, loss, reduction, randomness, optimizer and data kernel
// of the CUDA backend against the CPU backend on the same random inputs (DESIGN.md: f32,
// elementwise <= 1e-6, everything else <= 1e-5 in max-norm relative error; integer and routing
// results exactly).
#include <cmath>
#include <cstdint>
#include <vector>

#include "cuda_test_util.h"

namespace kiln::cuda_test {
namespace {

Tensor labels_for(std::int64_t rows, std::int64_t classes, std::uint64_t seed) {
  std::vector<std::int32_t> labels(static_cast<std::size_t>(rows));
  const std::vector<float> u = random({rows}, seed, 0.0, 1.0).to_vector<float>();
  for (std::size_t i = 0; i < labels.size(); ++i) {
    labels[i] =
        std::min<std::int32_t>(static_cast<std::int32_t>(u[i] * static_cast<float>(classes)),
                               static_cast<std::int32_t>(classes - 1));
  }
  return Tensor::from_vector(labels, {rows});
}

TEST(CudaKernels, FillMatchesCpuForEveryDtype) {
  KILN_SKIP_WITHOUT_GPU();
  for (DType dtype : {DType::f32, DType::u8, DType::i32}) {
    for (double value : {3.75, -2.5, 300.0, 0.0, 1e10}) {
      Tensor expected = Tensor::empty({1001}, dtype);
      cpu().fill(expected, value);
      Tensor actual = Tensor::empty({1001}, dtype, cuda0());
      gpu().fill(actual, value);
      EXPECT_EQ(relative_error(actual, expected), 0.0) << dtype_name(dtype) << " " << value;
    }
  }
}

TEST(CudaKernels, AxpyAndMultiply) {
  KILN_SKIP_WITHOUT_GPU();
  const Tensor x = random({10007}, 1);
  const Tensor y = random({10007}, 2);
  Tensor yc = y.clone();
  cpu().axpy(0.37, x, yc);
  Tensor yg = on_gpu(y);
  gpu().axpy(0.37, on_gpu(x), yg);
  EXPECT_CLOSE(yg, yc, kElementwise);

  Tensor pc = Tensor::empty({10007});
  cpu().multiply(x, y, pc);
  Tensor pg = Tensor::empty({10007}, DType::f32, cuda0());
  gpu().multiply(on_gpu(x), on_gpu(y), pg);
  EXPECT_CLOSE(pg, pc, kElementwise);
}

TEST(CudaKernels, CastBetweenEveryDtypePair) {
  KILN_SKIP_WITHOUT_GPU();
  const Tensor source = random({513}, 3, -300.0, 300.0);
  for (DType from : {DType::f32, DType::u8, DType::i32}) {
    const Tensor src = source.astype(from);
    for (DType to : {DType::f32, DType::u8, DType::i32}) {
      for (double scale : {1.0, 0.5, -1.5}) {
        Tensor expected = Tensor::empty({513}, to);
        cpu().cast(src, expected, scale);
        Tensor actual = Tensor::empty({513}, to, cuda0());
        gpu().cast(on_gpu(src), actual, scale);
        EXPECT_EQ(relative_error(actual, expected), 0.0)
            << dtype_name(from) << " -> " << dtype_name(to) << " scale " << scale;
      }
    }
  }
}

TEST(CudaKernels, CopyColumnsAssignsAndAccumulates) {
  KILN_SKIP_WITHOUT_GPU();
  const Tensor src = random({7, 10}, 4);
  const Tensor dst = random({7, 12}, 5);
  for (bool accumulate : {false, true}) {
    Tensor dc = dst.clone();
    cpu().copy_columns(src, 10, 3, dc, 12, 4, 7, 6, accumulate);
    Tensor dg = on_gpu(dst);
    gpu().copy_columns(on_gpu(src), 10, 3, dg, 12, 4, 7, 6, accumulate);
    EXPECT_CLOSE(dg, dc, kElementwise);
  }
  const Tensor isrc = src.astype(DType::i32);
  Tensor ic = Tensor::zeros({7, 5}, DType::i32);
  cpu().copy_columns(isrc, 10, 5, ic, 5, 0, 7, 5, false);
  Tensor ig = Tensor::zeros({7, 5}, DType::i32, cuda0());
  gpu().copy_columns(on_gpu(isrc), 10, 5, ig, 5, 0, 7, 5, false);
  expect_equal<std::int32_t>(ig, ic);
}

TEST(CudaKernels, ActivationsForwardAndBackward) {
  KILN_SKIP_WITHOUT_GPU();
  const Tensor x = random({4099}, 6, -4.0, 4.0);
  const Tensor dy = random({4099}, 7);
  for (backend::Pointwise f :
       {backend::Pointwise::relu, backend::Pointwise::sigmoid, backend::Pointwise::tanh}) {
    Tensor yc = Tensor::empty({4099});
    cpu().pointwise_forward(f, x, yc);
    Tensor yg = Tensor::empty({4099}, DType::f32, cuda0());
    gpu().pointwise_forward(f, on_gpu(x), yg);
    EXPECT_CLOSE(yg, yc, kElementwise) << "activation " << static_cast<int>(f);

    Tensor dxc = Tensor::empty({4099});
    cpu().pointwise_backward(f, yc, dy, dxc);
    Tensor dxg = Tensor::empty({4099}, DType::f32, cuda0());
    gpu().pointwise_backward(f, on_gpu(yc), on_gpu(dy), dxg);
    EXPECT_CLOSE(dxg, dxc, kElementwise) << "activation " << static_cast<int>(f);
  }
}

TEST(CudaKernels, SoftmaxForwardAndBackward) {
  KILN_SKIP_WITHOUT_GPU();
  for (std::int64_t classes : {10, 1000}) {
    const Tensor x = random({37, classes}, 8, -5.0, 5.0);
    const Tensor dy = random({37, classes}, 9);
    Tensor yc = Tensor::empty({37, classes});
    cpu().softmax_forward(x, yc);
    Tensor yg = Tensor::empty({37, classes}, DType::f32, cuda0());
    gpu().softmax_forward(on_gpu(x), yg);
    EXPECT_CLOSE(yg, yc, kStrict) << classes << " classes";

    Tensor dxc = Tensor::empty({37, classes});
    cpu().softmax_backward(yc, dy, dxc);
    Tensor dxg = Tensor::empty({37, classes}, DType::f32, cuda0());
    gpu().softmax_backward(on_gpu(yc), on_gpu(dy), dxg);
    EXPECT_CLOSE(dxg, dxc, kStrict) << classes << " classes";
  }
}

// Softmax cross-entropy with i32 labels, one-hot rows and soft (unnormalised) weights.
TEST(CudaKernels, SoftmaxCrossEntropyForwardAndBackward) {
  KILN_SKIP_WITHOUT_GPU();
  const std::int64_t rows = 64;
  for (std::int64_t classes : {10, 77}) {
    const Tensor logits = random({rows, classes}, 10, -6.0, 6.0);
    const Tensor labels = labels_for(rows, classes, 11);
    Tensor one_hot = Tensor::empty({rows, classes});
    cpu().one_hot(labels, one_hot);
    const Tensor soft = random({rows, classes}, 12, 0.0, 1.0);
    const Tensor dloss = random({rows}, 13);
    for (const Tensor& target : {labels, one_hot, soft}) {
      Tensor pc = Tensor::empty({rows, classes});
      Tensor lc = Tensor::empty({rows});
      cpu().softmax_cross_entropy_forward(logits, target, pc, lc);
      Tensor pg = Tensor::empty({rows, classes}, DType::f32, cuda0());
      Tensor lg = Tensor::empty({rows}, DType::f32, cuda0());
      gpu().softmax_cross_entropy_forward(on_gpu(logits), on_gpu(target), pg, lg);
      EXPECT_CLOSE(pg, pc, kStrict) << dtype_name(target.dtype());
      EXPECT_CLOSE(lg, lc, kStrict) << dtype_name(target.dtype());

      Tensor dc = Tensor::empty({rows, classes});
      cpu().softmax_cross_entropy_backward(pc, target, dloss, dc);
      Tensor dg = Tensor::empty({rows, classes}, DType::f32, cuda0());
      gpu().softmax_cross_entropy_backward(on_gpu(pc), on_gpu(target), on_gpu(dloss), dg);
      EXPECT_CLOSE(dg, dc, kStrict) << dtype_name(target.dtype());
    }
  }
}

TEST(CudaKernels, SigmoidCrossEntropyForwardAndBackward) {
  KILN_SKIP_WITHOUT_GPU();
  const Tensor z = random({33, 17}, 14, -8.0, 8.0);
  const Tensor t = random({33, 17}, 15, 0.0, 1.0);
  const Tensor dloss = random({33, 17}, 16);
  Tensor lc = Tensor::empty({33, 17});
  cpu().sigmoid_cross_entropy_forward(z, t, lc);
  Tensor lg = Tensor::empty({33, 17}, DType::f32, cuda0());
  gpu().sigmoid_cross_entropy_forward(on_gpu(z), on_gpu(t), lg);
  EXPECT_CLOSE(lg, lc, kElementwise);
  Tensor dc = Tensor::empty({33, 17});
  cpu().sigmoid_cross_entropy_backward(z, t, dloss, dc);
  Tensor dg = Tensor::empty({33, 17}, DType::f32, cuda0());
  gpu().sigmoid_cross_entropy_backward(on_gpu(z), on_gpu(t), on_gpu(dloss), dg);
  EXPECT_CLOSE(dg, dc, kElementwise);
}

TEST(CudaKernels, SumOfFloatsAndIntegers) {
  KILN_SKIP_WITHOUT_GPU();
  for (std::int64_t n : {1, 1000, 1000003}) {
    const Tensor x = random({n}, 17);
    Tensor sc = Tensor::empty({1});
    cpu().sum(x, sc);
    Tensor sg = Tensor::empty({1}, DType::f32, cuda0());
    gpu().sum(on_gpu(x), sg);
    EXPECT_CLOSE(sg, sc, kStrict) << n;

    const Tensor xi = random({n}, 18, 0.0, 1000.0).astype(DType::i32);
    Tensor ic = Tensor::empty({1}, DType::i32);
    cpu().sum(xi, ic);
    Tensor ig = Tensor::empty({1}, DType::i32, cuda0());
    gpu().sum(on_gpu(xi), ig);
    expect_equal<std::int32_t>(ig, ic);
  }
}

TEST(CudaKernels, ArgmaxTakesTheFirstOfEqualMaxima) {
  KILN_SKIP_WITHOUT_GPU();
  for (std::int64_t cols : {1, 10, 100}) {
    const Tensor x = random_with_ties({129, cols}, 19);
    Tensor ac = Tensor::empty({129}, DType::i32);
    cpu().argmax(x, ac);
    Tensor ag = Tensor::empty({129}, DType::i32, cuda0());
    gpu().argmax(on_gpu(x), ag);
    expect_equal<std::int32_t>(ag, ac);
  }
}

TEST(CudaKernels, DropoutMaskMatchesTheCpuBitForBit) {
  KILN_SKIP_WITHOUT_GPU();
  for (double rate : {0.0, 0.3, 0.9}) {
    Tensor mc = Tensor::empty({10007});
    cpu().dropout_mask(mc, rate, 42);
    Tensor mg = Tensor::empty({10007}, DType::f32, cuda0());
    gpu().dropout_mask(mg, rate, 42);
    expect_equal<float>(mg, mc);
  }
}

// Several tensors of awkward sizes, more than one launch's worth (kMaxTensorsPerLaunch = 32).
TEST(CudaKernels, AdamUpdatesEveryTensorInOneCall) {
  KILN_SKIP_WITHOUT_GPU();
  std::vector<std::int64_t> sizes = {1, 1000, 3000, 70001};
  for (int i = 0; i < 36; ++i) sizes.push_back(17 + i);
  std::vector<Tensor> pc, gc, mc, vc, pg, gg, mg, vg;
  for (std::size_t i = 0; i < sizes.size(); ++i) {
    const Tensor p = random({sizes[i]}, 100 + i);
    pc.push_back(p.clone());
    pg.push_back(on_gpu(p));
    mc.push_back(Tensor::zeros({sizes[i]}));
    vc.push_back(Tensor::zeros({sizes[i]}));
    mg.push_back(Tensor::zeros({sizes[i]}, DType::f32, cuda0()));
    vg.push_back(Tensor::zeros({sizes[i]}, DType::f32, cuda0()));
  }
  for (std::int64_t step = 1; step <= 3; ++step) {
    gc.clear();
    gg.clear();
    for (std::size_t i = 0; i < sizes.size(); ++i) {
      gc.push_back(random({sizes[i]}, 1000 * static_cast<std::uint64_t>(step) + i));
      gg.push_back(on_gpu(gc.back()));
    }
    backend::AdamStep s;
    s.step = step;
    cpu().adam_update(pc, gc, mc, vc, s);
    gpu().adam_update(pg, gg, mg, vg, s);
  }
  for (std::size_t i = 0; i < sizes.size(); ++i) {
    EXPECT_CLOSE(pg[i], pc[i], kStrict) << "parameter " << i;
    EXPECT_CLOSE(mg[i], mc[i], kStrict) << "m " << i;
    EXPECT_CLOSE(vg[i], vc[i], kStrict) << "v " << i;
  }
}

TEST(CudaKernels, SgdWithAndWithoutMomentum) {
  KILN_SKIP_WITHOUT_GPU();
  const Tensor p = random({5001}, 20);
  const Tensor g = random({5001}, 21);
  for (bool nesterov : {false, true}) {
    std::vector<Tensor> pc = {p.clone()}, gc = {g}, vc = {Tensor::zeros({5001})};
    std::vector<Tensor> pg = {on_gpu(p)}, gg = {on_gpu(g)},
                        vg = {Tensor::zeros({5001}, DType::f32, cuda0())};
    backend::SgdStep s;
    s.momentum = 0.9;
    s.nesterov = nesterov;
    for (int step = 0; step < 3; ++step) {
      cpu().sgd_update(pc, gc, vc, s);
      gpu().sgd_update(pg, gg, vg, s);
    }
    EXPECT_CLOSE(pg[0], pc[0], kStrict);
    EXPECT_CLOSE(vg[0], vc[0], kStrict);
  }
  std::vector<Tensor> pc = {p.clone()}, gc = {g};
  std::vector<Tensor> pg = {on_gpu(p)}, gg = {on_gpu(g)};
  cpu().sgd_update(pc, gc, {}, backend::SgdStep{});
  gpu().sgd_update(pg, gg, {}, backend::SgdStep{});
  EXPECT_CLOSE(pg[0], pc[0], kElementwise);
}

TEST(CudaKernels, GatherRowsOfAnyWidthAndOneHot) {
  KILN_SKIP_WITHOUT_GPU();
  const Tensor indices = labels_for(17, 50, 22);
  const Tensor images = random({50, 28, 28, 1}, 23);
  Tensor dc = Tensor::empty({17, 28, 28, 1});
  cpu().gather_rows(images, indices, dc);
  Tensor dg = Tensor::empty({17, 28, 28, 1}, DType::f32, cuda0());
  gpu().gather_rows(on_gpu(images), on_gpu(indices), dg);
  expect_equal<float>(dg, dc);

  const Tensor bytes = random({50, 3}, 24, 0.0, 255.0).astype(DType::u8);  // 3-byte rows
  Tensor bc = Tensor::empty({17, 3}, DType::u8);
  cpu().gather_rows(bytes, indices, bc);
  Tensor bg = Tensor::empty({17, 3}, DType::u8, cuda0());
  gpu().gather_rows(on_gpu(bytes), on_gpu(indices), bg);
  expect_equal<std::uint8_t>(bg, bc);

  const Tensor labels = labels_for(33, 10, 25);
  Tensor oc = Tensor::empty({33, 10});
  cpu().one_hot(labels, oc);
  Tensor og = Tensor::empty({33, 10}, DType::f32, cuda0());
  gpu().one_hot(on_gpu(labels), og);
  expect_equal<float>(og, oc);
}

TEST(CudaKernels, Float64IsRejectedWithAClearError) {
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

}  // namespace
}  // namespace kiln::cuda_test
