// Kernels for the emulation's own tests (test_scheduler.cpp): correct ones whose results are known,
// and ones with a bug planted on purpose, each of a kind the emulation must catch. They are
// compiled through the same rewrite as kiln's kernels (planted_kernels.cu). Each launcher queues
// its kernel on `stream` and returns cudaGetLastError() after the launch.
#pragma once

#include <cuda_runtime_api.h>

namespace kiln::emu_test {

// ---- correct kernels
// out[b] = sum of in[b * 256 .. b * 256 + 255] (shared memory, barriers, then warp shuffles).
cudaError_t block_sums(const float* in, float* out, int blocks, cudaStream_t stream);
// out[i] = in[i] over one warp for each shuffle kind: xor 1, up 1, down 1, idx (lane 31 - i).
cudaError_t warp_shuffles(const int* in, int* out_xor, int* out_up, int* out_down, int* out_idx,
                          cudaStream_t stream);
// votes over one warp of predicate in[lane] != 0: ballot bits, all, any.
cudaError_t warp_votes(const int* in, unsigned* ballot, int* all, int* any, cudaStream_t stream);
// *counter += 1 from every one of `threads` threads with atomicAdd.
cudaError_t count_with_atomics(int* counter, int threads, cudaStream_t stream);
// a 2-D block: out[y * 16 + x] = threadIdx.y * 100 + threadIdx.x + blockIdx.x * 10000.
cudaError_t thread_indices(int* out, cudaStream_t stream);
// One block of n <= 1024 threads: every thread reads s = *step, then values[i] += s + 1; after a
// barrier thread 0 sets *step = s + 1. A graph that holds it advances the step on every replay.
cudaError_t advance_step(int* step, float* values, int n, cudaStream_t stream);
// values[i] *= factor, for i < n.
cudaError_t scale(float* values, float factor, int n, cudaStream_t stream);

// ---- planted bugs
// Transposes a 32x32 tile through shared memory without the __syncthreads() between writing the
// tile and reading it back: some order of threads reads entries nobody wrote yet.
cudaError_t transpose_missing_barrier(const float* in, float* out, cudaStream_t stream);
// Lanes 0-15 shuffle at one line, lanes 16-31 at another.
cudaError_t divergent_shuffle(const float* in, float* out, cudaStream_t stream);
// Writes out[n] as well as out[0..n).
cudaError_t write_one_past_the_end(float* out, int n, cudaStream_t stream);
// out[i] = scratch[i] + 1, where nothing ever wrote scratch.
cudaError_t read_unwritten(const float* scratch, float* out, int n, cudaStream_t stream);
// Reads shared memory that no thread of the block wrote.
cudaError_t read_unwritten_shared(float* out, cudaStream_t stream);
// Threads 0-63 return early; the rest reach __syncthreads().
cudaError_t barrier_after_early_exit(float* out, cudaStream_t stream);
// Even threads wait at one __syncthreads(), odd ones at another.
cudaError_t divergent_barriers(float* out, cudaStream_t stream);
// Lane 0 returns; the others shuffle with a full mask, waiting for it.
cudaError_t shuffle_with_exited_lane(float* out, cudaStream_t stream);
// A block of 48 threads: its second warp shuffles with a full mask over lanes that do not exist.
cudaError_t shuffle_over_missing_lanes(float* out, cudaStream_t stream);
// Thread 0 waits at a warp shuffle while the rest of its warp waits at __syncthreads().
cudaError_t deadlock(float* out, cudaStream_t stream);
// Any kernel with the given configuration (to test the launch checks).
cudaError_t launch_with(dim3 grid, dim3 block, std::size_t shared_bytes, float* out,
                        cudaStream_t stream);
// Declares 64 KiB of static shared memory.
cudaError_t too_much_shared(float* out, cudaStream_t stream);

}  // namespace kiln::emu_test
