#include "backend/cpu/cpu_allocator.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>

#include "core/check.h"

namespace kiln::backend {

namespace {
constexpr std::size_t kAlignment = 64;
constexpr std::size_t kLargeRounding = std::size_t{64} << 10;  // 64 KiB

bool caching_from_environment() {
  const char* env = std::getenv("KILN_CPU_NO_CACHE");
  return env == nullptr || std::strcmp(env, "1") != 0;
}
}  // namespace

CpuAllocator::CpuAllocator() : caching_(caching_from_environment()) {}

CpuAllocator::~CpuAllocator() { empty_cache(); }

std::size_t CpuAllocator::rounded(std::size_t bytes) {
  const std::size_t unit = bytes >= kCachedMinimum ? kLargeRounding : kAlignment;
  return std::max(unit, (bytes + unit - 1) / unit * unit);
}

void* CpuAllocator::allocate(std::size_t bytes) {
  const std::size_t size = rounded(bytes);
  std::lock_guard lock(mutex_);
  stats_.allocations += 1;
  void* ptr = nullptr;
  std::size_t block = size;
  if (auto hit = cache_.lower_bound(size); hit != cache_.end() && hit->first <= size + size / 4) {
    block = hit->first;
    ptr = hit->second;
    cache_.erase(hit);
    cached_bytes_ -= block;
    stats_.cache_hits += 1;
  } else {
    ptr = allocate_from_system(bytes, size);
    stats_.system_allocations += 1;
    stats_.reserved += size;
  }
  if (block >= kCachedMinimum) large_blocks_[ptr] = block;
  stats_.allocated += block;
  stats_.peak_allocated = std::max(stats_.peak_allocated, stats_.allocated);
  stats_.peak_reserved = std::max(stats_.peak_reserved, stats_.reserved);
  return ptr;
}

void CpuAllocator::deallocate(void* ptr, std::size_t bytes) {
  std::lock_guard lock(mutex_);
  std::size_t size = rounded(bytes);
  if (auto large = large_blocks_.find(ptr); large != large_blocks_.end()) {
    size = large->second;
    large_blocks_.erase(large);
  }
  stats_.allocated -= size;
  if (caching_ && size >= kCachedMinimum && cached_bytes_ + size <= kMaxCachedBytes) {
    cache_.emplace(size, ptr);
    cached_bytes_ += size;
    return;
  }
  std::free(ptr);
  stats_.reserved -= size;
}

// Note [Out of memory] in cpu_allocator.h. Called with mutex_ held.
void* CpuAllocator::allocate_from_system(std::size_t requested, std::size_t size) {
  void* ptr = std::aligned_alloc(kAlignment, size);
  const bool retry = ptr == nullptr && !cache_.empty();
  if (retry) {
    stats_.oom_retries += 1;
    free_cache();
    ptr = std::aligned_alloc(kAlignment, size);
  }
  if (ptr != nullptr) return ptr;
  throw OutOfMemoryError(
      fmt::format("out of memory on cpu: tried to allocate {} bytes ({}); {} bytes ({}) are "
                  "allocated and {} bytes ({}) cached by kiln{}",
                  requested, format_bytes(requested), stats_.allocated,
                  format_bytes(stats_.allocated), cached_bytes_, format_bytes(cached_bytes_),
                  retry ? ", after freeing the cache and retrying" : ""),
      requested);
}

MemoryStats CpuAllocator::stats() const {
  std::lock_guard lock(mutex_);
  return stats_;
}

void CpuAllocator::empty_cache() {
  std::lock_guard lock(mutex_);
  free_cache();
}

void CpuAllocator::free_cache() {
  for (auto& [size, ptr] : cache_) std::free(ptr);
  stats_.reserved -= cached_bytes_;
  cache_.clear();
  cached_bytes_ = 0;
}

}  // namespace kiln::backend
