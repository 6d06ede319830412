// CachingAllocator: BlockPool bookkeeping over cudaMalloc / cudaFree (see caching_allocator.h).
// cudaMalloc's out-of-memory answer is turned into nullptr (after clearing the error, which is
// not sticky) so the pool can free its cache and retry; every other CUDA error throws.
//
// Note [Graph pools]
// ~~~~~~~~~~~~~~~~~~
// A captured graph replays its kernels on the addresses they had at capture, long after the
// tensors that held them were freed on the host. PyTorch's answer, used here: while a stream
// captures, every allocation comes from a private pool that belongs to the graph, so a block the
// captured step frees goes back to that pool, is reused only by later allocations of the same
// capture (which replays repeat in the same order), and is never handed to eager work. A block
// of the shared pool freed during the capture (a tensor made before it, read by the captured
// kernels) stays allocated until the graph goes, because a replay may still read it. The private
// pool's segments are cudaMalloc'ed during the capture with the thread's capture mode relaxed
// for that one call (cudaMalloc is not stream work; the segment belongs to the graph), and are
// never cudaFree'd while the graph lives — not even to retry an out-of-memory, which then fails
// the capture and fit goes on eagerly (Note [Captured steps] in src/model/step_graph.cpp). When
// the graph goes, the held shared blocks are freed (stream-ordered: later work runs after the
// last replay) and the private pool is freed as soon as none of its blocks is still allocated.
#include "caching_allocator.h"

#include <cuda_runtime_api.h>

#include <algorithm>
#include <cstdio>

#include "core/check.h"
#include "cuda_check.h"
#include "device_guard.h"
#include "kiln/error.h"

namespace kiln::cuda {

namespace {

class CudaSegments final : public SegmentSource {
 public:
  explicit CudaSegments(int device) : device_(device) {}

  void* allocate_segment(std::size_t bytes) override {
    DeviceGuard guard(device_);
    void* ptr = nullptr;
    const cudaError_t status = cudaMalloc(&ptr, bytes);
    if (status == cudaErrorMemoryAllocation) {
      cudaGetLastError();
      return nullptr;
    }
    CHECK_CUDA(status);
    return ptr;
  }

  void free_segment(void* ptr, std::size_t /*bytes*/) override {
    DeviceGuard guard(device_);
    CHECK_CUDA(cudaFree(ptr));
  }

 private:
  int device_;
};

// The segments of a graph pool (Note [Graph pools]): cudaMalloc'ed with the capture mode relaxed,
// and kept until the source itself goes.
class GraphSegments final : public SegmentSource {
 public:
  explicit GraphSegments(int device) : device_(device) {}
  ~GraphSegments() override {
    DeviceGuard guard(device_);
    for (void* ptr : held_) {
      const cudaError_t status = cudaFree(ptr);
      if (status != cudaSuccess) {
        std::fprintf(stderr, "kiln: could not free a graph pool segment: %s\n",
                     cudaGetErrorString(status));
      }
    }
  }

  void* allocate_segment(std::size_t bytes) override {
    DeviceGuard guard(device_);
    cudaStreamCaptureMode mode = cudaStreamCaptureModeRelaxed;
    CHECK_CUDA(cudaThreadExchangeStreamCaptureMode(&mode));
    void* ptr = nullptr;
    const cudaError_t status = cudaMalloc(&ptr, bytes);
    CHECK_CUDA(cudaThreadExchangeStreamCaptureMode(&mode));
    if (status == cudaErrorMemoryAllocation) {
      cudaGetLastError();
      return nullptr;
    }
    CHECK_CUDA(status);
    held_.push_back(ptr);
    return ptr;
  }

  void free_segment(void* /*ptr*/, std::size_t /*bytes*/) override {}  // freed with the source

 private:
  int device_;
  std::vector<void*> held_;
};

std::string device_name(int device) { return "cuda:" + std::to_string(device); }

void add_stats(MemoryStats& total, const MemoryStats& more) {
  total.allocated += more.allocated;
  total.reserved += more.reserved;
  total.peak_allocated += more.peak_allocated;
  total.peak_reserved += more.peak_reserved;
  total.allocations += more.allocations;
  total.cache_hits += more.cache_hits;
  total.system_allocations += more.system_allocations;
  total.oom_retries += more.oom_retries;
}

}  // namespace

struct CachingAllocator::GraphPool {
  GraphPool(int device, bool caching)
      : source(device), pool(source, device_name(device) + " graph pool", caching) {}
  GraphSegments source;  // declared first: the pool returns its segments to it
  BlockPool pool;
  std::vector<void*> held;  // blocks of the shared pool freed while capturing
  bool retired = false;     // its graph is gone
};

CachingAllocator::CachingAllocator(int device, StreamId stream)
    : device_(device),
      source_(std::make_unique<CudaSegments>(device)),
      pool_(*source_, device_name(device), caching_enabled_by_environment()),
      stream_(stream) {}

CachingAllocator::~CachingAllocator() = default;

void* CachingAllocator::allocate(std::size_t bytes) {
  std::unique_lock lock(mutex_);
  if (capturing_ != nullptr) return capturing_->pool.allocate(bytes, stream_);
  lock.unlock();
  return pool_.allocate(bytes, stream_);
}

void CachingAllocator::deallocate(void* ptr, std::size_t /*bytes*/) {
  try {
    std::lock_guard lock(mutex_);
    if (pool_.block_size(ptr) > 0) {
      if (capturing_ != nullptr) {
        capturing_->held.push_back(ptr);  // a replay may read it (Note [Graph pools])
      } else {
        pool_.deallocate(ptr);
      }
      return;
    }
    for (const auto& graph : graph_pools_) {
      if (graph->pool.block_size(ptr) > 0) {
        graph->pool.deallocate(ptr);
        drop_empty_retired_pools();
        return;
      }
    }
    pool_.deallocate(ptr);  // not ours: the pool names the pointer in its error
  } catch (const Error& e) {
    std::fprintf(stderr, "kiln: could not free device memory: %s\n", e.what());
  }
}

MemoryStats CachingAllocator::stats() const {
  MemoryStats total = pool_.stats();
  std::lock_guard lock(mutex_);
  for (const auto& graph : graph_pools_) add_stats(total, graph->pool.stats());
  return total;
}

void CachingAllocator::empty_cache() { pool_.empty_cache(); }

void CachingAllocator::begin_capture() {
  std::lock_guard lock(mutex_);
  KILN_CHECK(capturing_ == nullptr, "cuda:{}: a graph capture is already under way", device_);
  capturing_ = std::make_shared<GraphPool>(device_, pool_.caching());
  graph_pools_.push_back(capturing_);
}

std::shared_ptr<void> CachingAllocator::end_capture() {
  std::lock_guard lock(mutex_);
  GraphPool* pool = capturing_.get();
  capturing_.reset();
  return std::shared_ptr<void>(pool, [this](void* p) { retire(static_cast<GraphPool*>(p)); });
}

void CachingAllocator::retire(GraphPool* pool) {
  std::lock_guard lock(mutex_);
  pool->retired = true;
  for (void* ptr : pool->held) pool_.deallocate(ptr);
  pool->held.clear();
  drop_empty_retired_pools();
}

void CachingAllocator::drop_empty_retired_pools() {
  if (capturing_ != nullptr) return;  // freeing segments waits for the device: not now
  std::erase_if(graph_pools_, [](const std::shared_ptr<GraphPool>& graph) {
    return graph->retired && graph->pool.stats().allocated == 0;
  });
}

}  // namespace kiln::cuda
