// The CPU allocator is a BlockPool over aligned host memory (backend/cpu/cpu_allocator.h): these
// tests run a private CpuAllocator on real memory and check that it follows the pool's rules —
// reuse, split / merge, empty_cache, out-of-memory retry, caching off, several threads — with the
// pool's own size arithmetic (tests/unit/test_caching_allocator.cpp checks that on a fake source).
#include <gtest/gtest.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "backend/cpu/cpu_allocator.h"
#include "kiln/error.h"

namespace kiln::backend {
namespace {

constexpr std::size_t KiB = 1024;
constexpr std::size_t MiB = 1024 * 1024;

char* as_bytes(void* ptr) { return static_cast<char*>(ptr); }

std::uintptr_t address(const void* ptr) { return reinterpret_cast<std::uintptr_t>(ptr); }

TEST(CpuAllocator, SmallTensorsShareA2MiBSegmentAndFreedBlocksAreReused) {
  CpuAllocator allocator(/*caching=*/true);
  void* a = allocator.allocate(1000);
  void* b = allocator.allocate(100);
  EXPECT_EQ(address(a) % HostSegments::kAlignment, 0u);
  EXPECT_EQ(as_bytes(b), as_bytes(a) + 1024);  // 1000 rounds to 1024, cut from the same segment
  std::memset(a, 1, 1024);                     // real memory, the whole block
  std::memset(b, 2, 512);
  MemoryStats s = allocator.stats();
  EXPECT_EQ(s.allocated, 1024u + 512u);
  EXPECT_EQ(s.reserved, 2 * MiB);
  EXPECT_EQ(s.system_allocations, 1u);
  EXPECT_EQ(s.cache_hits, 1u);
  allocator.deallocate(a, 1000);
  void* c = allocator.allocate(900);  // best fit: a's 1 KiB block, not the segment's rest
  EXPECT_EQ(c, a);
  s = allocator.stats();
  EXPECT_EQ(s.allocations, 3u);
  EXPECT_EQ(s.cache_hits, 2u);
  EXPECT_EQ(s.system_allocations, 1u);
  EXPECT_EQ(s.allocated, 1024u + 512u);
  EXPECT_EQ(as_bytes(b)[511], 2);  // b untouched
  allocator.deallocate(b, 100);
  allocator.deallocate(c, 900);
  EXPECT_EQ(allocator.stats().allocated, 0u);
  EXPECT_EQ(allocator.pool().cached_block_count(), 1u);  // merged back into one segment block
}

TEST(CpuAllocator, LargeBlocksSplitAndMergeInOneSegment) {
  CpuAllocator allocator(/*caching=*/true);
  void* a = allocator.allocate(4 * MiB);  // under 10 MiB: a shared 20 MiB segment
  void* b = allocator.allocate(14 * MiB);
  EXPECT_EQ(as_bytes(b), as_bytes(a) + 4 * MiB);  // split from a's segment; 2 MiB stay free
  std::memset(b, 3, 14 * MiB);
  EXPECT_EQ(allocator.pool().segment_count(), 1u);
  EXPECT_EQ(allocator.pool().cached_block_count(), 1u);
  EXPECT_EQ(allocator.stats().reserved, 20 * MiB);
  EXPECT_EQ(allocator.pool().block_size(b), 14 * MiB);
  allocator.deallocate(a, 4 * MiB);
  allocator.deallocate(b, 14 * MiB);
  EXPECT_EQ(allocator.pool().cached_block_count(), 1u);
  // Merged: one 20 MiB block, so a 19 MiB request takes it whole (a 1 MiB rest is not split off),
  // and an 11 MiB one then needs a segment of its own, rounded up to 12 MiB.
  void* whole = allocator.allocate(19 * MiB);
  EXPECT_EQ(whole, a);
  EXPECT_EQ(allocator.pool().block_size(whole), 20 * MiB);
  void* own = allocator.allocate(11 * MiB);
  EXPECT_EQ(allocator.pool().block_size(own), 12 * MiB);
  const MemoryStats s = allocator.stats();
  EXPECT_EQ(s.reserved, 32 * MiB);
  EXPECT_EQ(s.allocated, 32 * MiB);
  EXPECT_EQ(s.system_allocations, 2u);
  EXPECT_EQ(s.cache_hits, 2u);
  allocator.deallocate(whole, 19 * MiB);
  allocator.deallocate(own, 11 * MiB);
}

TEST(CpuAllocator, EmptyCacheReturnsWhollyFreeSegments) {
  CpuAllocator allocator(/*caching=*/true);
  void* kept = allocator.allocate(64 * KiB);                   // a small segment that stays in use
  void* freed = allocator.allocate(12 * MiB);                  // a 12 MiB segment of its own
  allocator.deallocate(allocator.allocate(3 * MiB), 3 * MiB);  // a 20 MiB segment
  allocator.deallocate(freed, 12 * MiB);
  EXPECT_EQ(allocator.stats().reserved, 2 * MiB + 12 * MiB + 20 * MiB);
  EXPECT_EQ(allocator.pool().segment_count(), 3u);
  allocator.empty_cache();
  const MemoryStats s = allocator.stats();
  EXPECT_EQ(s.reserved, 2 * MiB);  // the segment holding `kept` stays
  EXPECT_EQ(s.allocated, 64 * KiB);
  EXPECT_EQ(s.peak_reserved, 34 * MiB);
  EXPECT_EQ(allocator.pool().segment_count(), 1u);
  std::memset(kept, 4, 64 * KiB);
  allocator.deallocate(kept, 64 * KiB);
  allocator.empty_cache();
  EXPECT_EQ(allocator.stats().reserved, 0u);
}

TEST(CpuAllocator, OutOfMemoryFreesTheCacheRetriesAndRaises) {
  CpuAllocator allocator(/*caching=*/true);
  void* held = allocator.allocate(12 * MiB);
  allocator.deallocate(allocator.allocate(24 * MiB), 24 * MiB);  // cached
  EXPECT_EQ(allocator.stats().reserved, 36 * MiB);
  const std::size_t huge = std::size_t{1} << 50;  // more than any machine's address space
  try {
    allocator.allocate(huge);
    FAIL() << "a 2^50-byte block was allocated";
  } catch (const OutOfMemoryError& e) {
    EXPECT_EQ(e.requested_bytes(), huge);
    const std::string message = e.what();
    EXPECT_NE(message.find("out of memory on cpu: tried to allocate " + std::to_string(huge) +
                           " bytes (1024.00 TiB"),
              std::string::npos)
        << message;
    EXPECT_NE(message.find(std::to_string(12 * MiB) + " bytes (12.00 MiB) are allocated and " +
                           std::to_string(12 * MiB) + " bytes (12.00 MiB) reserved by kiln, " +
                           "after freeing the cache and retrying"),
              std::string::npos)
        << message;
  }
  const MemoryStats s = allocator.stats();
  EXPECT_EQ(s.oom_retries, 1u);
  EXPECT_EQ(s.reserved, 12 * MiB);  // the cached 24 MiB segment went back to the system
  EXPECT_EQ(s.allocated, 12 * MiB);
  EXPECT_EQ(allocator.pool().block_size(held), 12 * MiB);
  std::memset(held, 5, 12 * MiB);  // still ours
  allocator.deallocate(held, 12 * MiB);
}

TEST(CpuAllocator, CachingOffGivesExactAllocationsFreedAtOnce) {
  CpuAllocator allocator(/*caching=*/false);
  void* a = allocator.allocate(1000);
  void* b = allocator.allocate(0);
  EXPECT_EQ(address(a) % HostSegments::kAlignment, 0u);
  EXPECT_NE(b, nullptr);
  EXPECT_EQ(allocator.stats().allocated, 1001u);
  EXPECT_EQ(allocator.stats().reserved, 1001u);
  allocator.deallocate(a, 1000);
  allocator.deallocate(b, 0);
  EXPECT_EQ(allocator.stats().reserved, 0u);
  allocator.deallocate(allocator.allocate(1000), 1000);
  const MemoryStats s = allocator.stats();
  EXPECT_EQ(s.cache_hits, 0u);
  EXPECT_EQ(s.system_allocations, 3u);
  EXPECT_EQ(s.peak_reserved, 1001u);
  EXPECT_THROW(allocator.allocate(std::size_t{1} << 50), OutOfMemoryError);
  EXPECT_EQ(allocator.stats().oom_retries, 0u);  // nothing cached: nothing to retry with
}

TEST(CpuAllocator, EnvironmentSwitchIsKilnCpuNoCache) {
  const char* saved = std::getenv("KILN_CPU_NO_CACHE");
  const std::string saved_value = saved ? saved : "";
  setenv("KILN_CPU_NO_CACHE", "1", 1);
  EXPECT_FALSE(CpuAllocator().pool().caching());
  setenv("KILN_CPU_NO_CACHE", "0", 1);
  EXPECT_TRUE(CpuAllocator().pool().caching());
  unsetenv("KILN_CPU_NO_CACHE");
  EXPECT_TRUE(CpuAllocator().pool().caching());
  if (saved) setenv("KILN_CPU_NO_CACHE", saved_value.c_str(), 1);
}

// Several threads allocate, fill, check and free at once (the CPU allocates from data-loading and
// gradient-reducing threads as well as the main one): no block is handed out twice, and the
// statistics add up.
TEST(CpuAllocator, ThreadsShareThePool) {
  CpuAllocator allocator(/*caching=*/true);
  constexpr int kThreads = 4;
  std::vector<std::thread> threads;
  std::vector<int> failures(kThreads, 0);
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&allocator, &failures, t] {
      std::mt19937 rng(static_cast<unsigned>(t));
      std::vector<std::pair<char*, std::size_t>> live;
      for (int step = 0; step < 2000; ++step) {
        if (live.size() < 8 && rng() % 3 != 0) {
          const std::size_t bytes = rng() % 4 == 0 ? 1 * MiB + rng() % (3 * MiB) : rng() % 8192;
          char* p = static_cast<char*>(allocator.allocate(bytes));
          std::memset(p, t + 1, bytes);
          live.emplace_back(p, bytes);
        } else if (!live.empty()) {
          const auto [p, bytes] = live.back();
          live.pop_back();
          for (std::size_t i = 0; i < bytes; i += 61) failures[t] += p[i] != t + 1;
          allocator.deallocate(p, bytes);
        }
      }
      for (const auto& [p, bytes] : live) allocator.deallocate(p, bytes);
    });
  }
  for (auto& thread : threads) thread.join();
  for (int t = 0; t < kThreads; ++t) EXPECT_EQ(failures[t], 0) << "thread " << t;
  const MemoryStats s = allocator.stats();
  EXPECT_EQ(s.allocated, 0u);
  EXPECT_EQ(s.allocations, s.cache_hits + s.system_allocations);
  EXPECT_EQ(allocator.pool().cached_block_count(), allocator.pool().segment_count());
}

}  // namespace
}  // namespace kiln::backend
