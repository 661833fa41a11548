#include <doctest/doctest.h>

#include <algorithm>
#include <cstring>
#include <set>
#include <vector>

#include "host/frame_allocator.h"

using cocosim::FrameAllocator;
using cocosim::FrameKind;
using cocosim::FrameUse;

TEST_CASE("FrameAllocator: allocates the managed frames in order") {
  FrameAllocator a(100, 110);
  CHECK(a.alloc({}) == 100u);
  CHECK(a.alloc({}) == 101u);
  CHECK(a.alloc({}) == 102u);
  CHECK(a.in_use() == 3);
}

TEST_CASE("FrameAllocator: use() returns the tag given at allocation") {
  FrameAllocator a(0, 16);
  auto* owner = reinterpret_cast<cocosim::GuestMemfd*>(0x1234);
  auto p = a.alloc({FrameKind::Gmem, owner, 7, 3});
  REQUIRE(p);
  const FrameUse* u = a.use(*p);
  REQUIRE(u != nullptr);
  CHECK(u->kind == FrameKind::Gmem);
  CHECK(u->gmem == owner);
  CHECK(u->index == 7);
  CHECK(u->vm == 3);
  auto q = a.alloc({FrameKind::PageTable, nullptr, 0, 9});
  REQUIRE(q);
  CHECK(a.use(*q)->kind == FrameKind::PageTable);
  CHECK(a.use(*q)->vm == 9);
  CHECK(a.use(15) == nullptr);  // never allocated
}

TEST_CASE("FrameAllocator: a freed frame loses its tag and is reused, last freed first") {
  FrameAllocator a(0, 16);
  auto p0 = *a.alloc({FrameKind::Anon});
  auto p1 = *a.alloc({FrameKind::Anon});
  auto p2 = *a.alloc({FrameKind::Anon});
  a.free(p0);
  a.free(p2);
  CHECK(a.use(p0) == nullptr);
  CHECK(a.use(p2) == nullptr);
  CHECK(a.use(p1) != nullptr);
  CHECK(a.in_use() == 1);
  CHECK(a.alloc({FrameKind::Kernel}) == p2);
  CHECK(a.alloc({FrameKind::Kernel}) == p0);
  CHECK(a.alloc({FrameKind::Kernel}) == 3u);  // then fresh frames again
  CHECK(a.use(p2)->kind == FrameKind::Kernel);
}

TEST_CASE("FrameAllocator: the free hook runs once per freed frame") {
  FrameAllocator a(0, 16);
  std::vector<uint64_t> freed;
  a.set_free_hook([&](uint64_t pfn) { freed.push_back(pfn); });
  auto p = *a.alloc({});
  auto q = *a.alloc({});
  a.free(q);
  a.free(p);
  CHECK(freed == std::vector<uint64_t>{q, p});
  a.free(p);   // double free: not a frame in use, no hook
  a.free(12);  // never allocated
  CHECK(freed.size() == 2);
}

TEST_CASE("FrameAllocator: the free hook runs before the frame can be handed out again") {
  FrameAllocator a(0, 1);
  auto p = *a.alloc({});
  bool allocatable_in_hook = true;
  a.set_free_hook([&](uint64_t) { allocatable_in_hook = a.alloc({}).has_value(); });
  a.free(p);
  CHECK_FALSE(allocatable_in_hook);
}

TEST_CASE("FrameAllocator: exhaustion returns nullopt until a frame is freed") {
  FrameAllocator a(10, 13);
  auto x = a.alloc({});
  auto y = a.alloc({});
  auto z = a.alloc({});
  REQUIRE(x);
  REQUIRE(y);
  REQUIRE(z);
  CHECK_FALSE(a.alloc({}).has_value());
  CHECK_FALSE(a.alloc({}).has_value());
  a.free(*y);
  CHECK(a.alloc({}) == *y);
  CHECK_FALSE(a.alloc({}).has_value());
}

TEST_CASE("FrameAllocator: peak_in_use remembers the high-water mark") {
  FrameAllocator a(0, 16);
  auto p = *a.alloc({});
  auto q = *a.alloc({});
  auto r = *a.alloc({});
  a.free(p);
  a.free(q);
  CHECK(a.in_use() == 1);
  CHECK(a.peak_in_use() == 3);
  a.free(r);
  CHECK(a.peak_in_use() == 3);
}

TEST_CASE("FrameAllocator: retag changes an allocated frame's tag only") {
  FrameAllocator a(0, 16);
  auto p = *a.alloc({FrameKind::Anon, nullptr, 1, -1});
  a.retag(p, {FrameKind::PageTable, nullptr, 0, 4});
  CHECK(a.use(p)->kind == FrameKind::PageTable);
  CHECK(a.use(p)->vm == 4);
  a.retag(9, {FrameKind::Kernel});  // not allocated: stays unallocated
  CHECK(a.use(9) == nullptr);
  CHECK(a.in_use() == 1);
}

TEST_CASE("FrameAllocator: frame kinds have names") {
  CHECK(std::strcmp(cocosim::frame_kind_name(FrameKind::Anon), "anon") == 0);
  CHECK(std::strcmp(cocosim::frame_kind_name(FrameKind::Gmem), "guest_memfd") == 0);
  CHECK(std::strcmp(cocosim::frame_kind_name(FrameKind::PageTable), "page_table") == 0);
  CHECK(std::strcmp(cocosim::frame_kind_name(FrameKind::Kernel), "kernel") == 0);
}

TEST_CASE("FrameAllocator: a huge folio is 512 frames from a 2 MiB boundary, each tagged") {
  FrameAllocator a(0x100, 0x1000);
  const uint64_t before = a.alloc({}).value();  // 0x100: not aligned
  auto huge = a.alloc_huge({FrameKind::Anon, nullptr, 1024, -1});
  REQUIRE(huge);
  CHECK(*huge % 512 == 0);
  CHECK(*huge > before);
  for (uint64_t i : {uint64_t{0}, uint64_t{1}, uint64_t{511}}) {
    REQUIRE(a.use(*huge + i));
    CHECK(a.use(*huge + i)->kind == FrameKind::Anon);
    CHECK(a.use(*huge + i)->index == 1024 + i);
  }
  CHECK(a.in_use() == 513);
  // The frames skipped to reach alignment are not lost.
  CHECK(a.alloc({}) == *huge - 1);
  // Not enough room for another aligned 512: nullopt, nothing taken.
  FrameAllocator small(0x100, 0x300);
  CHECK_FALSE(small.alloc_huge({}).has_value());
  CHECK(small.in_use() == 0);
}

TEST_CASE("FrameAllocator: a pinned frame freed by its user lives until the last unpin") {
  FrameAllocator fa(0x100, 0x110);
  const uint64_t pfn = *fa.alloc({FrameKind::Anon});
  fa.pin(pfn);
  fa.pin(pfn);
  CHECK(fa.pins(pfn) == 2);
  fa.free(pfn);  // MADV_DONTNEED / munmap while pinned
  REQUIRE(fa.use(pfn) != nullptr);
  CHECK(fa.alloc({FrameKind::Gmem}) != std::optional<uint64_t>(pfn));
  fa.unpin(pfn);
  CHECK(fa.use(pfn) != nullptr);
  fa.unpin(pfn);
  CHECK(fa.use(pfn) == nullptr);
  CHECK(fa.pins(pfn) == 0);
  CHECK(fa.alloc({FrameKind::Gmem}) == std::optional<uint64_t>(pfn));  // reusable again
}

TEST_CASE("FrameAllocator: unpinning a frame still in use leaves it allocated") {
  FrameAllocator fa(0x100, 0x110);
  const uint64_t pfn = *fa.alloc({FrameKind::Anon});
  fa.pin(pfn);
  fa.unpin(pfn);
  CHECK(fa.use(pfn) != nullptr);
  fa.free(pfn);
  CHECK(fa.use(pfn) == nullptr);
}

TEST_CASE("FrameAllocator: a freed, aligned, fully free 2 MiB block is reused by alloc_huge") {
  FrameAllocator a(0, 3 * 512);
  const uint64_t b0 = *a.alloc_huge({}), b1 = *a.alloc_huge({}), b2 = *a.alloc_huge({});
  CHECK(b0 == 0);
  CHECK(b1 == 512);
  CHECK(b2 == 1024);
  CHECK_FALSE(a.alloc_huge({}).has_value());  // the top is used up, nothing freed yet
  // All of block 1 but one frame freed: not a free 2 MiB block.
  for (uint64_t i = 1; i < 512; ++i) a.free(b1 + i);
  CHECK(a.free_huge_blocks() == 0);
  CHECK_FALSE(a.alloc_huge({}).has_value());
  a.free(b1);
  CHECK(a.free_huge_blocks() == 1);
  auto again = a.alloc_huge({FrameKind::Gmem, nullptr, 7, 3});
  REQUIRE(again);
  CHECK(*again == b1);
  CHECK(a.use(b1 + 511)->index == 7 + 511);
  CHECK(a.free_huge_blocks() == 0);
  // The 512 free-list entries the block left behind are stale: a small
  // allocation does not hand out any of those frames again.
  CHECK_FALSE(a.alloc({}).has_value());
  CHECK(a.in_use() == 3 * 512);
}

TEST_CASE("FrameAllocator: a pinned or held frame keeps its 2 MiB block from reuse until it is really free") {
  FrameAllocator a(0, 2 * 512);
  const uint64_t b0 = *a.alloc_huge({}), b1 = *a.alloc_huge({});
  a.pin(b0 + 5);
  a.hold(b1 + 9);
  for (uint64_t i = 0; i < 512; ++i) {
    a.free(b0 + i);
    a.free(b1 + i);
  }
  CHECK(a.free_huge_blocks() == 0);
  CHECK_FALSE(a.alloc_huge({}).has_value());
  a.unpin(b0 + 5);  // the last pin frees it
  CHECK(a.free_huge_blocks() == 1);
  a.release(b1 + 9);
  CHECK(a.free_huge_blocks() == 2);
  CHECK(a.alloc_huge({}) == b0);  // lowest block first
  CHECK(a.alloc_huge({}) == b1);
}

TEST_CASE("FrameAllocator: random 4 KiB and 2 MiB allocations never share a frame, and the free-block index stays exact") {
  constexpr uint64_t kBase = 0x80, kEnd = 0x80 + 8 * 512 + 100;  // unaligned at both ends
  FrameAllocator a(kBase, kEnd);
  std::set<uint64_t> live;
  std::vector<uint64_t> order;  // live frames, to pick from
  uint64_t top = kBase;         // one past the highest frame ever handed out
  uint64_t rng = 12345;
  auto next = [&] { return rng = rng * 6364136223846793005ULL + 1442695040888963407ULL, rng >> 33; };
  size_t huge_ok = 0, huge_reused = 0;
  for (int step = 0; step < 20000; ++step) {
    // Phases that fill memory alternate with phases that drain it, so
    // blocks fragment and then become whole again.
    const bool draining = (step / 1000) % 2;
    const uint64_t r = next() % 100;
    if (r < (draining ? 5u : 45u)) {
      if (auto p = a.alloc({})) {
        REQUIRE(live.insert(*p).second);
        order.push_back(*p);
        top = std::max(top, *p + 1);
      } else {
        CHECK(live.size() == kEnd - kBase);  // only when every frame is in use
      }
    } else if (r < (draining ? 10u : 50u)) {
      const size_t reusable = a.free_huge_blocks();
      const bool from_top = ((top + 511) & ~uint64_t{511}) + 512 <= kEnd;
      if (auto p = a.alloc_huge({})) {
        CHECK(*p % 512 == 0);
        for (uint64_t i = 0; i < 512; ++i) REQUIRE(live.insert(*p + i).second);
        for (uint64_t i = 0; i < 512; ++i) order.push_back(*p + i);
        if (*p < top) ++huge_reused;
        top = std::max(top, *p + 512);
        ++huge_ok;
      } else {
        CHECK_FALSE(from_top);
        CHECK(reusable == 0);
      }
    } else if (!order.empty()) {
      const size_t k = next() % order.size();
      const uint64_t pfn = order[k];
      order[k] = order.back();
      order.pop_back();
      live.erase(pfn);
      a.free(pfn);
    }
    if (step % 500 == 0) {
      size_t expect = 0;
      for (uint64_t b = (kBase + 511) & ~uint64_t{511}; b + 512 <= top; b += 512) {
        auto it = live.lower_bound(b);
        if (it == live.end() || *it >= b + 512) ++expect;
      }
      REQUIRE(a.free_huge_blocks() == expect);
      REQUIRE(a.in_use() == live.size());
    }
  }
  CHECK(huge_ok > 10);
  CHECK(huge_reused > 0);
}
