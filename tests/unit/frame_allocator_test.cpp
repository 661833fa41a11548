#include <doctest/doctest.h>

#include <cstring>
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
