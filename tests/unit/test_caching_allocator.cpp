// The caching device allocator's bookkeeping (backend/block_pool.h) without a GPU: a fake segment
// source hands out addresses from an imaginary address space with a capacity, so rounding, best
// fit, splitting, merging, statistics and out-of-memory handling are checked exactly.
#include <gtest/gtest.h>

#include <cstdint>
#include <cstdlib>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "backend/block_pool.h"
#include "kiln/error.h"

namespace kiln::backend {
namespace {

constexpr std::size_t KiB = 1024;
constexpr std::size_t MiB = 1024 * 1024;

// Segments are carved from a fake address range; nothing is ever dereferenced.
class FakeSource final : public SegmentSource {
 public:
  explicit FakeSource(std::size_t capacity = std::size_t{1} << 40) : capacity_(capacity) {}

  void* allocate_segment(std::size_t bytes) override {
    requests.push_back(bytes);
    if (bytes > capacity_ || in_use_ > capacity_ - bytes) return nullptr;
    in_use_ += bytes;
    const std::uintptr_t address = next_;
    next_ += (bytes + 4 * MiB) / (2 * MiB) * (2 * MiB);  // gaps: segments never touch
    live[address] = bytes;
    return reinterpret_cast<void*>(address);
  }

  void free_segment(void* ptr, std::size_t bytes) override {
    const auto it = live.find(reinterpret_cast<std::uintptr_t>(ptr));
    ASSERT_NE(it, live.end()) << "freed a segment that is not live";
    ASSERT_EQ(it->second, bytes) << "freed a segment with another size";
    in_use_ -= bytes;
    live.erase(it);
    frees += 1;
  }

  std::vector<std::size_t> requests;  // every allocate_segment call, failed ones too
  std::map<std::uintptr_t, std::size_t> live;
  int frees = 0;

 private:
  std::size_t capacity_;
  std::size_t in_use_ = 0;
  std::uintptr_t next_ = 0x7f0000000000;
};

char* as_bytes(void* ptr) { return static_cast<char*>(ptr); }

TEST(BlockPool, RoundsTo512AndPicksSegmentSizes) {
  EXPECT_EQ(BlockPool::round_size(0), 512u);
  EXPECT_EQ(BlockPool::round_size(1), 512u);
  EXPECT_EQ(BlockPool::round_size(512), 512u);
  EXPECT_EQ(BlockPool::round_size(513), 1024u);
  EXPECT_EQ(BlockPool::round_size(3 * MiB + 1), 3 * MiB + 512);
  EXPECT_EQ(BlockPool::segment_size(512), 2 * MiB);
  EXPECT_EQ(BlockPool::segment_size(1 * MiB), 2 * MiB);
  EXPECT_EQ(BlockPool::segment_size(1 * MiB + 512), 20 * MiB);
  EXPECT_EQ(BlockPool::segment_size(10 * MiB - 512), 20 * MiB);
  EXPECT_EQ(BlockPool::segment_size(10 * MiB), 10 * MiB);
  EXPECT_EQ(BlockPool::segment_size(11 * MiB), 12 * MiB);
  EXPECT_THROW(BlockPool::round_size(SIZE_MAX), Error);
}

TEST(BlockPool, FreedBlockIsReusedWithoutNewSegment) {
  FakeSource source;
  BlockPool pool(source, "fake:0");
  void* a = pool.allocate(1000);
  pool.deallocate(a);
  void* b = pool.allocate(900);
  EXPECT_EQ(a, b);
  const MemoryStats s = pool.stats();
  EXPECT_EQ(s.allocations, 2u);
  EXPECT_EQ(s.cache_hits, 1u);
  EXPECT_EQ(s.system_allocations, 1u);
  EXPECT_EQ(source.requests.size(), 1u);
  pool.deallocate(b);
}

TEST(BlockPool, SmallRequestSplitsA2MiBSegment) {
  FakeSource source;
  BlockPool pool(source, "fake:0");
  void* a = pool.allocate(1000);
  ASSERT_EQ(source.requests, std::vector<std::size_t>{2 * MiB});
  EXPECT_EQ(pool.block_size(a), 1024u);
  EXPECT_EQ(pool.cached_block_count(), 1u);  // the rest of the segment
  void* b = pool.allocate(3000);
  EXPECT_EQ(as_bytes(b), as_bytes(a) + 1024);
  EXPECT_EQ(pool.block_size(b), 3072u);
  EXPECT_EQ(pool.segment_count(), 1u);
  const MemoryStats s = pool.stats();
  EXPECT_EQ(s.allocated, 1024u + 3072u);
  EXPECT_EQ(s.reserved, 2 * MiB);
  EXPECT_EQ(s.cache_hits, 1u);
  pool.deallocate(a);
  pool.deallocate(b);
}

TEST(BlockPool, NeighboursMergeBackIntoOneSegmentBlock) {
  FakeSource source;
  BlockPool pool(source, "fake:0");
  void* a = pool.allocate(512);
  void* b = pool.allocate(512);
  void* c = pool.allocate(512);
  EXPECT_EQ(pool.cached_block_count(), 1u);
  pool.deallocate(b);  // a [b] c rest: b cannot merge (both neighbours allocated)
  EXPECT_EQ(pool.cached_block_count(), 2u);
  pool.deallocate(a);  // [a b] c rest
  EXPECT_EQ(pool.cached_block_count(), 2u);
  pool.deallocate(c);  // [a b c rest]: one block, the whole segment
  EXPECT_EQ(pool.cached_block_count(), 1u);
  // Two 1 MiB halves (the small pool's largest size) fit only if the segment merged completely.
  void* first = pool.allocate(1 * MiB);
  void* second = pool.allocate(1 * MiB);
  EXPECT_EQ(first, a);
  EXPECT_EQ(as_bytes(second), as_bytes(a) + 1 * MiB);
  EXPECT_EQ(pool.segment_count(), 1u);
  EXPECT_EQ(pool.cached_block_count(), 0u);
  pool.deallocate(second);
  pool.deallocate(first);
  pool.empty_cache();
  EXPECT_EQ(pool.segment_count(), 0u);
  EXPECT_EQ(pool.stats().reserved, 0u);
  EXPECT_TRUE(source.live.empty());
}

TEST(BlockPool, BestFitPicksTheSmallestFreeBlockThatFits) {
  FakeSource source;
  BlockPool pool(source, "fake:0");
  void* big = pool.allocate(8 * KiB);
  void* sep1 = pool.allocate(512);
  void* fit = pool.allocate(4 * KiB);
  void* sep2 = pool.allocate(512);
  pool.deallocate(big);
  pool.deallocate(fit);
  EXPECT_EQ(pool.allocate(3 * KiB), fit);    // 4 KiB beats 8 KiB and the segment's rest
  EXPECT_EQ(pool.block_size(fit), 3 * KiB);  // split: 1 KiB stays free
  EXPECT_EQ(pool.allocate(1 * KiB), as_bytes(fit) + 3 * KiB);
  EXPECT_EQ(pool.allocate(6 * KiB), big);
  (void)sep1;
  (void)sep2;
}

TEST(BlockPool, LargePoolSplitsOnlyWhenMoreThan1MiBRemains) {
  FakeSource source;
  BlockPool pool(source, "fake:0");
  void* a = pool.allocate(2 * MiB);  // a 20 MiB segment: 18 MiB stay free
  ASSERT_EQ(source.requests, std::vector<std::size_t>{20 * MiB});
  EXPECT_EQ(pool.block_size(a), 2 * MiB);
  void* b = pool.allocate(15 * MiB);  // 3 MiB left: split
  EXPECT_EQ(pool.block_size(b), 15 * MiB);
  void* c = pool.allocate(2 * MiB + 512 * KiB);  // 0.5 MiB left: not split
  EXPECT_EQ(pool.block_size(c), 3 * MiB);
  EXPECT_EQ(pool.segment_count(), 1u);
  EXPECT_EQ(pool.stats().allocated, 20 * MiB);
  pool.deallocate(b);
  void* d = pool.allocate(14 * MiB + 512 * KiB);
  EXPECT_EQ(d, b);
  EXPECT_EQ(pool.block_size(d), 15 * MiB);
  EXPECT_EQ(pool.stats().cache_hits, 3u);
}

TEST(BlockPool, BigRequestsGetTheirOwnRoundedSegment) {
  FakeSource source;
  BlockPool pool(source, "fake:0");
  void* a = pool.allocate(11 * MiB);
  EXPECT_EQ(source.requests, std::vector<std::size_t>{12 * MiB});
  EXPECT_EQ(pool.block_size(a), 12 * MiB);  // a 1 MiB rest is not split off
}

TEST(BlockPool, SmallAndLargePoolsDoNotShareBlocks) {
  FakeSource source;
  BlockPool pool(source, "fake:0");
  void* large = pool.allocate(4 * MiB);
  pool.deallocate(large);
  void* small = pool.allocate(4 * KiB);
  EXPECT_EQ(source.requests, (std::vector<std::size_t>{20 * MiB, 2 * MiB}));
  EXPECT_EQ(pool.stats().cache_hits, 0u);
  pool.deallocate(small);
}

TEST(BlockPool, BlocksAreReusedOnlyOnTheirStream) {
  FakeSource source;
  BlockPool pool(source, "fake:0");
  int s1 = 0;
  int s2 = 0;
  void* a = pool.allocate(1000, &s1);
  pool.deallocate(a);
  void* b = pool.allocate(1000, &s2);
  EXPECT_NE(a, b);
  EXPECT_EQ(pool.segment_count(), 2u);
  void* c = pool.allocate(1000, &s1);
  EXPECT_EQ(a, c);
}

TEST(BlockPool, StatsTrackPeaks) {
  FakeSource source;
  BlockPool pool(source, "fake:0");
  void* a = pool.allocate(3 * MiB);
  void* b = pool.allocate(3 * MiB);
  pool.deallocate(a);
  pool.deallocate(b);
  MemoryStats s = pool.stats();
  EXPECT_EQ(s.allocated, 0u);
  EXPECT_EQ(s.peak_allocated, 6 * MiB);
  EXPECT_EQ(s.reserved, 20 * MiB);
  EXPECT_EQ(s.peak_reserved, 20 * MiB);
  pool.empty_cache();
  s = pool.stats();
  EXPECT_EQ(s.reserved, 0u);
  EXPECT_EQ(s.peak_reserved, 20 * MiB);
}

TEST(BlockPool, ZeroBytesGivesUniqueNonNullPointers) {
  FakeSource source;
  BlockPool pool(source, "fake:0");
  void* a = pool.allocate(0);
  void* b = pool.allocate(0);
  EXPECT_NE(a, nullptr);
  EXPECT_NE(a, b);
  pool.deallocate(a);
  pool.deallocate(b);
}

TEST(BlockPool, RejectsUnknownPointersAndDoubleFrees) {
  FakeSource source;
  BlockPool pool(source, "fake:0");
  void* a = pool.allocate(100);
  int local = 0;
  EXPECT_THROW(pool.deallocate(&local), Error);
  pool.deallocate(a);
  EXPECT_THROW(pool.deallocate(a), Error);
}

TEST(BlockPool, RandomTrafficKeepsTheInvariants) {
  FakeSource source;
  BlockPool pool(source, "fake:0");
  std::mt19937 rng(1234);
  std::uniform_int_distribution<std::size_t> small(0, 300 * KiB);
  std::uniform_int_distribution<std::size_t> large(1 * MiB, 30 * MiB);
  std::vector<std::pair<void*, std::size_t>> live;
  std::size_t expected_allocated = 0;
  for (int step = 0; step < 4000; ++step) {
    if (live.empty() || rng() % 3 != 0) {
      const std::size_t bytes = rng() % 4 == 0 ? large(rng) : small(rng);
      void* p = pool.allocate(bytes);
      ASSERT_GE(pool.block_size(p), BlockPool::round_size(bytes));
      for (const auto& [q, size] : live) {  // no overlap with any live block
        ASSERT_TRUE(as_bytes(p) + pool.block_size(p) <= as_bytes(q) ||
                    as_bytes(q) + size <= as_bytes(p));
      }
      live.emplace_back(p, pool.block_size(p));
      expected_allocated += pool.block_size(p);
    } else {
      const std::size_t i = rng() % live.size();
      expected_allocated -= live[i].second;
      pool.deallocate(live[i].first);
      live.erase(live.begin() + static_cast<std::ptrdiff_t>(i));
    }
    ASSERT_EQ(pool.stats().allocated, expected_allocated);
    ASSERT_LE(pool.stats().allocated, pool.stats().reserved);
  }
  for (const auto& entry : live) pool.deallocate(entry.first);
  // Everything merged back: one free block per segment, and all of them can be released.
  EXPECT_EQ(pool.cached_block_count(), pool.segment_count());
  EXPECT_EQ(pool.stats().allocated, 0u);
  pool.empty_cache();
  EXPECT_TRUE(source.live.empty());
}

TEST(BlockPool, DestructorReturnsCachedSegments) {
  FakeSource source;
  {
    BlockPool pool(source, "fake:0");
    pool.deallocate(pool.allocate(5 * MiB));
    pool.deallocate(pool.allocate(5 * KiB));
    EXPECT_EQ(source.live.size(), 2u);
  }
  EXPECT_TRUE(source.live.empty());
}

TEST(BlockPool, CacheLimitReturnsWhollyFreeSegmentsLargestFirst) {
  FakeSource source;
  BlockPool pool(source, "fake:0", /*caching=*/true, /*max_cached_bytes=*/30 * MiB);
  void* a = pool.allocate(12 * MiB);
  void* b = pool.allocate(12 * MiB);
  void* c = pool.allocate(24 * MiB);
  void* d = pool.allocate(4 * KiB);  // a 2 MiB small segment that stays in use
  pool.deallocate(a);
  pool.deallocate(b);  // 24 MiB free: under the limit, kept
  EXPECT_EQ(source.frees, 0);
  EXPECT_EQ(pool.stats().reserved, 50 * MiB);
  pool.deallocate(c);  // 48 MiB + the small segment's rest free: c's 24 MiB segment goes
  EXPECT_EQ(source.frees, 1);
  EXPECT_EQ(source.live.count(reinterpret_cast<std::uintptr_t>(c)), 0u);
  const MemoryStats s = pool.stats();
  EXPECT_EQ(s.reserved, 26 * MiB);
  EXPECT_EQ(s.reserved - s.allocated, 26 * MiB - 4 * KiB);
  EXPECT_EQ(pool.segment_count(), 3u);
  void* again = pool.allocate(12 * MiB);  // a cached 12 MiB segment serves it (the lower one)
  EXPECT_EQ(again, a);
  EXPECT_EQ(pool.stats().cache_hits, 1u);
  pool.deallocate(again);
  pool.deallocate(d);  // 26 MiB free in all: under the limit
  EXPECT_EQ(source.frees, 1);
}

TEST(BlockPool, NoCacheLimitByDefault) {
  FakeSource source;
  BlockPool pool(source, "fake:0");
  for (std::size_t mib = 12; mib <= 40; mib += 4) pool.deallocate(pool.allocate(mib * MiB));
  EXPECT_EQ(source.frees, 0);  // every segment stays cached (ever larger: none serves the next)
  EXPECT_EQ(pool.segment_count(), 8u);
}

TEST(CachingAllocator, OutOfMemoryFreesTheCacheAndRetries) {
  FakeSource source(33 * MiB);
  BlockPool pool(source, "fake:0");
  pool.deallocate(pool.allocate(4 * KiB));  // a cached 2 MiB small segment
  void* held = pool.allocate(12 * MiB);     // 12 MiB segment, stays allocated
  void* big = pool.allocate(20 * MiB);      // 2 + 12 + 20 > 33: free the cache, retry
  EXPECT_NE(big, nullptr);
  const MemoryStats s = pool.stats();
  EXPECT_EQ(s.oom_retries, 1u);
  EXPECT_EQ(s.reserved, 32 * MiB);
  EXPECT_EQ(source.frees, 1);
  EXPECT_EQ(pool.block_size(held), 12 * MiB);
}

TEST(CachingAllocator, OutOfMemoryAfterRetryRaisesAndKeepsBlocks) {
  FakeSource source(64 * MiB);
  BlockPool pool(source, "fake:0");
  void* held = pool.allocate(30 * MiB);
  try {
    pool.allocate(std::size_t{1} << 50);
    FAIL() << "expected kiln::OutOfMemoryError";
  } catch (const OutOfMemoryError& e) {
    EXPECT_EQ(e.requested_bytes(), std::size_t{1} << 50);
    EXPECT_EQ(e.layer(), "");
    const std::string message = e.what();
    EXPECT_NE(message.find("out of memory on fake:0"), std::string::npos) << message;
    EXPECT_NE(message.find(std::to_string(std::size_t{1} << 50)), std::string::npos) << message;
    EXPECT_NE(message.find(std::to_string(30 * MiB) + " bytes (30.00 MiB) are allocated"),
              std::string::npos)
        << message;
    EXPECT_NE(message.find("reserved"), std::string::npos) << message;
  }
  EXPECT_EQ(pool.block_size(held), 30 * MiB);
  const MemoryStats s = pool.stats();
  EXPECT_EQ(s.allocated, 30 * MiB);
  EXPECT_EQ(s.oom_retries, 1u);
  void* more = pool.allocate(1 * MiB);  // the pool still works
  pool.deallocate(more);
  pool.deallocate(held);
}

TEST(CachingAllocator, CachingOffUsesExactSegmentsAndFreesAtOnce) {
  FakeSource source;
  BlockPool pool(source, "fake:0", /*caching=*/false);
  EXPECT_FALSE(pool.caching());
  void* a = pool.allocate(1000);
  void* b = pool.allocate(0);
  EXPECT_EQ(source.requests, (std::vector<std::size_t>{1000, 1}));
  EXPECT_EQ(pool.stats().reserved, 1001u);
  pool.deallocate(a);
  pool.deallocate(b);
  EXPECT_TRUE(source.live.empty());
  void* c = pool.allocate(1000);
  const MemoryStats s = pool.stats();
  EXPECT_EQ(s.cache_hits, 0u);
  EXPECT_EQ(s.system_allocations, 3u);
  EXPECT_EQ(s.reserved, 1000u);
  pool.deallocate(c);
}

TEST(CachingAllocator, EnvironmentSwitchTurnsCachingOff) {
  const char* saved = std::getenv("KILN_CUDA_NO_CACHE");
  const std::string saved_value = saved ? saved : "";
  unsetenv("KILN_CUDA_NO_CACHE");
  EXPECT_TRUE(caching_enabled_by_environment());
  setenv("KILN_CUDA_NO_CACHE", "0", 1);
  EXPECT_TRUE(caching_enabled_by_environment());
  setenv("KILN_CUDA_NO_CACHE", "1", 1);
  EXPECT_FALSE(caching_enabled_by_environment());
  EXPECT_FALSE(caching_enabled_by_environment("KILN_CUDA_NO_CACHE"));
  EXPECT_TRUE(caching_enabled_by_environment("KILN_TEST_UNSET_NO_CACHE"));
  if (saved) {
    setenv("KILN_CUDA_NO_CACHE", saved_value.c_str(), 1);
  } else {
    unsetenv("KILN_CUDA_NO_CACHE");
  }
}

}  // namespace
}  // namespace kiln::backend
