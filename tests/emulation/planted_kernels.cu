// The kernels of planted_kernels.h. Written as ordinary CUDA: this file is compiled by nvcc-free
// test builds only, through the emulation's rewrite (cuda/emulation/rewrite_cuda_source.py).
#include <cstddef>

#include "planted_kernels.h"

namespace kiln::emu_test {

namespace {

constexpr unsigned kFull = 0xffffffffu;

__device__ float warp_total(float value) {
  for (int offset = 16; offset > 0; offset /= 2) value += __shfl_xor_sync(kFull, value, offset);
  return value;
}

__global__ void block_sums_kernel(const float* in, float* out) {
  __shared__ float partial[256];
  __shared__ float warps[8];
  partial[threadIdx.x] = in[blockIdx.x * 256 + threadIdx.x];
  __syncthreads();
  float mine = partial[threadIdx.x];
  mine = warp_total(mine);
  if (threadIdx.x % 32 == 0) warps[threadIdx.x / 32] = mine;
  __syncthreads();
  if (threadIdx.x == 0) {
    float total = 0.0f;
    for (int w = 0; w < 8; ++w) total += warps[w];
    out[blockIdx.x] = total;
  }
}

__global__ void warp_shuffles_kernel(const int* in, int* out_xor, int* out_up, int* out_down,
                                     int* out_idx) {
  const int lane = static_cast<int>(threadIdx.x);
  const int value = in[lane];
  out_xor[lane] = __shfl_xor_sync(kFull, value, 1);
  out_up[lane] = __shfl_up_sync(kFull, value, 1);
  out_down[lane] = __shfl_down_sync(kFull, value, 1);
  out_idx[lane] = __shfl_sync(kFull, value, 31 - lane);
}

__global__ void warp_votes_kernel(const int* in, unsigned* ballot, int* all, int* any) {
  const int predicate = in[threadIdx.x];
  const unsigned bits = __ballot_sync(kFull, predicate);
  const int every = __all_sync(kFull, predicate);
  const int some = __any_sync(kFull, predicate);
  if (threadIdx.x == 0) {
    *ballot = bits;
    *all = every;
    *any = some;
  }
}

__global__ void atomics_kernel(int* counter, int threads) {
  const int i = static_cast<int>(blockIdx.x * blockDim.x + threadIdx.x);
  if (i < threads) atomicAdd(counter, 1);
}

__global__ void thread_indices_kernel(int* out) {
  const unsigned i = blockIdx.x * 256 + threadIdx.y * 16 + threadIdx.x;
  out[i] = static_cast<int>(threadIdx.y * 100 + threadIdx.x + blockIdx.x * 10000);
}

__global__ void advance_step_kernel(int* step, float* values, int n) {
  const int s = *step;
  __syncthreads();  // everyone has read the step before thread 0 advances it
  const int i = static_cast<int>(threadIdx.x);
  if (i < n) values[i] += static_cast<float>(s + 1);
  if (i == 0) *step = s + 1;
}

__global__ void scale_kernel(float* values, float factor, int n) {
  const int i = static_cast<int>(blockIdx.x * blockDim.x + threadIdx.x);
  if (i < n) values[i] *= factor;
}

__global__ void transpose_missing_barrier_kernel(const float* in, float* out) {
  __shared__ float tile[32][33];
  for (int row = threadIdx.y; row < 32; row += 8)
    tile[row][threadIdx.x] = in[row * 32 + threadIdx.x];
  // BUG: a __syncthreads() belongs here.
  for (int row = threadIdx.y; row < 32; row += 8)
    out[row * 32 + threadIdx.x] = tile[threadIdx.x][row];
}

__global__ void divergent_shuffle_kernel(const float* in, float* out) {
  const float value = in[threadIdx.x];
  if (threadIdx.x < 16) {
    out[threadIdx.x] = __shfl_xor_sync(kFull, value, 1);
  } else {
    out[threadIdx.x] = __shfl_xor_sync(kFull, value, 2);  // BUG: another call site
  }
}

__global__ void write_one_past_the_end_kernel(float* out, int n) {
  const int i = static_cast<int>(blockIdx.x * blockDim.x + threadIdx.x);
  if (i <= n) out[i] = 1.0f;  // BUG: <= instead of <
}

__global__ void read_unwritten_kernel(const float* scratch, float* out, int n) {
  const int i = static_cast<int>(blockIdx.x * blockDim.x + threadIdx.x);
  if (i < n) out[i] = scratch[i] + 1.0f;
}

__global__ void read_unwritten_shared_kernel(float* out) {
  __shared__ float values[64];
  if (threadIdx.x < 32) values[threadIdx.x] = 1.0f;  // BUG: only half is written
  __syncthreads();
  out[threadIdx.x] = values[threadIdx.x];
}

__global__ void barrier_after_early_exit_kernel(float* out) {
  if (threadIdx.x < 64) return;  // BUG: these threads never reach the barrier
  __syncthreads();
  out[threadIdx.x] = 1.0f;
}

__global__ void divergent_barriers_kernel(float* out) {
  if (threadIdx.x % 2 == 0) {
    __syncthreads();
  } else {
    __syncthreads();  // BUG: another barrier
  }
  out[threadIdx.x] = 1.0f;
}

__global__ void shuffle_with_exited_lane_kernel(float* out) {
  if (threadIdx.x == 0) return;  // BUG: lane 0 is in the mask below
  out[threadIdx.x] = __shfl_down_sync(kFull, 1.0f, 1);
}

__global__ void shuffle_over_missing_lanes_kernel(float* out) {
  out[threadIdx.x] = __shfl_xor_sync(kFull, 1.0f, 1);  // BUG: the block has 48 threads
}

__global__ void deadlock_kernel(float* out) {
  if (threadIdx.x == 0) {
    out[0] = __shfl_xor_sync(kFull, 1.0f, 1);  // BUG: the other lanes are at the barrier
  } else {
    __syncthreads();
  }
}

__global__ void fill_kernel(float* out) { out[blockIdx.x * blockDim.x + threadIdx.x] = 1.0f; }

__global__ void too_much_shared_kernel(float* out) {
  __shared__ float big[16384];  // 64 KiB: over CUDA's 48 KiB of static shared memory
  big[threadIdx.x] = 1.0f;
  out[threadIdx.x] = big[threadIdx.x];
}

}  // namespace

cudaError_t block_sums(const float* in, float* out, int blocks, cudaStream_t stream) {
  block_sums_kernel<<<blocks, 256, 0, stream>>>(in, out);
  return cudaGetLastError();
}

cudaError_t warp_shuffles(const int* in, int* out_xor, int* out_up, int* out_down, int* out_idx,
                          cudaStream_t stream) {
  warp_shuffles_kernel<<<1, 32, 0, stream>>>(in, out_xor, out_up, out_down, out_idx);
  return cudaGetLastError();
}

cudaError_t warp_votes(const int* in, unsigned* ballot, int* all, int* any, cudaStream_t stream) {
  warp_votes_kernel<<<1, 32, 0, stream>>>(in, ballot, all, any);
  return cudaGetLastError();
}

cudaError_t count_with_atomics(int* counter, int threads, cudaStream_t stream) {
  atomics_kernel<<<(threads + 255) / 256, 256, 0, stream>>>(counter, threads);
  return cudaGetLastError();
}

cudaError_t thread_indices(int* out, cudaStream_t stream) {
  thread_indices_kernel<<<2, dim3(16, 16), 0, stream>>>(out);
  return cudaGetLastError();
}

cudaError_t advance_step(int* step, float* values, int n, cudaStream_t stream) {
  advance_step_kernel<<<1, n, 0, stream>>>(step, values, n);
  return cudaGetLastError();
}

cudaError_t scale(float* values, float factor, int n, cudaStream_t stream) {
  scale_kernel<<<(n + 127) / 128, 128, 0, stream>>>(values, factor, n);
  return cudaGetLastError();
}

cudaError_t transpose_missing_barrier(const float* in, float* out, cudaStream_t stream) {
  transpose_missing_barrier_kernel<<<1, dim3(32, 8), 0, stream>>>(in, out);
  return cudaGetLastError();
}

cudaError_t divergent_shuffle(const float* in, float* out, cudaStream_t stream) {
  divergent_shuffle_kernel<<<1, 32, 0, stream>>>(in, out);
  return cudaGetLastError();
}

cudaError_t write_one_past_the_end(float* out, int n, cudaStream_t stream) {
  write_one_past_the_end_kernel<<<(n + 256) / 256, 256, 0, stream>>>(out, n);
  return cudaGetLastError();
}

cudaError_t read_unwritten(const float* scratch, float* out, int n, cudaStream_t stream) {
  read_unwritten_kernel<<<(n + 255) / 256, 256, 0, stream>>>(scratch, out, n);
  return cudaGetLastError();
}

cudaError_t read_unwritten_shared(float* out, cudaStream_t stream) {
  read_unwritten_shared_kernel<<<1, 64, 0, stream>>>(out);
  return cudaGetLastError();
}

cudaError_t barrier_after_early_exit(float* out, cudaStream_t stream) {
  barrier_after_early_exit_kernel<<<1, 256, 0, stream>>>(out);
  return cudaGetLastError();
}

cudaError_t divergent_barriers(float* out, cudaStream_t stream) {
  divergent_barriers_kernel<<<1, 64, 0, stream>>>(out);
  return cudaGetLastError();
}

cudaError_t shuffle_with_exited_lane(float* out, cudaStream_t stream) {
  shuffle_with_exited_lane_kernel<<<1, 32, 0, stream>>>(out);
  return cudaGetLastError();
}

cudaError_t shuffle_over_missing_lanes(float* out, cudaStream_t stream) {
  shuffle_over_missing_lanes_kernel<<<1, 48, 0, stream>>>(out);
  return cudaGetLastError();
}

cudaError_t deadlock(float* out, cudaStream_t stream) {
  deadlock_kernel<<<1, 32, 0, stream>>>(out);
  return cudaGetLastError();
}

cudaError_t launch_with(dim3 grid, dim3 block, std::size_t shared_bytes, float* out,
                        cudaStream_t stream) {
  fill_kernel<<<grid, block, shared_bytes, stream>>>(out);
  return cudaGetLastError();
}

cudaError_t too_much_shared(float* out, cudaStream_t stream) {
  too_much_shared_kernel<<<1, 32, 0, stream>>>(out);
  return cudaGetLastError();
}

}  // namespace kiln::emu_test
