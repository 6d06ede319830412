// CachingAllocator: the Allocator behind every CUDA tensor of one GPU — a BlockPool
// (block_pool.h: size classes, best fit, split / merge, release-and-retry on out-of-memory,
// statistics) fed with cudaMalloc / cudaFree segments. All blocks are for the device's one
// stream (CudaBackend). KILN_CUDA_NO_CACHE=1 turns caching off so compute-sanitizer sees every
// allocation (Note [Caching off] in block_pool.cpp).
#pragma once

#include <memory>

#include "block_pool.h"
#include "kiln/allocator.h"

namespace kiln::cuda {

class CachingAllocator final : public Allocator {
 public:
  // `stream` is the cudaStream_t that every block is used on.
  CachingAllocator(int device, StreamId stream);
  ~CachingAllocator() override;

  void* allocate(std::size_t bytes) override;
  // Never throws (it runs in destructors): a failure is reported on stderr.
  void deallocate(void* ptr, std::size_t bytes) override;
  MemoryStats stats() const override;
  void empty_cache() override;

 private:
  std::unique_ptr<SegmentSource> source_;
  BlockPool pool_;
  StreamId stream_;
};

}  // namespace kiln::cuda
