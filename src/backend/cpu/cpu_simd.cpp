// CPU kernels with one clone per instruction set (cpu_simd.h). The vectors are GCC vector
// extensions of 16 floats: one AVX-512 register, two AVX2 ones, four SSE2 ones; each clone
// compiles the same source for its width, and the loader picks the clone (an ifunc) once.
#include "backend/cpu/cpu_simd.h"

#include <cstring>
#include <vector>

#if defined(__x86_64__) && defined(__GNUC__)
#define KILN_SIMD_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define KILN_SIMD_CLONES
#endif

namespace kiln::backend::cpu {

namespace {

using Floats16 = float __attribute__((vector_size(64)));
using Floats8 = float __attribute__((vector_size(32)));
using Floats4 = float __attribute__((vector_size(16)));
constexpr std::int64_t kLanes = 16;

// Helpers take and return no vectors (that would change the ABI between the clones) and are
// always inlined, so that each clone compiles them for its own instruction set.
#define KILN_INLINE [[gnu::always_inline]] inline

// acc += source[0..n) * weight[0..n) for a vector of n floats
template <class Vector>
KILN_INLINE void multiply_add(Vector& acc, const float* source, const float* weight) {
  Vector s, w;
  std::memcpy(&s, source, sizeof s);
  std::memcpy(&w, weight, sizeof w);
  acc += s * w;
}

// out[o .. o + n) for one vector of n floats: the channels' weighted sums.
template <class Vector>
KILN_INLINE void weighted_sum_block(const float* const* source, const float* const* weight,
                                    int count, std::int64_t o, float* out) {
  Vector a = {};
  for (int i = 0; i < count; ++i) multiply_add(a, source[i] + o, weight[i] + o);
  std::memcpy(out + o, &a, sizeof a);
}

// The first and one past the last tap of a window starting at `start` that fall inside [0, extent).
struct Taps {
  std::int64_t first = 0, last = 0;
};

KILN_INLINE Taps taps_inside(std::int64_t start, std::int64_t taps, std::int64_t extent) {
  Taps t{start < 0 ? -start : 0, extent - start < taps ? extent - start : taps};
  if (t.last < t.first) t.last = t.first;
  return t;
}

// out[o] = sum over i < count of source[i][o] * weight[i][o], for o < channels; the products
// added in order i = 0, 1, ... (as pixel[o] += … in the plain loop).
KILN_INLINE void weighted_sum(const float* const* source, const float* const* weight, int count,
                              std::int64_t channels, float* out) {
  std::int64_t o = 0;
  for (; o + 2 * kLanes <= channels; o += 2 * kLanes) {
    Floats16 a = {}, b = {};
    for (int i = 0; i < count; ++i) {
      multiply_add(a, source[i] + o, weight[i] + o);
      multiply_add(b, source[i] + o + kLanes, weight[i] + o + kLanes);
    }
    std::memcpy(out + o, &a, sizeof a);
    std::memcpy(out + o + kLanes, &b, sizeof b);
  }
  // The rest in 16, 8 and 4 channels (BlazeFace has 24, 28, 42, …; CenterNet 40, 72, 120, …).
  for (; o + 16 <= channels; o += 16) weighted_sum_block<Floats16>(source, weight, count, o, out);
  for (; o + 8 <= channels; o += 8) weighted_sum_block<Floats8>(source, weight, count, o, out);
  for (; o + 4 <= channels; o += 4) weighted_sum_block<Floats4>(source, weight, count, o, out);
  for (; o < channels; ++o) {
    float s = 0;
    for (int i = 0; i < count; ++i) s += source[i][o] * weight[i][o];
    out[o] = s;
  }
}

// The clones have internal linkage, called through the functions of cpu_simd.h: GCC exports the
// resolver of an external target_clones function even under -fvisibility=hidden
// (scripts/check-exports.sh would see it), not that of a static one.
KILN_SIMD_CLONES
void depthwise_rows(const Conv2dGeometry& g, const float* x, const float* w, float* y,
                    std::int64_t first_row, std::int64_t last_row) {
  const auto max_taps = static_cast<std::size_t>(g.kh * g.kw);
  std::vector<const float*> source(max_taps), weight(max_taps);
  for (std::int64_t row = first_row; row < last_row; ++row) {
    const std::int64_t b = row / g.oh, oy = row % g.oh;
    const Taps ky = taps_inside(oy * g.stride_h - g.pad_top, g.kh, g.h);
    for (std::int64_t ox = 0; ox < g.ow; ++ox) {
      const std::int64_t x0 = ox * g.stride_w - g.pad_left;
      const Taps kx = taps_inside(x0, g.kw, g.w);
      int count = 0;
      for (std::int64_t ty = ky.first; ty < ky.last; ++ty) {
        const std::int64_t iy = oy * g.stride_h - g.pad_top + ty;
        for (std::int64_t tx = kx.first; tx < kx.last; ++tx, ++count) {
          source[static_cast<std::size_t>(count)] = x + ((b * g.h + iy) * g.w + x0 + tx) * g.c;
          weight[static_cast<std::size_t>(count)] = w + (ty * g.kw + tx) * g.c;
        }
      }
      weighted_sum(source.data(), weight.data(), count, g.c, y + (row * g.ow + ox) * g.c);
    }
  }
}

KILN_SIMD_CLONES
void hard_swish_vector(const float* x, float scale, float shift, float* y, std::int64_t count) {
#pragma omp simd
  for (std::int64_t i = 0; i < count; ++i) {
    float r = x[i] + shift;
    r = r < 0.0f ? 0.0f : r;  // NaN stays NaN, as in relu6
    r = r > 6.0f ? 6.0f : r;
    y[i] = (x[i] * scale) * r;
  }
}

}  // namespace

void depthwise_forward_rows(const Conv2dGeometry& g, const float* x, const float* w, float* y,
                            std::int64_t first_row, std::int64_t last_row) {
  depthwise_rows(g, x, w, y, first_row, last_row);
}

void hard_swish(const float* x, float scale, float shift, float* y, std::int64_t count) {
  hard_swish_vector(x, scale, shift, y, count);
}

}  // namespace kiln::backend::cpu
