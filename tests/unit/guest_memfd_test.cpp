#include <doctest/doctest.h>

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <memory>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include "common/stats.h"
#include "fakes.h"
#include "gmem/guest_memfd.h"
#include "host/frame_allocator.h"

using namespace cocosim;
using cocosim_test::FakeMemory;

namespace {

constexpr uint64_t P = kPageSize;
constexpr uint64_t kMmap = GuestMemfd::kFlagMmap;
constexpr uint64_t kInitShared = GuestMemfd::kFlagInitShared;
constexpr uint64_t kPrivate = GuestMemfd::kAttrPrivate;
constexpr uint64_t kZero = GuestMemfd::kModeZero;
constexpr uint64_t kPreserve = GuestMemfd::kModePreserve;
constexpr int K = GuestMemfd::kFallocKeepSize;
constexpr int PH = GuestMemfd::kFallocPunchHole;

struct FakeBinding : GmemBinding {
  std::vector<std::pair<uint64_t, uint64_t>> invalidated;
  std::vector<std::tuple<uint64_t, uint64_t, bool>> converted;
  int released = 0;
  void gmem_invalidate(uint64_t first, uint64_t end) override { invalidated.emplace_back(first, end); }
  void gmem_converted(uint64_t first, uint64_t end, bool to_private) override {
    converted.emplace_back(first, end, to_private);
  }
  void gmem_released() override { ++released; }
};

struct FakeHostMapper : GmemHostMapper {
  std::vector<std::pair<uint64_t, uint64_t>> unmapped;
  void unmap_range(GuestMemfd&, uint64_t first, uint64_t end) override { unmapped.emplace_back(first, end); }
  bool page_mapped(const GuestMemfd&, uint64_t) const override { return false; }
  // Whether some call removed the mappings of every page of [first, end).
  bool covered(uint64_t first, uint64_t end) const {
    for (uint64_t i = first; i < end; ++i) {
      bool hit = false;
      for (auto [lo, hi] : unmapped) hit = hit || (lo <= i && i < hi);
      if (!hit) return false;
    }
    return true;
  }
};

struct Rig {
  FakeMemory mem;
  FrameAllocator frames{0x100, 0x100 + 1024};
  Stats stats;
  std::unique_ptr<GuestMemfd> make(uint64_t pages, uint64_t flags, VmType type = VmType::SwProtected,
                                   int vm_id = 1) {
    return std::make_unique<GuestMemfd>(1, "g", pages * P, flags, GmemVm{vm_id, "vm", type}, frames, mem,
                                        stats);
  }
  Addr pa(uint64_t pfn) const { return pfn << kPageShift; }
};

}  // namespace

// ---- KVM_CREATE_GUEST_MEMFD -------------------------------------------------

TEST_CASE("GuestMemfd: validate_create accepts exactly the flags each VM type offers") {
  struct Case {
    VmType type;
    uint64_t supported;
  };
  const Case cases[] = {{VmType::Default, kMmap | kInitShared},
                        {VmType::SwProtected, kMmap | kInitShared},
                        {VmType::Tdx, kMmap},
                        {VmType::Pkvm, kMmap | kInitShared}};
  for (const Case& c : cases) {
    CAPTURE(std::string(vm_type_name(c.type)));
    for (int bit = 0; bit < 64; ++bit) {
      CAPTURE(bit);
      const uint64_t f = uint64_t{1} << bit;
      CHECK(GuestMemfd::validate_create(P, f, c.type) == ((c.supported & f) ? 0 : EINVAL));
    }
    CHECK(GuestMemfd::validate_create(P, 0, c.type) == 0);
    CHECK(GuestMemfd::validate_create(P, c.supported, c.type) == 0);
  }
}

TEST_CASE("GuestMemfd: INIT_SHARED is refused on tdx even together with MMAP") {
  CHECK(GuestMemfd::validate_create(4 * P, kMmap | kInitShared, VmType::Tdx) == EINVAL);
  CHECK(GuestMemfd::validate_create(4 * P, kMmap | kInitShared, VmType::SwProtected) == 0);
}

TEST_CASE("GuestMemfd: validate_create refuses sizes that are zero, unaligned or negative") {
  CHECK(GuestMemfd::validate_create(0, 0, VmType::SwProtected) == EINVAL);
  for (uint64_t s : {uint64_t{1}, uint64_t{2}, uint64_t{2048}, P - 1, P + 1, 2 * P - 1}) {
    CAPTURE(s);
    CHECK(GuestMemfd::validate_create(s, 0, VmType::SwProtected) == EINVAL);
  }
  CHECK(GuestMemfd::validate_create(uint64_t{1} << 63, 0, VmType::SwProtected) == EINVAL);
  CHECK(GuestMemfd::validate_create(P, 0, VmType::SwProtected) == 0);
  CHECK(GuestMemfd::validate_create(2 * P, 0, VmType::SwProtected) == 0);
}

TEST_CASE("GuestMemfd: page state starts private without INIT_SHARED and shared with it") {
  Rig r;
  auto priv = r.make(4, kMmap);
  auto shr = r.make(4, kMmap | kInitShared);
  CHECK(priv->range_is(0, 4, true));
  CHECK(shr->range_is(0, 4, false));
  CHECK(priv->pages() == 4);
  CHECK(priv->size() == 4 * P);
  CHECK(priv->allocated_pages() == 0);
  CHECK(shr->mmap_allowed());
  CHECK_FALSE(r.make(1, 0)->mmap_allowed());
}

// ---- fallocate ----------------------------------------------------------------

TEST_CASE("GuestMemfd: fallocate follows the guest_memfd_test matrix") {
  Rig r;
  auto f = r.make(4, kMmap | kInitShared);
  const int64_t p = int64_t(P), size = 4 * int64_t(P);
  CHECK(f->fallocate(K, 0, size) == 0);
  CHECK(f->fallocate(K | PH, p - 1, p) == EINVAL);
  CHECK(f->fallocate(K, size, p) == EINVAL);
  CHECK(f->fallocate(K, size + p, p) == EINVAL);
  CHECK(f->fallocate(K | PH, size, p) == 0);
  CHECK(f->fallocate(K | PH, size + p, p) == 0);
  CHECK(f->fallocate(K | PH, p, p - 1) == EINVAL);
  CHECK(f->fallocate(K | PH, p, p) == 0);
  CHECK(f->fallocate(K, p, p) == 0);
}

TEST_CASE("GuestMemfd: fallocate without KEEP_SIZE or with other mode bits is EOPNOTSUPP") {
  Rig r;
  auto f = r.make(4, kMmap | kInitShared);
  CHECK(f->fallocate(0, 0, int64_t(P)) == EOPNOTSUPP);
  CHECK(f->fallocate(PH, 0, int64_t(P)) == EOPNOTSUPP);
  CHECK(f->fallocate(K | 0x08, 0, int64_t(P)) == EOPNOTSUPP);  // FALLOC_FL_COLLAPSE_RANGE
  CHECK(f->fallocate(K | 0x10, 0, int64_t(P)) == EOPNOTSUPP);  // FALLOC_FL_ZERO_RANGE
  CHECK(f->allocated_pages() == 0);
}

TEST_CASE("GuestMemfd: every invalid punch-hole range of guest_memfd_test is EINVAL") {
  Rig r;
  auto f = r.make(4, kMmap | kInitShared);
  const int64_t p = int64_t(P);
  const std::pair<int64_t, int64_t> cases[] = {{0, 1}, {0, p - 1}, {0, p + 1}, {1, 1},     {1, p - 1},
                                               {1, p}, {1, p + 1}, {p, 1},     {p, p - 1}, {p, p + 1}};
  for (const auto& c : cases) {
    const int64_t off = c.first, len = c.second;  // CAPTURE's lambda cannot capture a structured binding (C++17)
    CAPTURE(off);
    CAPTURE(len);
    CHECK(f->fallocate(K | PH, off, len) == EINVAL);
  }
}

TEST_CASE("GuestMemfd: fallocate refuses a negative offset or a non-positive length") {
  Rig r;
  auto f = r.make(4, kMmap | kInitShared);
  CHECK(f->fallocate(K, -int64_t(P), int64_t(P)) == EINVAL);
  CHECK(f->fallocate(K, 0, 0) == EINVAL);
  CHECK(f->fallocate(K, 0, -int64_t(P)) == EINVAL);
}

TEST_CASE("GuestMemfd: fallocate allocates exactly the pages of the range, tagged as the file's") {
  Rig r;
  auto f = r.make(4, kMmap | kInitShared);
  REQUIRE(f->fallocate(K, int64_t(P), 2 * int64_t(P)) == 0);
  CHECK(f->allocated_pages() == 2);
  CHECK_FALSE(f->allocated(0));
  CHECK(f->allocated(1));
  CHECK(f->allocated(2));
  CHECK_FALSE(f->allocated(3));
  const FrameUse* u = r.frames.use(*f->pfn(2));
  REQUIRE(u != nullptr);
  CHECK(u->kind == FrameKind::Gmem);
  CHECK(u->gmem == f.get());
  CHECK(u->index == 2);
  CHECK(u->vm == 1);
  CHECK(r.stats.get("platform.gmem.folios_allocated") == 2);
  // Allocating again changes nothing.
  const uint64_t pfn = *f->pfn(1);
  REQUIRE(f->fallocate(K, 0, 4 * int64_t(P)) == 0);
  CHECK(*f->pfn(1) == pfn);
  CHECK(f->allocated_pages() == 4);
}

TEST_CASE("GuestMemfd: punch hole frees the frames and a reallocated page reads zeros") {
  std::vector<uint64_t> freed;  // outlives the file, whose destructor frees frames
  Rig r;
  auto f = r.make(4, kMmap | kInitShared);
  r.frames.set_free_hook([&](uint64_t pfn) { freed.push_back(pfn); });
  REQUIRE(f->fallocate(K, 0, 4 * int64_t(P)) == 0);
  const uint64_t pfn1 = *f->pfn(1);
  const uint64_t pfn2 = *f->pfn(2);
  r.mem.fill(r.pa(pfn1), 0xaa, P);
  r.mem.fill(r.pa(pfn2), 0xbb, P);
  const size_t in_use = r.frames.in_use();

  REQUIRE(f->fallocate(K | PH, int64_t(P), 2 * int64_t(P)) == 0);
  CHECK_FALSE(f->allocated(1));
  CHECK_FALSE(f->allocated(2));
  CHECK(f->allocated(0));
  CHECK(f->allocated(3));
  CHECK(r.frames.use(pfn1) == nullptr);
  CHECK(r.frames.use(pfn2) == nullptr);
  CHECK(r.frames.in_use() == in_use - 2);
  CHECK(std::set<uint64_t>(freed.begin(), freed.end()) == std::set<uint64_t>{pfn1, pfn2});

  // The allocator hands the freed frames back (LIFO): they must come back cleared.
  REQUIRE(f->fallocate(K, int64_t(P), 2 * int64_t(P)) == 0);
  CHECK(std::set<uint64_t>{*f->pfn(1), *f->pfn(2)} == std::set<uint64_t>{pfn1, pfn2});
  CHECK(r.mem.all(r.pa(*f->pfn(1)), P, 0));
  CHECK(r.mem.all(r.pa(*f->pfn(2)), P, 0));
}

TEST_CASE("GuestMemfd: punch hole keeps each page's shared or private state") {
  Rig r;
  auto f = r.make(4, kMmap | kInitShared);
  REQUIRE(f->fallocate(K, 0, 4 * int64_t(P)) == 0);
  REQUIRE(f->set_attributes(0, P, kPrivate, 0, nullptr) == 0);
  REQUIRE(f->fallocate(K | PH, 0, 4 * int64_t(P)) == 0);
  CHECK(f->allocated_pages() == 0);
  CHECK(f->is_private(0));
  CHECK(f->range_is(1, 4, false));
}

TEST_CASE("GuestMemfd: punch hole invalidates the bindings and host mappings of the range inside the file") {
  Rig r;
  auto f = r.make(4, kMmap | kInitShared);
  FakeBinding a, b;
  FakeHostMapper host;
  f->set_host_mapper(&host);
  REQUIRE(f->bind(0, 2, &a) == 0);
  REQUIRE(f->bind(2, 4, &b) == 0);
  REQUIRE(f->fallocate(K | PH, int64_t(P), 2 * int64_t(P)) == 0);
  CHECK(a.invalidated == std::vector<std::pair<uint64_t, uint64_t>>{{1, 2}});
  CHECK(b.invalidated == std::vector<std::pair<uint64_t, uint64_t>>{{2, 3}});
  CHECK(host.covered(1, 3));
  CHECK(a.converted.empty());

  // Beyond EOF only the part inside the file is invalidated.
  a.invalidated.clear();
  b.invalidated.clear();
  REQUIRE(f->fallocate(K | PH, 3 * int64_t(P), 4 * int64_t(P)) == 0);
  CHECK(a.invalidated.empty());
  CHECK(b.invalidated == std::vector<std::pair<uint64_t, uint64_t>>{{3, 4}});
}

TEST_CASE("GuestMemfd: a pinned page survives a punch hole until it is unpinned") {
  Rig r;
  auto f = r.make(4, kMmap | kInitShared);
  uint64_t pfn = 0;
  REQUIRE(f->pin(0, &pfn) == 0);
  CHECK(f->refcount(0) == 2);
  REQUIRE(f->fallocate(K | PH, 0, int64_t(P)) == 0);
  CHECK_FALSE(f->allocated(0));
  CHECK(r.frames.use(pfn) != nullptr);  // the pinner still holds it
  CHECK(f->unpin(pfn) == 0);
  CHECK(r.frames.use(pfn) == nullptr);
  CHECK(f->unpin(pfn) == EINVAL);
}

// ---- KVM_SET_MEMORY_ATTRIBUTES2 -------------------------------------------------

TEST_CASE("GuestMemfd: set_attributes argument errors are EINVAL and change nothing") {
  Rig r;
  auto f = r.make(4, kMmap | kInitShared);
  FakeBinding b;
  REQUIRE(f->bind(0, 4, &b) == 0);
  uint64_t eo = 0x5a5a;
  SUBCASE("both content modes") { CHECK(f->set_attributes(0, P, 0, kZero | kPreserve, &eo) == EINVAL); }
  SUBCASE("unknown flag bits") {
    CHECK(f->set_attributes(0, P, kPrivate, 1ull << 2, &eo) == EINVAL);
    CHECK(f->set_attributes(0, P, kPrivate, 1ull << 63, &eo) == EINVAL);
  }
  SUBCASE("attributes other than PRIVATE") {
    CHECK(f->set_attributes(0, P, 1ull << 0, 0, &eo) == EINVAL);
    CHECK(f->set_attributes(0, P, 1ull << 4, 0, &eo) == EINVAL);
    CHECK(f->set_attributes(0, P, kPrivate | (1ull << 2), 0, &eo) == EINVAL);
  }
  SUBCASE("size 0") { CHECK(f->set_attributes(0, 0, kPrivate, 0, &eo) == EINVAL); }
  SUBCASE("offset + size overflows") {
    CHECK(f->set_attributes(P, ~kPageMask, kPrivate, 0, &eo) == EINVAL);
    CHECK(f->set_attributes(~kPageMask, 2 * P, kPrivate, 0, &eo) == EINVAL);
  }
  SUBCASE("unaligned offset or size") {
    CHECK(f->set_attributes(1, P, kPrivate, 0, &eo) == EINVAL);
    CHECK(f->set_attributes(0, P + 1, kPrivate, 0, &eo) == EINVAL);
    CHECK(f->set_attributes(0, 1, kPrivate, 0, &eo) == EINVAL);
  }
  SUBCASE("outside the file") {
    CHECK(f->set_attributes(4 * P, P, kPrivate, 0, &eo) == EINVAL);
    CHECK(f->set_attributes(3 * P, 2 * P, kPrivate, 0, &eo) == EINVAL);
    CHECK(f->set_attributes(0, 5 * P, kPrivate, 0, &eo) == EINVAL);
  }
  CHECK(f->range_is(0, 4, false));
  CHECK(b.invalidated.empty());
  CHECK(b.converted.empty());
  CHECK(eo == 0x5a5a);
  CHECK(r.stats.get("platform.gmem.conversions") == 0);
}

TEST_CASE("GuestMemfd: set_attributes on a VM without private memory is EINVAL") {
  Rig r;
  auto f = r.make(4, kMmap | kInitShared, VmType::Default);
  CHECK(f->set_attributes(0, P, kPrivate, 0, nullptr) == EINVAL);
  CHECK(f->set_attributes(0, P, 0, 0, nullptr) == EINVAL);
  CHECK(f->range_is(0, 4, false));
}

TEST_CASE("GuestMemfd: ZERO on a conversion to private is EOPNOTSUPP") {
  Rig r;
  auto f = r.make(4, kMmap | kInitShared);
  CHECK(f->set_attributes(0, P, kPrivate, kZero, nullptr) == EOPNOTSUPP);
  CHECK(f->range_is(0, 4, false));
}

TEST_CASE("GuestMemfd: PRESERVE is EOPNOTSUPP on tdx in both directions, fine elsewhere") {
  Rig r;
  auto tdx = r.make(4, kMmap, VmType::Tdx);
  CHECK(tdx->set_attributes(0, P, 0, kPreserve, nullptr) == EOPNOTSUPP);
  CHECK(tdx->set_attributes(0, P, kPrivate, kPreserve, nullptr) == EOPNOTSUPP);
  CHECK(tdx->range_is(0, 4, true));
  CHECK(tdx->set_attributes(0, P, 0, 0, nullptr) == 0);
  CHECK(tdx->range_is(0, 1, false));

  for (VmType t : {VmType::SwProtected, VmType::Pkvm}) {
    CAPTURE(std::string(vm_type_name(t)));
    auto f = r.make(4, kMmap | kInitShared, t);
    CHECK(f->set_attributes(0, P, kPrivate, kPreserve, nullptr) == 0);
    CHECK(f->set_attributes(0, P, 0, kPreserve, nullptr) == 0);
  }
}

TEST_CASE("GuestMemfd: PRESERVE keeps a page's content across a round trip") {
  Rig r;
  auto f = r.make(2, kMmap | kInitShared);
  auto hf = f->host_fault(0);
  REQUIRE(hf.signal == 0);
  r.mem.fill(r.pa(hf.pfn), 0x41, P);
  REQUIRE(f->set_attributes(0, P, kPrivate, kPreserve, nullptr) == 0);
  REQUIRE(f->set_attributes(0, P, 0, kPreserve, nullptr) == 0);
  CHECK(*f->pfn(0) == hf.pfn);
  CHECK(r.mem.all(r.pa(hf.pfn), P, 0x41));
}

TEST_CASE("GuestMemfd: a pinned page makes to-private fail with EAGAIN at its offset and nothing changes") {
  Rig r;
  auto f = r.make(4, kMmap | kInitShared);
  FakeBinding b;
  REQUIRE(f->bind(0, 4, &b) == 0);
  uint64_t pinned_pfn = 0;
  REQUIRE(f->pin(2, &pinned_pfn) == 0);
  REQUIRE(f->fallocate(K, 0, 4 * int64_t(P)) == 0);

  uint64_t eo = 0;
  CHECK(f->set_attributes(0, 4 * P, kPrivate, 0, &eo) == EAGAIN);
  CHECK(eo == 2 * P);
  CHECK(f->range_is(0, 4, false));
  CHECK(b.invalidated.empty());
  CHECK(b.converted.empty());
  CHECK(r.stats.get("platform.gmem.conversions") == 0);

  eo = 0;
  CHECK(f->set_attributes(2 * P, P, kPrivate, 0, &eo) == EAGAIN);
  CHECK(eo == 2 * P);
  CHECK(f->range_is(0, 4, false));

  // The other pages convert one at a time; after the unpin the whole range does.
  CHECK(f->set_attributes(0, P, kPrivate, 0, nullptr) == 0);
  CHECK(f->set_attributes(3 * P, P, kPrivate, 0, nullptr) == 0);
  CHECK(f->unpin(pinned_pfn) == 0);
  CHECK(f->set_attributes(0, 4 * P, kPrivate, 0, nullptr) == 0);
  CHECK(f->range_is(0, 4, true));
}

TEST_CASE("GuestMemfd: ZERO zeroes every allocated page of the range, shared ones included") {
  Rig r;
  auto f = r.make(4, kMmap | kInitShared);
  REQUIRE(f->fallocate(K, 0, int64_t(P)) == 0);
  REQUIRE(f->fallocate(K, 2 * int64_t(P), int64_t(P)) == 0);
  const uint64_t p0 = *f->pfn(0), p2 = *f->pfn(2);
  r.mem.fill(r.pa(p0), 0xaa, P);
  r.mem.fill(r.pa(p2), 0xbb, P);
  REQUIRE(f->set_attributes(2 * P, P, kPrivate, 0, nullptr) == 0);
  CHECK(r.mem.all(r.pa(p2), P, 0xbb));  // no mode: no content change here

  REQUIRE(f->set_attributes(0, 4 * P, 0, kZero, nullptr) == 0);
  CHECK(f->range_is(0, 4, false));
  CHECK(r.mem.all(r.pa(p0), P, 0));  // was already shared: zeroed too
  CHECK(r.mem.all(r.pa(p2), P, 0));
  CHECK(f->allocated_pages() == 2);  // holes stay holes
  CHECK_FALSE(f->allocated(1));
  CHECK_FALSE(f->allocated(3));
  CHECK(r.stats.get("platform.gmem.pages_zeroed") == 2);
}

TEST_CASE("GuestMemfd: ZERO leaves pages outside the range alone") {
  Rig r;
  auto f = r.make(4, kMmap | kInitShared);
  REQUIRE(f->fallocate(K, 0, 4 * int64_t(P)) == 0);
  for (uint64_t i = 0; i < 4; ++i) r.mem.fill(r.pa(*f->pfn(i)), 0xcc, P);
  REQUIRE(f->set_attributes(P, 2 * P, 0, kZero, nullptr) == 0);
  CHECK(r.mem.all(r.pa(*f->pfn(0)), P, 0xcc));
  CHECK(r.mem.all(r.pa(*f->pfn(1)), P, 0));
  CHECK(r.mem.all(r.pa(*f->pfn(2)), P, 0));
  CHECK(r.mem.all(r.pa(*f->pfn(3)), P, 0xcc));
}

TEST_CASE("GuestMemfd: conversions reach the bindings, clipped to each binding") {
  Rig r;
  auto f = r.make(8, kMmap | kInitShared);
  FakeBinding a, b;
  REQUIRE(f->bind(1, 3, &a) == 0);
  REQUIRE(f->bind(5, 8, &b) == 0);
  REQUIRE(f->set_attributes(0, 6 * P, kPrivate, 0, nullptr) == 0);
  CHECK(a.invalidated == std::vector<std::pair<uint64_t, uint64_t>>{{1, 3}});
  CHECK(b.invalidated == std::vector<std::pair<uint64_t, uint64_t>>{{5, 6}});
  CHECK(a.converted == std::vector<std::tuple<uint64_t, uint64_t, bool>>{{1, 3, true}});
  CHECK(b.converted == std::vector<std::tuple<uint64_t, uint64_t, bool>>{{5, 6, true}});

  a.invalidated.clear();
  a.converted.clear();
  REQUIRE(f->set_attributes(2 * P, P, 0, 0, nullptr) == 0);
  CHECK(a.invalidated == std::vector<std::pair<uint64_t, uint64_t>>{{2, 3}});
  CHECK(a.converted == std::vector<std::tuple<uint64_t, uint64_t, bool>>{{2, 3, false}});
  CHECK(r.stats.get("platform.gmem.conversions") == 2);
}

TEST_CASE("GuestMemfd: to-private removes the host mappings of exactly the range") {
  Rig r;
  auto f = r.make(4, kMmap | kInitShared);
  FakeHostMapper host;
  f->set_host_mapper(&host);
  REQUIRE(f->set_attributes(P, 2 * P, kPrivate, 0, nullptr) == 0);
  CHECK(host.covered(1, 3));
  for (auto [lo, hi] : host.unmapped) {
    CHECK(lo >= 1);
    CHECK(hi <= 3);
  }
}

TEST_CASE("GuestMemfd: the ownership hook sees each allocated frame of a conversion, both ways") {
  std::vector<uint64_t> to_private, to_shared;
  Rig r;
  auto f = r.make(4, kMmap | kInitShared);
  f->set_ownership_hook([&](uint64_t pfn, bool priv) { (priv ? to_private : to_shared).push_back(pfn); });
  REQUIRE(f->fallocate(K, 0, int64_t(P)) == 0);
  REQUIRE(f->fallocate(K, 2 * int64_t(P), int64_t(P)) == 0);
  REQUIRE(f->set_attributes(0, 4 * P, kPrivate, 0, nullptr) == 0);
  std::sort(to_private.begin(), to_private.end());
  std::vector<uint64_t> want{*f->pfn(0), *f->pfn(2)};
  std::sort(want.begin(), want.end());
  CHECK(to_private == want);
  CHECK(to_shared.empty());

  to_private.clear();
  REQUIRE(f->set_attributes(0, 4 * P, 0, 0, nullptr) == 0);
  std::sort(to_shared.begin(), to_shared.end());
  CHECK(to_shared == want);
  CHECK(to_private.empty());
}

// ---- host and guest faults, pins ------------------------------------------------

TEST_CASE("GuestMemfd: a host fault on a private page or beyond EOF is SIGBUS") {
  Rig r;
  auto priv = r.make(4, kMmap);
  CHECK(priv->host_fault(0).signal == SIGBUS);
  CHECK(priv->allocated_pages() == 0);
  auto shr = r.make(4, kMmap | kInitShared);
  CHECK(shr->host_fault(4).signal == SIGBUS);
  CHECK(shr->host_fault(1000).signal == SIGBUS);
  REQUIRE(shr->set_attributes(P, P, kPrivate, 0, nullptr) == 0);
  CHECK(shr->host_fault(1).signal == SIGBUS);
  CHECK(shr->host_fault(0).signal == 0);
}

TEST_CASE("GuestMemfd: a host fault on a shared page allocates a zeroed folio once") {
  Rig r;
  // Leave junk in the frame the allocator will hand out next.
  auto junk = *r.frames.alloc({});
  r.mem.fill(r.pa(junk), 0xee, P);
  r.frames.free(junk);

  auto f = r.make(4, kMmap | kInitShared);
  auto hf = f->host_fault(3);
  CHECK(hf.signal == 0);
  CHECK(hf.pfn == junk);
  CHECK(r.mem.all(r.pa(hf.pfn), P, 0));
  CHECK(f->allocated(3));
  CHECK(f->host_fault(3).pfn == hf.pfn);
  CHECK(f->allocated_pages() == 1);
  CHECK(f->refcount(3) == 1);
  CHECK(f->refcount(2) == 0);
}

TEST_CASE("GuestMemfd: get_pfn serves private pages to the guest and refuses beyond EOF") {
  Rig r;
  auto f = r.make(2, kMmap);
  auto g = f->get_pfn(1);
  CHECK(g.err == 0);
  CHECK(f->allocated(1));
  CHECK(*f->pfn(1) == g.pfn);
  CHECK(f->get_pfn(2).err == EFAULT);
}

TEST_CASE("GuestMemfd: only shared pages inside the file can be pinned") {
  Rig r;
  auto f = r.make(2, kMmap);
  uint64_t pfn = 0;
  CHECK(f->pin(0, &pfn) == EFAULT);  // private
  CHECK(f->pin(2, &pfn) == EFAULT);  // beyond EOF
  REQUIRE(f->set_attributes(0, P, 0, 0, nullptr) == 0);
  CHECK(f->pin(0, &pfn) == 0);
  CHECK(f->refcount(0) == 2);
  CHECK(f->unpin(pfn) == 0);
  CHECK(f->refcount(0) == 1);
  CHECK(f->unpin(pfn) == EINVAL);
}

// ---- bindings and lifetime --------------------------------------------------------

TEST_CASE("GuestMemfd: a binding that overlaps another one is EINVAL") {
  Rig r;
  auto f = r.make(4, kMmap);
  FakeBinding a, b, c;
  CHECK(f->bind(0, 2, &a) == 0);
  CHECK(f->bind(1, 3, &b) == EINVAL);
  CHECK(f->bind(0, 4, &b) == EINVAL);
  CHECK(f->bind(1, 2, &b) == EINVAL);
  CHECK(f->bind(2, 4, &b) == 0);
  CHECK(f->bind(0, 1, &c) == EINVAL);
  f->unbind(&a);
  CHECK(f->bind(0, 1, &c) == 0);
  CHECK(f->bound());
}

TEST_CASE("GuestMemfd: release zaps and detaches every binding") {
  Rig r;
  auto f = r.make(4, kMmap);
  FakeBinding a, b;
  REQUIRE(f->bind(0, 1, &a) == 0);
  REQUIRE(f->bind(2, 4, &b) == 0);
  f->release();
  CHECK(a.invalidated == std::vector<std::pair<uint64_t, uint64_t>>{{0, 1}});
  CHECK(b.invalidated == std::vector<std::pair<uint64_t, uint64_t>>{{2, 4}});
  CHECK(a.released == 1);
  CHECK(b.released == 1);
  CHECK_FALSE(f->bound());
}

TEST_CASE("GuestMemfd: destroying the file frees all its frames") {
  Rig r;
  {
    auto f = r.make(4, kMmap | kInitShared);
    REQUIRE(f->fallocate(K, 0, 4 * int64_t(P)) == 0);
    CHECK(r.frames.in_use() == 4);
  }
  CHECK(r.frames.in_use() == 0);
}

TEST_CASE("GuestMemfd: folios_in lists the allocated pages of a range") {
  Rig r;
  auto f = r.make(8, kMmap | kInitShared);
  REQUIRE(f->fallocate(K, int64_t(P), int64_t(P)) == 0);
  REQUIRE(f->fallocate(K, 5 * int64_t(P), 2 * int64_t(P)) == 0);
  auto v = f->folios_in(2, 6);
  REQUIRE(v.size() == 1);
  CHECK(v[0].first == 5);
  CHECK(v[0].second == *f->pfn(5));
  CHECK(f->folios_in(0, 8).size() == 3);
}

// vfs_fallocate() returns -EINVAL for a negative offset or a length <= 0 before
// it looks at the mode, so fallocate(fd, 0, 0, 0) is EINVAL, not EOPNOTSUPP.
TEST_CASE("GuestMemfd: a non-positive length or negative offset is EINVAL whatever the mode") {
  Rig r;
  auto f = r.make(4, kMmap | kInitShared);
  CHECK(f->fallocate(0, 0, 0) == EINVAL);
  CHECK(f->fallocate(PH, -int64_t(P), int64_t(P)) == EINVAL);
  CHECK(f->fallocate(K | 0x10, 0, -1) == EINVAL);
}

// ---- HUGETLB (2 MiB folios, TDs only) ---------------------------------------

TEST_CASE("GuestMemfd: HUGETLB is a tdx flag, 2 MiB pages only, whole pages only") {
  const uint64_t kHuge = GuestMemfd::kFlagHugetlb, k2M = GuestMemfd::kFlagHuge2M;
  CHECK(GuestMemfd::validate_create(kHugePageSize, kHuge, VmType::Tdx) == 0);
  CHECK(GuestMemfd::validate_create(kHugePageSize, kHuge | k2M | kMmap, VmType::Tdx) == 0);
  CHECK(GuestMemfd::validate_create(kHugePageSize, kHuge, VmType::SwProtected) == EINVAL);
  CHECK(GuestMemfd::validate_create(kHugePageSize, k2M, VmType::Tdx) == EINVAL);  // a size without HUGETLB
  CHECK(GuestMemfd::validate_create(kHugePageSize, kHuge | (30ull << GuestMemfd::kHugeShift), VmType::Tdx) ==
        EINVAL);  // 1 GiB pages are not modelled
  CHECK(GuestMemfd::validate_create(kHugePageSize + P, kHuge, VmType::Tdx) == EINVAL);
}

TEST_CASE("GuestMemfd: a HUGETLB file allocates 2 MiB folios, and a punch hole splits one") {
  Rig r;
  auto f = r.make(1024, GuestMemfd::kFlagHugetlb, VmType::Tdx);
  const auto g = f->get_pfn(600);  // inside the second 2 MiB
  REQUIRE(g.err == 0);
  const auto head = f->huge_folio_pfn(600);
  REQUIRE(head);
  CHECK((*head & 511) == 0);
  CHECK(g.pfn == *head + (600 - 512));
  CHECK(f->allocated_pages() == 512);
  for (uint64_t i = 512; i < 1024; ++i) CHECK(f->pfn(i) == *head + (i - 512));
  CHECK_FALSE(f->huge_folio_pfn(0));  // the first 2 MiB was never touched
  const size_t used = r.frames.in_use();
  REQUIRE(f->fallocate(K | PH, int64_t(700 * P), int64_t(P)) == 0);
  CHECK_FALSE(f->huge_folio_pfn(600));  // split: no longer one folio
  CHECK(r.frames.in_use() == used - 1);
  CHECK(f->pfn(701) == *head + (701 - 512));  // the rest stays where it was
  const auto again = f->get_pfn(700);  // refilled with a 4 KiB page
  REQUIRE(again.err == 0);
  CHECK(r.frames.in_use() == used);
  CHECK_FALSE(f->huge_folio_pfn(700));
}

TEST_CASE("GuestMemfd: a HUGETLB file with no free 2 MiB block fails with ENOMEM, no 4 KiB fallback, and reuses a freed block") {
  Rig r;  // frames 0x100..0x500: one 2 MiB-aligned block (0x200) fits
  auto f = r.make(1024, GuestMemfd::kFlagHugetlb, VmType::Tdx);
  REQUIRE(f->get_pfn(0).err == 0);
  CHECK(f->huge_folio_pfn(0) == uint64_t{0x200});
  const size_t used = r.frames.in_use();
  CHECK(f->get_pfn(512).err == ENOMEM);  // KVM's fault: kvm_gmem_get_pfn -ENOMEM
  CHECK(r.frames.in_use() == used);      // nothing taken instead
  CHECK_FALSE(f->pfn(512));
  CHECK(f->fallocate(K, int64_t(512 * P), int64_t(512 * P)) == ENOMEM);
  CHECK(f->allocated_pages() == 512);
  // A 4 KiB file on the same allocator still gets the 512 frames left
  // (below and above the block), and fails with shmem's ENOSPC only after.
  auto small = r.make(768, 0, VmType::Tdx);
  CHECK(small->fallocate(K, 0, int64_t(512 * P)) == 0);
  CHECK(small->fallocate(K, int64_t(512 * P), int64_t(256 * P)) == ENOSPC);
  small.reset();
  // The whole folio punched out: its block is free again and taken at 2 MiB.
  REQUIRE(f->fallocate(K | PH, 0, int64_t(512 * P)) == 0);
  CHECK(f->fallocate(K, int64_t(512 * P), int64_t(512 * P)) == 0);
  CHECK(f->huge_folio_pfn(512) == uint64_t{0x200});
}
