// Multi-tensor Adam and SGD (see optimizers.cuh). Each launch carries up to kMaxTensorsPerLaunch
// tensors in a by-value argument; block b works on a fixed slice of the tensor whose range of
// blocks [block_start[t], block_start[t + 1]) contains b. The per-element arithmetic is the CPU
// backend's, in the same order.
#include <algorithm>

#include "../cuda_check.h"
#include "launch.cuh"
#include "optimizers.cuh"

namespace kiln::cuda::kernels {

namespace {

constexpr std::int64_t kElementsPerBlock = kThreads * 4;

struct TensorTable {
  float* params[kMaxTensorsPerLaunch];
  const float* grads[kMaxTensorsPerLaunch];
  float* first[kMaxTensorsPerLaunch];   // Adam m / SGD velocity (may be null)
  float* second[kMaxTensorsPerLaunch];  // Adam v
  std::int64_t sizes[kMaxTensorsPerLaunch];
  int block_start[kMaxTensorsPerLaunch + 1];
  int count;
};

// The tensor of this block and the element range [begin, end) it owns.
__device__ int locate(const TensorTable& table, std::int64_t* begin, std::int64_t* end) {
  int t = 0;
  while (t + 1 < table.count && static_cast<int>(blockIdx.x) >= table.block_start[t + 1]) ++t;
  *begin = static_cast<std::int64_t>(blockIdx.x - table.block_start[t]) * kElementsPerBlock;
  *end = min(*begin + kElementsPerBlock, table.sizes[t]);
  return t;
}

__global__ void increment_step_kernel(std::int32_t* step) { *step += 1; }

__global__ void adam_kernel(const __grid_constant__ TensorTable table, AdamScalars s) {
  __shared__ float step_size;
  if (threadIdx.x == 0) {  // the host's old formula, in double, from the device's t and lr
    const double t = static_cast<double>(*s.step);
    step_size = static_cast<float>(*s.learning_rate * sqrt(1.0 - pow(s.beta2, t)) /
                                   (1.0 - pow(s.beta1, t)));
  }
  __syncthreads();
  std::int64_t begin = 0, end = 0;
  const int t = locate(table, &begin, &end);
  float* p = table.params[t];
  const float* g = table.grads[t];
  float* m = table.first[t];
  float* v = table.second[t];
  for (std::int64_t i = begin + threadIdx.x; i < end; i += blockDim.x) {
    const float grad = g[i];
    const float first = s.b1 * m[i] + s.one_minus_beta1 * grad;
    const float second = s.b2 * v[i] + s.one_minus_beta2 * grad * grad;
    m[i] = first;
    v[i] = second;
    p[i] -= step_size * first / (sqrtf(second) + s.epsilon);
  }
}

__global__ void sgd_kernel(const __grid_constant__ TensorTable table, SgdScalars s) {
  std::int64_t begin = 0, end = 0;
  const int t = locate(table, &begin, &end);
  float* p = table.params[t];
  const float* g = table.grads[t];
  float* velocity = table.first[t];
  for (std::int64_t i = begin + threadIdx.x; i < end; i += blockDim.x) {
    if (velocity == nullptr) {
      p[i] -= s.learning_rate * g[i];
      continue;
    }
    const float updated = s.momentum * velocity[i] - s.learning_rate * g[i];
    velocity[i] = updated;
    p[i] += s.nesterov ? s.momentum * updated - s.learning_rate * g[i] : updated;
  }
}

// Fills `table` with tensors [first, first + n) and returns the number of blocks to launch.
int build_table(TensorTable& table, int first, int n, float* const* params,
                const float* const* grads, float* const* m, float* const* v,
                const std::int64_t* sizes) {
  table.count = n;
  int blocks = 0;
  for (int i = 0; i < n; ++i) {
    const int t = first + i;
    table.params[i] = params[t];
    table.grads[i] = grads[t];
    table.first[i] = m != nullptr ? m[t] : nullptr;
    table.second[i] = v != nullptr ? v[t] : nullptr;
    table.sizes[i] = sizes[t];
    table.block_start[i] = blocks;
    blocks += static_cast<int>((sizes[t] + kElementsPerBlock - 1) / kElementsPerBlock);
  }
  table.block_start[n] = blocks;
  return blocks;
}

template <class Launch>
void for_each_launch(int count, float* const* params, const float* const* grads, float* const* m,
                     float* const* v, const std::int64_t* sizes, Launch&& launch) {
  for (int first = 0; first < count; first += kMaxTensorsPerLaunch) {
    const int n = std::min(kMaxTensorsPerLaunch, count - first);
    TensorTable table{};
    const int blocks = build_table(table, first, n, params, grads, m, v, sizes);
    if (blocks > 0) launch(table, blocks);
  }
}

}  // namespace

void adam_update(int count, float* const* params, const float* const* grads, float* const* m,
                 float* const* v, const std::int64_t* sizes, const AdamScalars& scalars,
                 cudaStream_t stream) {
  increment_step_kernel<<<1, 1, 0, stream>>>(scalars.step);
  KILN_CUDA_LAUNCH_CHECK();
  for_each_launch(count, params, grads, m, v, sizes, [&](const TensorTable& table, int blocks) {
    adam_kernel<<<blocks, kThreads, 0, stream>>>(table, scalars);
    KILN_CUDA_LAUNCH_CHECK();
  });
}

void sgd_update(int count, float* const* params, const float* const* grads, float* const* velocity,
                const std::int64_t* sizes, const SgdScalars& scalars, cudaStream_t stream) {
  for_each_launch(count, params, grads, velocity, nullptr, sizes,
                  [&](const TensorTable& table, int blocks) {
                    sgd_kernel<<<blocks, kThreads, 0, stream>>>(table, scalars);
                    KILN_CUDA_LAUNCH_CHECK();
                  });
}

}  // namespace kiln::cuda::kernels
