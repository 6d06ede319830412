// CachingAllocator: the Allocator behind every CUDA tensor of one GPU — a BlockPool
// (src/backend/block_pool.h, device-independent: size classes, best fit, split / merge, release-and-retry on out-of-memory,
// statistics) fed with cudaMalloc / cudaFree segments. All blocks are for the device's one
// stream (CudaBackend). KILN_CUDA_NO_CACHE=1 turns caching off so compute-sanitizer sees every
// allocation (Note [Caching off] in block_pool.cpp). Captured graphs get private pools (Note
// [Graph pools] in caching_allocator.cpp).
#pragma once

#include <memory>
#include <mutex>
#include <vector>

#include "backend/block_pool.h"
#include "kiln/allocator.h"

namespace kiln::cuda {

using backend::BlockPool;
using backend::caching_enabled_by_environment;
using backend::SegmentSource;
using backend::StreamId;

class CachingAllocator final : public Allocator {
 public:
  // `stream` is the cudaStream_t that every block is used on.
  CachingAllocator(int device, StreamId stream);
  ~CachingAllocator() override;

  void* allocate(std::size_t bytes) override;
  // Never throws (it runs in destructors): a failure is reported on stderr.
  void deallocate(void* ptr, std::size_t bytes) override;
  // The shared pool's statistics plus those of every graph pool still alive.
  MemoryStats stats() const override;
  void empty_cache() override;

  // Note [Graph pools] in caching_allocator.cpp. Between begin_capture() and end_capture(),
  // allocations come from a new private pool and blocks of the shared pool that are freed stay
  // allocated. The token end_capture() returns keeps both for as long as the captured graph
  // lives; dropping it hands the held blocks back and frees the private pool once its last block
  // is returned.
  void begin_capture();
  std::shared_ptr<void> end_capture();

 private:
  struct GraphPool;
  void retire(GraphPool* pool);
  void drop_empty_retired_pools();

  int device_;
  std::unique_ptr<SegmentSource> source_;
  BlockPool pool_;
  StreamId stream_;
  mutable std::mutex mutex_;  // guards capturing_ and graph_pools_
  std::shared_ptr<GraphPool> capturing_;
  std::vector<std::shared_ptr<GraphPool>> graph_pools_;
};

}  // namespace kiln::cuda
