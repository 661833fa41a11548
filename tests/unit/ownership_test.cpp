// The ownership model keeps one record per frame current through the frame
// allocator's and guest_memfd's hooks: each frame's first owner follows its
// use, conversions hand guest_memfd pages between the host and the VM, and a
// frame that leaves the host is revoked first.
#include <doctest/doctest.h>

#include <memory>
#include <vector>

#include "common/stats.h"
#include "fakes.h"
#include "gmem/guest_memfd.h"
#include "host/frame_allocator.h"
#include "ownership/ownership.h"

using namespace cocosim;
using cocosim_test::FakeMemory;

namespace {

struct Rig {
  FakeMemory mem;
  FrameAllocator frames{0x100, 0x100 + 256};
  Stats stats;
  Ownership own{frames};
  std::vector<uint64_t> revoked;
  Rig() {
    frames.set_use_hook([this](uint64_t pfn, FrameUse& u) { own.assigned(pfn, u); });
    own.set_revoke_hook([this](uint64_t pfn) {
      // Revocation happens while the frame is still the host's.
      CHECK(own.of(pfn).owner == Owner::Host);
      revoked.push_back(pfn);
    });
  }
  std::unique_ptr<GuestMemfd> gmem(uint64_t flags, int vm = 7) {
    auto f = std::make_unique<GuestMemfd>(1, "g", 4 * kPageSize, flags,
                                          GmemVm{vm, "vm7", VmType::SwProtected}, frames, mem, stats);
    f->set_ownership_hook([this](uint64_t pfn, bool p) { own.converted(pfn, p); });
    return f;
  }
};

}  // namespace

TEST_CASE("Ownership: a frame's first owner follows what it is allocated for") {
  Rig r;
  auto anon = r.frames.alloc({FrameKind::Anon, nullptr, 0, -1});
  auto table = r.frames.alloc({FrameKind::PageTable, nullptr, 0, 3});
  REQUIRE(anon);
  REQUIRE(table);
  CHECK(r.own.of(*anon).owner == Owner::Host);
  CHECK(r.own.of(*anon).host_may_map);
  CHECK(r.own.of(*table).owner == Owner::Hypervisor);
  CHECK(r.own.of(*table).vm == 3);
  CHECK_FALSE(r.own.exclusive(*anon));
  r.frames.free(*anon);
  CHECK(r.own.of(*anon).owner == Owner::None);  // free: nobody's
}

TEST_CASE("Ownership: guest_memfd pages are the VM's while private and the host's while shared") {
  Rig r;
  auto f = r.gmem(GuestMemfd::kFlagMmap);  // private until converted
  auto p0 = f->get_pfn(0);
  REQUIRE(p0.err == 0);
  CHECK(r.own.of(p0.pfn).owner == Owner::Guest);
  CHECK(r.own.of(p0.pfn).vm == 7);
  CHECK_FALSE(r.own.of(p0.pfn).host_may_map);
  CHECK(r.own.exclusive(p0.pfn));
  CHECK(r.own.guest_private(p0.pfn));
  REQUIRE(f->set_attributes(0, 4 * kPageSize, 0, 0, nullptr) == 0);  // to shared
  CHECK(r.own.of(p0.pfn).owner == Owner::Host);
  CHECK(r.own.of(p0.pfn).host_may_map);
  CHECK(r.revoked.empty());
  auto p1 = f->get_pfn(1);  // allocated while shared
  CHECK(r.own.of(p1.pfn).owner == Owner::Host);
  REQUIRE(f->set_attributes(0, 4 * kPageSize, GuestMemfd::kAttrPrivate, 0, nullptr) == 0);
  CHECK(r.own.of(p0.pfn).owner == Owner::Guest);
  CHECK(r.own.of(p1.pfn).owner == Owner::Guest);
  CHECK(r.revoked.size() == 2);  // each frame revoked before it changed hands
}

TEST_CASE("Ownership: the record always equals what the frame's use implies") {
  Rig r;
  auto f = r.gmem(GuestMemfd::kFlagMmap | GuestMemfd::kFlagInitShared);
  for (uint64_t i = 0; i < 4; ++i) REQUIRE(f->get_pfn(i).err == 0);
  REQUIRE(f->set_attributes(kPageSize, 2 * kPageSize, GuestMemfd::kAttrPrivate, 0, nullptr) == 0);
  r.frames.for_each_used([&](uint64_t pfn, const FrameUse& u) {
    const FrameOwner want = Ownership::expected(u);
    CHECK(u.own.owner == want.owner);
    CHECK(u.own.vm == want.vm);
    CHECK(u.own.host_may_map == want.host_may_map);
  });
}
