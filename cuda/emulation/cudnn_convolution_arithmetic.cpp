// The arithmetic of the cuDNN stand-in's convolution algorithms (Note [Emulated algorithms] in
// cudnn_convolution_algorithms.cpp): 2-D cross-correlation of f32 tensors, accumulated in double,
// blended as out = alpha * result + beta * out (out not read when beta == 0). Workspace contents
// are read and written with memcpy, so a workspace need not be aligned.
#include <cstring>

#include "cudnn_convolution.h"
#include "emulator.h"

namespace kiln::emu::cudnn {

namespace {

std::int64_t at(const Strides& st, std::int64_t n, std::int64_t c, std::int64_t h, std::int64_t w) {
  return n * st.n + c * st.c + h * st.h + w * st.w;
}

// The filter offset of tap t = (r * s_extent + s) * c_extent + c.
std::int64_t tap_filter_offset(const ConvolutionProblem& p, std::int64_t t) {
  const std::int64_t c = t % p.c;
  const std::int64_t s = t / p.c % p.s;
  const std::int64_t r = t / (std::int64_t{p.c} * p.s);
  return c * p.filter.c + r * p.filter.h + s * p.filter.w;
}

double product(float a, float b, bool tf32) {
  if (tf32) return static_cast<double>(round_to_tf32(a)) * round_to_tf32(b);
  return static_cast<double>(a) * b;
}

void store(const ConvolutionRun& run, std::int64_t index, double result) {
  double value = run.alpha * result;
  if (run.beta != 0.0) value += run.beta * run.out[index];
  run.out[index] = static_cast<float>(value);
}

template <class T>
void write_at(void* base, std::int64_t index, T value) {
  std::memcpy(static_cast<unsigned char*>(base) + index * sizeof(T), &value, sizeof(T));
}

template <class T>
T read_at(const void* base, std::int64_t index) {
  T value;
  std::memcpy(&value, static_cast<const unsigned char*>(base) + index * sizeof(T), sizeof(T));
  return value;
}

bool inside(int coordinate, int extent) { return coordinate >= 0 && coordinate < extent; }

// The output coordinate whose window puts filter tap `tap` on input coordinate `in`, or -1.
int source_output(int in, int tap, int pad, int stride, int out_extent) {
  const int shifted = in + pad - tap;
  if (shifted < 0 || shifted % stride != 0) return -1;
  return shifted / stride < out_extent ? shifted / stride : -1;
}

// im2col: row (n, oy, ox) holds the taps (r, s, c) of its window, 0 in the padding.
void write_columns(const ConvolutionProblem& p, const float* x, void* columns) {
  std::int64_t index = 0;
  for (int n = 0; n < p.n; ++n) {
    for (int oy = 0; oy < p.oh; ++oy) {
      for (int ox = 0; ox < p.ow; ++ox) {
        for (int r = 0; r < p.r; ++r) {
          const int iy = oy * p.stride_h - p.pad_h + r;
          for (int s = 0; s < p.s; ++s) {
            const int ix = ox * p.stride_w - p.pad_w + s;
            for (int c = 0; c < p.c; ++c) {
              const bool in = inside(iy, p.h) && inside(ix, p.w);
              write_at(columns, index++, in ? x[at(p.x, n, c, iy, ix)] : 0.0f);
            }
          }
        }
      }
    }
  }
}

double forward_window_sum(const ConvolutionRun& run, int n, int oy, int ox, int k) {
  const ConvolutionProblem& p = *run.problem;
  double sum = 0.0;
  for (int r = 0; r < p.r; ++r) {
    const int iy = oy * p.stride_h - p.pad_h + r;
    if (!inside(iy, p.h)) continue;
    for (int s = 0; s < p.s; ++s) {
      const int ix = ox * p.stride_w - p.pad_w + s;
      if (!inside(ix, p.w)) continue;
      for (int c = 0; c < p.c; ++c) {
        sum += product(run.a[at(p.x, n, c, iy, ix)], run.b[at(p.filter, k, c, r, s)], run.tf32);
      }
    }
  }
  return sum;
}

void forward_implicit_gemm(const ConvolutionRun& run) {
  const ConvolutionProblem& p = *run.problem;
  for (int n = 0; n < p.n; ++n) {
    for (int oy = 0; oy < p.oh; ++oy) {
      for (int ox = 0; ox < p.ow; ++ox) {
        for (int k = 0; k < p.k; ++k) {
          store(run, at(p.y, n, k, oy, ox), forward_window_sum(run, n, oy, ox, k));
        }
      }
    }
  }
}

void write_taps(const ConvolutionProblem& p, void* table) {
  std::int64_t index = 0;
  for (int r = 0; r < p.r; ++r) {
    for (int s = 0; s < p.s; ++s) {
      for (int c = 0; c < p.c; ++c) {
        const Tap tap{r, s, at(p.x, 0, c, r, s), at(p.filter, 0, c, r, s)};
        write_at(table, index++, tap);
      }
    }
  }
}

double forward_tap_sum(const ConvolutionRun& run, int n, int oy, int ox, int k) {
  const ConvolutionProblem& p = *run.problem;
  const int top = oy * p.stride_h - p.pad_h;
  const int left = ox * p.stride_w - p.pad_w;
  const std::int64_t base = at(p.x, n, 0, top, left);  // may lie outside x; only in-bounds taps add
  double sum = 0.0;
  for (std::int64_t t = 0; t < p.taps(); ++t) {
    const Tap tap = read_at<Tap>(run.workspace, t);
    if (!inside(top + tap.r, p.h) || !inside(left + tap.s, p.w)) continue;
    sum += product(run.a[base + tap.x_offset], run.b[k * p.filter.n + tap.w_offset], run.tf32);
  }
  return sum;
}

void forward_implicit_precomp_gemm(const ConvolutionRun& run) {
  const ConvolutionProblem& p = *run.problem;
  write_taps(p, run.workspace);
  for (int n = 0; n < p.n; ++n) {
    for (int oy = 0; oy < p.oh; ++oy) {
      for (int ox = 0; ox < p.ow; ++ox) {
        for (int k = 0; k < p.k; ++k) {
          store(run, at(p.y, n, k, oy, ox), forward_tap_sum(run, n, oy, ox, k));
        }
      }
    }
  }
}

void forward_gemm(const ConvolutionRun& run) {
  const ConvolutionProblem& p = *run.problem;
  write_columns(p, run.a, run.workspace);
  std::int64_t row = 0;
  for (int n = 0; n < p.n; ++n) {
    for (int oy = 0; oy < p.oh; ++oy) {
      for (int ox = 0; ox < p.ow; ++ox, ++row) {
        for (int k = 0; k < p.k; ++k) {
          double sum = 0.0;
          for (std::int64_t t = 0; t < p.taps(); ++t) {
            const float column = read_at<float>(run.workspace, row * p.taps() + t);
            sum += product(column, run.b[k * p.filter.n + tap_filter_offset(p, t)], run.tf32);
          }
          store(run, at(p.y, n, k, oy, ox), sum);
        }
      }
    }
  }
}

double backward_data_gather(const ConvolutionRun& run, int n, int iy, int ix, int c) {
  const ConvolutionProblem& p = *run.problem;
  double sum = 0.0;
  for (int r = 0; r < p.r; ++r) {
    const int oy = source_output(iy, r, p.pad_h, p.stride_h, p.oh);
    if (oy < 0) continue;
    for (int s = 0; s < p.s; ++s) {
      const int ox = source_output(ix, s, p.pad_w, p.stride_w, p.ow);
      if (ox < 0) continue;
      for (int k = 0; k < p.k; ++k) {
        sum += product(run.a[at(p.y, n, k, oy, ox)], run.b[at(p.filter, k, c, r, s)], run.tf32);
      }
    }
  }
  return sum;
}

// The column gradient: col[(n, oy, ox), t] = sum over k of dy[n, k, oy, ox] * w[k, t].
void write_column_gradient(const ConvolutionRun& run) {
  const ConvolutionProblem& p = *run.problem;
  std::int64_t row = 0;
  for (int n = 0; n < p.n; ++n) {
    for (int oy = 0; oy < p.oh; ++oy) {
      for (int ox = 0; ox < p.ow; ++ox, ++row) {
        for (std::int64_t t = 0; t < p.taps(); ++t) {
          double sum = 0.0;
          for (int k = 0; k < p.k; ++k) {
            sum += product(run.a[at(p.y, n, k, oy, ox)],
                           run.b[k * p.filter.n + tap_filter_offset(p, t)], run.tf32);
          }
          write_at(run.workspace, row * p.taps() + t, sum);
        }
      }
    }
  }
}

// col2im: dx[n, c, iy, ix] = sum of the column entries that tap (n, c, iy, ix).
double backward_data_column_sum(const ConvolutionRun& run, int n, int iy, int ix, int c) {
  const ConvolutionProblem& p = *run.problem;
  double sum = 0.0;
  for (int r = 0; r < p.r; ++r) {
    const int oy = source_output(iy, r, p.pad_h, p.stride_h, p.oh);
    if (oy < 0) continue;
    for (int s = 0; s < p.s; ++s) {
      const int ox = source_output(ix, s, p.pad_w, p.stride_w, p.ow);
      if (ox < 0) continue;
      const std::int64_t row = (std::int64_t{n} * p.oh + oy) * p.ow + ox;
      const std::int64_t t = (std::int64_t{r} * p.s + s) * p.c + c;
      sum += read_at<double>(run.workspace, row * p.taps() + t);
    }
  }
  return sum;
}

template <class Sum>
void for_each_input(const ConvolutionRun& run, Sum&& sum) {
  const ConvolutionProblem& p = *run.problem;
  for (int n = 0; n < p.n; ++n) {
    for (int iy = 0; iy < p.h; ++iy) {
      for (int ix = 0; ix < p.w; ++ix) {
        for (int c = 0; c < p.c; ++c) store(run, at(p.x, n, c, iy, ix), sum(run, n, iy, ix, c));
      }
    }
  }
}

double backward_filter_sum(const ConvolutionRun& run, int k, int r, int s, int c) {
  const ConvolutionProblem& p = *run.problem;
  double sum = 0.0;
  for (int n = 0; n < p.n; ++n) {
    for (int oy = 0; oy < p.oh; ++oy) {
      const int iy = oy * p.stride_h - p.pad_h + r;
      if (!inside(iy, p.h)) continue;
      for (int ox = 0; ox < p.ow; ++ox) {
        const int ix = ox * p.stride_w - p.pad_w + s;
        if (!inside(ix, p.w)) continue;
        sum += product(run.a[at(p.x, n, c, iy, ix)], run.b[at(p.y, n, k, oy, ox)], run.tf32);
      }
    }
  }
  return sum;
}

// dw[k, t] = sum over rows (n, oy, ox) of col[row, t] * dy[n, k, oy, ox].
double backward_filter_column_sum(const ConvolutionRun& run, int k, std::int64_t t) {
  const ConvolutionProblem& p = *run.problem;
  double sum = 0.0;
  std::int64_t row = 0;
  for (int n = 0; n < p.n; ++n) {
    for (int oy = 0; oy < p.oh; ++oy) {
      for (int ox = 0; ox < p.ow; ++ox, ++row) {
        const float column = read_at<float>(run.workspace, row * p.taps() + t);
        sum += product(column, run.b[at(p.y, n, k, oy, ox)], run.tf32);
      }
    }
  }
  return sum;
}

}  // namespace

double forward_output_sum(const ConvolutionProblem& p, const float* x, const float* w, int n,
                          int oy, int ox, int k, bool tf32) {
  ConvolutionRun run;
  run.problem = &p;
  run.a = x;
  run.b = w;
  run.tf32 = tf32;
  return forward_window_sum(run, n, oy, ox, k);
}

void run_forward(const ConvolutionRun& run) {
  switch (run.algo) {
    case CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_GEMM: return forward_implicit_gemm(run);
    case CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_PRECOMP_GEMM:
      return forward_implicit_precomp_gemm(run);
    case CUDNN_CONVOLUTION_FWD_ALGO_GEMM: return forward_gemm(run);
    default: break;
  }
}

void run_backward_data(const ConvolutionRun& run) {
  if (run.algo == CUDNN_CONVOLUTION_BWD_DATA_ALGO_0)
    return for_each_input(run, backward_data_gather);
  write_column_gradient(run);
  for_each_input(run, backward_data_column_sum);
}

void run_backward_filter(const ConvolutionRun& run) {
  const ConvolutionProblem& p = *run.problem;
  const bool columns = run.algo == CUDNN_CONVOLUTION_BWD_FILTER_ALGO_1;
  if (columns) write_columns(p, run.a, run.workspace);
  for (int k = 0; k < p.k; ++k) {
    std::int64_t t = 0;
    for (int r = 0; r < p.r; ++r) {
      for (int s = 0; s < p.s; ++s) {
        for (int c = 0; c < p.c; ++c, ++t) {
          const double sum = columns ? backward_filter_column_sum(run, k, t)
                                     : backward_filter_sum(run, k, r, s, c);
          store(run, at(p.filter, k, c, r, s), sum);
        }
      }
    }
  }
}

}  // namespace kiln::emu::cudnn
