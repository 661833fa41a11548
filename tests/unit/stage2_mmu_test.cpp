// Stage2PageTable + Stage2Mmu + Tlb over a fake memory, for EPT and arm64.
#include <doctest/doctest.h>

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "common/stats.h"
#include "arch/arm64_arch.h"
#include "arch/stage2_format.h"
#include "arch/x86_arch.h"
#include "cpu/stage2_mmu.h"
#include "cpu/tlb.h"
#include "fakes.h"
#include "host/frame_allocator.h"
#include "kvm/stage2_page_table.h"

using namespace cocosim;
using cocosim_test::FakeMemory;

namespace {

constexpr uint64_t P = kPageSize;
constexpr uint64_t M2 = kHugePageSize;
constexpr uint64_t bit(int n) { return uint64_t{1} << n; }
constexpr uint64_t field(uint64_t v, int hi, int lo) { return (v >> lo) & ((uint64_t{1} << (hi - lo + 1)) - 1); }
const Perm kR{true, false, false};
const Perm kRW{true, true, false};

struct Rig {
  explicit Rig(bool a)
      : arm64(a),
        arch(make_architecture(a ? Arch::Arm64Pkvm : Arch::X86Tdx, {}, stats, "kvm")),
        fmt(&arch->stage2_format()),
        pt(*fmt, mem, frames, 1),
        tlb(1024, 32, stats, "vcpu0.tlb"),
        mmu(*arch, mem, tlb, stats, "vcpu0.mmu") {
    mmu.set_root(pt.root());
  }
  int last() const { return fmt->levels() - 1; }
  // The architecture's level numbers: EPT counts 4..1 from the root, arm64 0..3.
  int level_of_depth(int d) const { return fmt->arch_level(d); }

  bool arm64;
  FakeMemory mem{uint64_t{1} << 32};
  FrameAllocator frames{0x1000, 0x1000 + 256};  // page-table frames at 16 MiB
  Stats stats;
  std::unique_ptr<Architecture> arch;
  const Stage2Format* fmt;
  Stage2PageTable pt;
  Tlb tlb;
  Stage2Mmu mmu;
};

std::string name(bool arm64) { return arm64 ? "arm64" : "EPT"; }

constexpr Addr G = Addr{1} << 32;   // a guest region at 4 GiB
constexpr Addr H = Addr{0x8000000}; // host frames at 128 MiB (2 MiB aligned)

}  // namespace

TEST_CASE("Stage2 MMU: a 4 KiB leaf translates through a full walk, then from the TLB") {
  for (bool arm64 : {false, true}) {
    CAPTURE(name(arm64));
    Rig r(arm64);
    REQUIRE(r.pt.map(G + 3 * P, H + 5 * P, r.last(), Perm::rwx()));
    const uint64_t reads_before = r.mem.reads;
    Translation t = r.mmu.translate(G + 3 * P + 0x123, false, false, 8);
    REQUIRE(t.ok);
    CHECK(t.pa == H + 5 * P + 0x123);
    CHECK(t.levels_walked == unsigned(r.fmt->levels()));
    CHECK(r.mem.reads - reads_before == uint64_t(r.fmt->levels()));
    CHECK(r.stats.get("vcpu0.mmu.walk_reads") == uint64_t(r.fmt->levels()));
    CHECK(r.stats.get("vcpu0.mmu.tlb_misses") == 1);

    const uint64_t reads_mid = r.mem.reads;
    Translation again = r.mmu.translate(G + 3 * P + 0x456, true, false, 4);
    REQUIRE(again.ok);
    CHECK(again.pa == H + 5 * P + 0x456);
    CHECK(again.levels_walked == 0);
    CHECK(r.mem.reads == reads_mid);
    CHECK(r.stats.get("vcpu0.mmu.tlb_hits") == 1);
  }
}

TEST_CASE("Stage2 MMU: a 2 MiB leaf translates every page inside it") {
  for (bool arm64 : {false, true}) {
    CAPTURE(name(arm64));
    Rig r(arm64);
    REQUIRE(r.pt.map(G + M2, H, r.last() - 1, Perm::rwx()));
    Translation t = r.mmu.translate(G + M2 + 0x12345, false, false, 8);
    REQUIRE(t.ok);
    CHECK(t.pa == H + 0x12345);
    CHECK(t.levels_walked == unsigned(r.fmt->levels() - 1));
    Translation end = r.mmu.translate(G + 2 * M2 - 8, true, false, 8);
    REQUIRE(end.ok);
    CHECK(end.pa == H + M2 - 8);
    CHECK_FALSE(r.mmu.translate(G + 2 * M2, false, false, 8).ok);
    CHECK_FALSE(r.mmu.translate(G + M2 - 1, false, false, 1).ok);
    auto leaf = r.pt.lookup(G + M2 + 0x5000);
    REQUIRE(leaf);
    CHECK(leaf->gpa == G + M2);
    CHECK(leaf->pa == H);
    CHECK(leaf->size == M2);
    CHECK(leaf->depth == r.last() - 1);
  }
}

TEST_CASE("Stage2 MMU: a translation fault reports the level where the walk stopped") {
  for (bool arm64 : {false, true}) {
    CAPTURE(name(arm64));
    Rig r(arm64);
    // Empty tables: the root entry is invalid.
    Translation t0 = r.mmu.translate(G, false, false, 8);
    REQUIRE_FALSE(t0.ok);
    CHECK(t0.fault.kind == Stage2Fault::Kind::Translation);
    CHECK(t0.fault.level == r.level_of_depth(0));
    CHECK(t0.fault.level == (arm64 ? 0 : 4));
    CHECK(t0.fault.gpa == G);
    CHECK(r.stats.get("vcpu0.mmu.faults") == 1);

    REQUIRE(r.pt.map(G, H, r.last(), Perm::rwx()));
    // The neighbouring page: the last-level table exists, the entry does not.
    Translation t3 = r.mmu.translate(G + P, false, false, 8);
    REQUIRE_FALSE(t3.ok);
    CHECK(t3.fault.kind == Stage2Fault::Kind::Translation);
    CHECK(t3.fault.level == (arm64 ? 3 : 1));
    // Another 2 MiB region of the same 1 GiB: the level-2 entry is missing.
    Translation t2 = r.mmu.translate(G + 4 * M2, false, false, 8);
    REQUIRE_FALSE(t2.ok);
    CHECK(t2.fault.level == 2);
  }
}

TEST_CASE("Stage2 MMU: a permission fault reports the leaf's level") {
  for (bool arm64 : {false, true}) {
    CAPTURE(name(arm64));
    Rig r(arm64);
    REQUIRE(r.pt.map(G, H, r.last(), kR));
    REQUIRE(r.pt.map(G + M2, H + M2, r.last() - 1, kR));
    CHECK(r.mmu.translate(G, false, false, 8).ok);
    Translation w = r.mmu.translate(G, true, false, 8);
    REQUIRE_FALSE(w.ok);
    CHECK(w.fault.kind == Stage2Fault::Kind::Permission);
    CHECK(w.fault.level == (arm64 ? 3 : 1));
    CHECK(w.fault.write);
    Translation x = r.mmu.translate(G, false, true, 4);
    REQUIRE_FALSE(x.ok);
    CHECK(x.fault.kind == Stage2Fault::Kind::Permission);
    CHECK(x.fault.exec);
    Translation wb = r.mmu.translate(G + M2 + 0x1000, true, false, 8);
    REQUIRE_FALSE(wb.ok);
    CHECK(wb.fault.kind == Stage2Fault::Kind::Permission);
    CHECK(wb.fault.level == 2);
  }
}

TEST_CASE("Stage2 MMU: a TLB entry that lacks the permission is not used and the walk decides") {
  for (bool arm64 : {false, true}) {
    CAPTURE(name(arm64));
    Rig r(arm64);
    REQUIRE(r.pt.map(G, H, r.last(), kR));
    REQUIRE(r.mmu.translate(G, false, false, 8).ok);  // TLB now holds a read-only entry
    REQUIRE(r.pt.map(G, H, r.last(), kRW));           // upgraded in memory
    Translation w = r.mmu.translate(G, true, false, 8);
    CHECK(w.ok);
    CHECK(w.levels_walked == unsigned(r.fmt->levels()));
  }
}

TEST_CASE("Stage2 MMU: EPT exit qualification has the access in bits 2:0 and the entry's R/W/X in 5:3") {
  Rig r(false);
  REQUIRE(r.pt.map(G, H, r.last(), kR));
  Translation w = r.mmu.translate(G + 8, true, false, 8);
  REQUIRE_FALSE(w.ok);
  CHECK(field(w.fault.syndrome, 2, 0) == 2);  // data write
  CHECK(field(w.fault.syndrome, 5, 3) == 1);  // entry: readable only
  Translation x = r.mmu.translate(G + 8, false, true, 4);
  REQUIRE_FALSE(x.ok);
  CHECK(field(x.fault.syndrome, 2, 0) == 4);  // instruction fetch
  CHECK(field(x.fault.syndrome, 5, 3) == 1);
  Translation miss = r.mmu.translate(G + P, false, false, 8);
  REQUIRE_FALSE(miss.ok);
  CHECK(field(miss.fault.syndrome, 2, 0) == 1);  // data read
  CHECK(field(miss.fault.syndrome, 5, 3) == 0);  // not present
  CHECK(miss.fault.hpfar == 0);
}

TEST_CASE("Stage2 MMU: ept_qualification encodes access and entry permissions") {
  CHECK(X86Arch::ept_qualification(false, false, {}) == 0x1);
  CHECK(X86Arch::ept_qualification(true, false, {}) == 0x2);
  CHECK(X86Arch::ept_qualification(false, true, {}) == 0x4);
  CHECK(X86Arch::ept_qualification(true, false, kR) == (0x2 | 0x8));
  CHECK(X86Arch::ept_qualification(true, false, {true, false, true}) == (0x2 | 0x8 | 0x20));
  CHECK(X86Arch::ept_qualification(false, true, kRW) == (0x4 | 0x8 | 0x10));
}

TEST_CASE("Stage2 MMU: arm64 ESR_EL2 for a read translation fault: DABT_LOW, IL, DFSC 0x04+level") {
  Rig r(true);
  REQUIRE(r.pt.map(G, H, r.last(), Perm::rwx()));
  Translation t = r.mmu.translate(G + P + 0x10, false, false, 8);
  REQUIRE_FALSE(t.ok);
  const uint64_t esr = t.fault.syndrome;
  CHECK(field(esr, 31, 26) == 0x24);
  CHECK((esr & bit(25)) != 0);  // IL
  CHECK((esr & bit(6)) == 0);   // WnR: read
  CHECK(field(esr, 5, 0) == 0x04 + 3);
  Translation t0 = r.mmu.translate(Addr{0x100} << 39, false, false, 8);
  REQUIRE_FALSE(t0.ok);
  CHECK(field(t0.fault.syndrome, 5, 0) == 0x04);  // level 0
}

TEST_CASE("Stage2 MMU: arm64 ESR_EL2 for a write permission fault: WnR and DFSC 0x0C+level") {
  Rig r(true);
  REQUIRE(r.pt.map(G, H, r.last(), kR));
  REQUIRE(r.pt.map(G + M2, H + M2, r.last() - 1, kR));
  Translation t = r.mmu.translate(G + 0x20, true, false, 4);
  REQUIRE_FALSE(t.ok);
  CHECK(field(t.fault.syndrome, 31, 26) == 0x24);
  CHECK((t.fault.syndrome & bit(25)) != 0);
  CHECK((t.fault.syndrome & bit(6)) != 0);
  CHECK(field(t.fault.syndrome, 5, 0) == 0x0c + 3);
  Translation b = r.mmu.translate(G + M2 + 0x20, true, false, 4);
  REQUIRE_FALSE(b.ok);
  CHECK(field(b.fault.syndrome, 5, 0) == 0x0c + 2);
}

TEST_CASE("Stage2 MMU: arm64 HPFAR_EL2 holds IPA[47:12] from bit 4") {
  Rig r(true);
  for (Addr ipa : {Addr{0x123456789a}, G + 0xfff, Addr{0xfffffffff000} | 0x567}) {
    CAPTURE(ipa);
    Translation t = r.mmu.translate(ipa, false, false, 8);
    REQUIRE_FALSE(t.ok);
    CHECK(t.fault.hpfar == ((ipa >> 8) & ~uint64_t{0xf}));
    CHECK(field(t.fault.hpfar, 3, 0) == 0);
    CHECK((t.fault.hpfar >> 4) == (ipa >> 12));
  }
}

TEST_CASE("Stage2 MMU: arm64_esr encodes EC, IL, ISV/SAS, WnR and the fault status code") {
  const uint64_t rd = Arm64Arch::esr(false, false, false, 1, 4);
  CHECK(field(rd, 31, 26) == 0x24);
  CHECK((rd & bit(25)) != 0);
  CHECK(field(rd, 5, 0) == 0x05);
  CHECK((rd & bit(6)) == 0);
  CHECK((rd & bit(24)) != 0);    // ISV
  CHECK(field(rd, 23, 22) == 2);  // SAS: word
  const uint64_t wr = Arm64Arch::esr(true, false, true, 3, 1);
  CHECK((wr & bit(6)) != 0);
  CHECK(field(wr, 5, 0) == 0x0f);
  CHECK(field(wr, 23, 22) == 0);  // byte
  CHECK(field(Arm64Arch::esr(true, false, false, 2, 8), 23, 22) == 3);
  CHECK(field(Arm64Arch::esr(false, false, false, 2, 2), 23, 22) == 1);
  const uint64_t ifetch = Arm64Arch::esr(false, true, false, 3, 4);
  CHECK(field(ifetch, 31, 26) == 0x20);  // IABT_LOW
  CHECK(field(ifetch, 5, 0) == 0x07);
}

TEST_CASE("Stage2 MMU: an input address beyond the format's range is a translation fault") {
  Rig r(false);
  Translation t = r.mmu.translate(bit(48), false, false, 8);
  REQUIRE_FALSE(t.ok);
  CHECK(t.fault.kind == Stage2Fault::Kind::Translation);
  CHECK_FALSE(r.pt.map(bit(48), H, r.last(), Perm::rwx()));
  Rig a(true);
  CHECK_FALSE(a.pt.map(G, H, 0, Perm::rwx()));  // no leaf at level 0
}

// KVM zaps a huge leaf whole when any part of it is invalidated
// (tdp_mmu_zap_leafs on x86, stage2_unmap_walker on arm64); the rest faults back in.
TEST_CASE("Stage2 page table: unmapping inside a 2 MiB block removes the whole block") {
  for (bool arm64 : {false, true}) {
    CAPTURE(name(arm64));
    Rig r(arm64);
    REQUIRE(r.pt.map(G, H, r.last() - 1, kRW));
    REQUIRE(r.mmu.translate(G + 5 * P, false, false, 8).ok);
    const size_t tables = r.pt.table_frames();
    std::vector<std::pair<uint64_t, uint64_t>> cleared;
    const uint64_t g = G >> kPageShift;
    CHECK(r.pt.unmap(g + 5, g + 6, [&](uint64_t a, uint64_t b) { cleared.emplace_back(a, b); }) == 1);
    CHECK(cleared == std::vector<std::pair<uint64_t, uint64_t>>{{g, g + 512}});
    CHECK(r.pt.table_frames() == tables);  // zapping needs no new table
    CHECK(r.pt.leaves() == 0);
    r.tlb.flush_all();
    for (uint64_t i : {uint64_t{0}, uint64_t{4}, uint64_t{5}, uint64_t{6}, uint64_t{511}}) {
      CAPTURE(i);
      CHECK_FALSE(r.pt.lookup(G + i * P));
      Translation t = r.mmu.translate(G + i * P, false, false, 8);
      REQUIRE_FALSE(t.ok);
      CHECK(t.fault.kind == Stage2Fault::Kind::Translation);
      CHECK(t.fault.level == 2);  // where the block was: level 2 on both
    }
    CHECK(r.mmu.translate(G + kHugePageSize, false, false, 8).ok == false);
  }
}

TEST_CASE("Stage2 page table: for_each_leaf lists exactly the leaves") {
  for (bool arm64 : {false, true}) {
    CAPTURE(name(arm64));
    Rig r(arm64);
    REQUIRE(r.pt.map(G + 7 * P, H + 3 * P, r.last(), kR));
    REQUIRE(r.pt.map(G + (Addr{1} << 30) + P, H + 9 * P, r.last(), Perm::rwx()));  // another 1 GiB
    REQUIRE(r.pt.map(G + 4 * M2, H + M2, r.last() - 1, kRW));
    std::map<Addr, Stage2Leaf> seen;
    r.pt.for_each_leaf([&](const Stage2Leaf& l) { seen[l.gpa] = l; });
    REQUIRE(seen.size() == 3);
    CHECK(r.pt.leaves() == 3);
    const Stage2Leaf& a = seen.at(G + 7 * P);
    CHECK(a.pa == H + 3 * P);
    CHECK(a.size == P);
    CHECK(a.depth == r.last());
    CHECK(a.perm.r);
    CHECK_FALSE(a.perm.w);
    const Stage2Leaf& b = seen.at(G + (Addr{1} << 30) + P);
    CHECK(b.pa == H + 9 * P);
    CHECK(b.perm.x);
    const Stage2Leaf& c = seen.at(G + 4 * M2);
    CHECK(c.pa == H + M2);
    CHECK(c.size == M2);
    CHECK(c.depth == r.last() - 1);
    CHECK(c.perm.w);
  }
}

TEST_CASE("Stage2 page table: unmap removes whole leaves in range and reports each piece") {
  for (bool arm64 : {false, true}) {
    CAPTURE(name(arm64));
    Rig r(arm64);
    const uint64_t g = G >> kPageShift;
    REQUIRE(r.pt.map(G, H, r.last() - 1, Perm::rwx()));
    REQUIRE(r.pt.map(G + M2, H + M2, r.last(), Perm::rwx()));
    REQUIRE(r.pt.map(G + M2 + P, H + M2 + P, r.last(), Perm::rwx()));
    REQUIRE(r.pt.map(G + 3 * M2, H + 3 * M2, r.last(), Perm::rwx()));
    std::vector<std::pair<uint64_t, uint64_t>> cleared;
    CHECK(r.pt.unmap(g, g + 2 * 512, [&](uint64_t a, uint64_t b) { cleared.emplace_back(a, b); }) == 3);
    CHECK(cleared == std::vector<std::pair<uint64_t, uint64_t>>{{g, g + 512}, {g + 512, g + 513}, {g + 513, g + 514}});
    CHECK(r.pt.leaves() == 1);
    CHECK(r.pt.lookup(G + 3 * M2));
    CHECK(r.pt.unmap(g, g + 2 * 512) == 0);
    CHECK(r.pt.unmap(g + 5, g + 5) == 0);
  }
}

TEST_CASE("Stage2 MMU: a stale TLB entry outlives the unmap until it is flushed") {
  for (bool arm64 : {false, true}) {
    CAPTURE(name(arm64));
    Rig r(arm64);
    const uint64_t g = G >> kPageShift;
    REQUIRE(r.pt.map(G, H, r.last(), Perm::rwx()));
    REQUIRE(r.mmu.translate(G, false, false, 8).ok);
    REQUIRE(r.pt.unmap(g, g + 1) == 1);
    // Hardware keeps using the cached translation: that is why KVM flushes.
    Translation stale = r.mmu.translate(G, false, false, 8);
    CHECK(stale.ok);
    CHECK(stale.levels_walked == 0);
    r.tlb.flush_gfns(g, g + 1);
    Translation t = r.mmu.translate(G, false, false, 8);
    CHECK_FALSE(t.ok);
    CHECK(t.fault.kind == Stage2Fault::Kind::Translation);
    CHECK(t.levels_walked == unsigned(r.fmt->levels()));
  }
}

TEST_CASE("Stage2 MMU: flush_all drops every cached translation") {
  Rig r(true);
  const uint64_t g = G >> kPageShift;
  for (uint64_t i = 0; i < 4; ++i) REQUIRE(r.pt.map(G + i * P, H + i * P, r.last(), Perm::rwx()));
  for (uint64_t i = 0; i < 4; ++i) REQUIRE(r.mmu.translate(G + i * P, false, false, 8).ok);
  CHECK(r.tlb.valid_entries() == 4);
  REQUIRE(r.pt.unmap(g, g + 4) == 4);
  r.tlb.flush_all();
  CHECK(r.tlb.valid_entries() == 0);
  for (uint64_t i = 0; i < 4; ++i) CHECK_FALSE(r.mmu.translate(G + i * P, false, false, 8).ok);
}

TEST_CASE("Tlb: flush_gfns drops only the GFNs of the range, for small and large ranges") {
  Stats stats;
  Tlb tlb(1024, 32, stats, "t");
  Perm p;
  tlb.insert(10, 100, Perm::rwx());
  tlb.insert(11, 101, Perm::rwx());
  tlb.insert(10 + 1024 * 8 + 2, 200, Perm::rwx());  // a far GFN in another set
  tlb.flush_gfns(10, 11);
  CHECK(tlb.lookup(10, &p) == Tlb::kMiss);
  CHECK(tlb.lookup(11, &p) == 101);
  tlb.flush_gfns(0, 5000);  // larger than the TLB: scanned
  CHECK(tlb.lookup(11, &p) == Tlb::kMiss);
  CHECK(tlb.lookup(10 + 1024 * 8 + 2, &p) == 200);
  tlb.flush_gfns(5000, 1 << 20);
  CHECK(tlb.valid_entries() == 0);
  CHECK(stats.get("t.flushes") == 3);
}

TEST_CASE("Tlb: a GFN that shares a set with another evicts it, and a lookup checks the GFN") {
  Stats stats;
  Tlb tlb(1024, 32, stats, "t");
  Perm p;
  tlb.insert(5, 50, kR);
  tlb.insert(5 + 1024, 60, kR);
  CHECK(tlb.lookup(5, &p) == Tlb::kMiss);
  CHECK(tlb.lookup(5 + 1024, &p) == 60);
  // A flush of the evicted GFN must not drop the entry now in its set.
  tlb.flush_gfns(5, 6);
  CHECK(tlb.lookup(5 + 1024, &p) == 60);
}

TEST_CASE("Tlb: one 2 MiB entry serves its 512 pages and goes with any flush that touches it") {
  Stats stats;
  Tlb tlb(16, 4, stats, "t");
  Perm p;
  tlb.insert_huge(1024, 8192, kRW);
  CHECK(tlb.lookup(1024, &p) == 8192);
  CHECK(tlb.lookup(1024 + 511, &p) == 8192 + 511);
  CHECK(p.w);
  CHECK(tlb.lookup(1024 + 512, &p) == Tlb::kMiss);
  CHECK(tlb.valid_entries() == 1);
  tlb.flush_gfns(1024 + 300, 1024 + 301);  // one page inside the block
  CHECK(tlb.lookup(1024, &p) == Tlb::kMiss);
  tlb.insert_huge(1024, 8192, kRW);
  tlb.insert_huge(1024 + 4 * 512, 0, kRW);  // the same huge set: evicts
  CHECK(tlb.lookup(1024, &p) == Tlb::kMiss);
}

TEST_CASE("Tlb: sizes must be powers of two") {
  Stats stats;
  CHECK_THROWS_AS(Tlb(1000, 32, stats, "t"), std::invalid_argument);
  CHECK_THROWS_AS(Tlb(1024, 0, stats, "t"), std::invalid_argument);
  Tlb t(64, 8, stats, "t");
  CHECK(t.entries() == 64);
  CHECK(t.huge_entries() == 8);
}

TEST_CASE("Stage2 MMU: a walk that ends in a 2 MiB block fills one huge TLB entry for all its pages") {
  for (bool arm64 : {false, true}) {
    CAPTURE(name(arm64));
    Rig r(arm64);
    REQUIRE(r.pt.map(G, H, r.last() - 1, Perm::rwx()));
    REQUIRE(r.mmu.translate(G + 8, false, false, 8).ok);
    CHECK(r.stats.get("vcpu0.mmu.tlb_misses") == 1);
    for (uint64_t i = 0; i < 512; ++i) {
      Translation t = r.mmu.translate(G + i * P, true, false, 8);
      REQUIRE(t.ok);
      CHECK(t.pa == H + i * P);
    }
    CHECK(r.stats.get("vcpu0.mmu.tlb_misses") == 1);
    CHECK(r.stats.get("vcpu0.mmu.tlb_hits") == 512);
    CHECK(r.tlb.valid_entries() == 1);
  }
}

TEST_CASE("Stage2 MMU: with a shared root, GPAs with the shared bit walk the other tables") {
  Rig r(false);  // x86: shared bit 47 with GPAW 48
  Stage2PageTable shared(*r.fmt, r.mem, r.frames, 1);
  const Addr bit47 = Addr{1} << 47;
  REQUIRE(r.pt.map(G, H, r.last(), Perm::rwx()));
  REQUIRE(shared.map(bit47 | G, H + P, r.last(), Perm::rwx()));
  r.mmu.set_roots({r.pt.root(), shared.root()});
  Translation priv = r.mmu.translate(G, false, false, 8);
  Translation shr = r.mmu.translate(bit47 | G, false, false, 8);
  REQUIRE(priv.ok);
  REQUIRE(shr.ok);
  CHECK(priv.pa == H);
  CHECK(shr.pa == H + P);
  r.mmu.set_root(r.pt.root());  // one root again: the shared alias is just another GPA
  r.tlb.flush_all();
  CHECK_FALSE(r.mmu.translate(bit47 | G, false, false, 8).ok);
}

TEST_CASE("Stage2 page table: table frames are tagged as the VM's page tables and freed with it") {
  FakeMemory mem;
  FrameAllocator frames(0x1000, 0x1100);
  EptFormat fmt;
  {
    Stage2PageTable pt(fmt, mem, frames, 7);
    REQUIRE(pt.map(G, H, 3, Perm::rwx()));
    CHECK(pt.table_frames() == 4);
    CHECK(frames.in_use() == 4);
    const FrameUse* u = frames.use(pt.root() >> kPageShift);
    REQUIRE(u != nullptr);
    CHECK(u->kind == FrameKind::PageTable);
    CHECK(u->vm == 7);
  }
  CHECK(frames.in_use() == 0);
}

// A block leaf installed over an entry that points to a table of pages replaces
// the whole subtree: its leaves leave the count and its table frames are freed.
TEST_CASE("Stage2 page table: a block mapped over a table of pages replaces them in the leaf count") {
  for (bool arm64 : {false, true}) {
    CAPTURE(name(arm64));
    Rig r(arm64);
    REQUIRE(r.pt.map(G, H, r.last(), Perm::rwx()));
    REQUIRE(r.pt.map(G + P, H + P, r.last(), Perm::rwx()));
    REQUIRE(r.pt.map(G, H, r.last() - 1, Perm::rwx()));
    uint64_t n = 0;
    r.pt.for_each_leaf([&](const Stage2Leaf&) { ++n; });
    CHECK(n == 1);
    CHECK(r.pt.leaves() == 1);
  }
}

TEST_CASE("Stage2 MMU: a 39-bit arm64 IPA space walks three levels starting at level 1") {
  FakeMemory mem;
  FrameAllocator frames(0x1000, 0x1100);
  Stats stats;
  ArchParams params;
  params.ipa_bits = 39;
  Arm64Arch arch(params, stats, "kvm");
  Stage2PageTable pt(arch.stage2_format(), mem, frames, 1);
  Tlb tlb(1024, 32, stats, "v");
  Stage2Mmu mmu(arch, mem, tlb, stats, "v");
  mmu.set_root(pt.root());
  Translation miss = mmu.translate(G, false, false, 8);
  REQUIRE_FALSE(miss.ok);
  CHECK(miss.fault.level == 1);
  CHECK(field(miss.fault.syndrome, 5, 0) == 0x05);
  REQUIRE(pt.map(G + P, H + P, 2, Perm::rwx()));
  Translation t = mmu.translate(G + P + 4, false, false, 4);
  REQUIRE(t.ok);
  CHECK(t.pa == H + P + 4);
  CHECK(t.levels_walked == 3);
  Translation leaf_miss = mmu.translate(G + 2 * P, true, false, 4);
  REQUIRE_FALSE(leaf_miss.ok);
  CHECK(leaf_miss.fault.level == 3);
  CHECK(field(leaf_miss.fault.syndrome, 5, 0) == 0x07);
  CHECK((leaf_miss.fault.syndrome & bit(6)) != 0);
  CHECK_FALSE(pt.map(Addr{1} << 39, H, 2, Perm::rwx()));  // beyond the IPA space
}

TEST_CASE("Stage2 page table: a 4 KiB leaf mapped inside a 2 MiB block splits it and the rest is unchanged") {
  for (bool arm64 : {false, true}) {
    CAPTURE(name(arm64));
    Rig r(arm64);
    REQUIRE(r.pt.map(G, H, r.last() - 1, Perm::rwx()));
    REQUIRE(r.pt.leaves() == 1);
    // Remap one page of the block elsewhere, read-only.
    const Addr other = H + 64 * M2;
    REQUIRE(r.pt.map(G + 5 * P, other, r.last(), kR));
    CHECK(r.pt.leaves() == 512);
    auto moved = r.pt.lookup(G + 5 * P);
    REQUIRE(moved);
    CHECK(moved->pa == other);
    CHECK(moved->size == P);
    CHECK_FALSE(moved->perm.w);
    // Every other page of the old block keeps its translation and permissions.
    for (uint64_t i : {uint64_t{0}, uint64_t{4}, uint64_t{6}, uint64_t{511}}) {
      CAPTURE(i);
      auto l = r.pt.lookup(G + i * P);
      REQUIRE(l);
      CHECK(l->pa == H + i * P);
      CHECK(l->size == P);
      CHECK(l->perm.w);
      Translation t = r.mmu.translate(G + i * P + 8, true, false, 8);
      REQUIRE(t.ok);
      CHECK(t.pa == H + i * P + 8);
    }
  }
}

TEST_CASE("Stage2 MMU: neighbours are the present pages around one with the next frames and the same rights") {
  for (bool arm64 : {false, true}) {
    CAPTURE(name(arm64));
    Rig r(arm64);
    // GPA pages 1..9 of G: 1..6 on frames H+1..H+6 read-write, 7 read-only
    // (H+7), 8 on a frame elsewhere, 9 absent... then 10 and 11 after a hole.
    for (uint64_t i = 1; i <= 6; ++i) REQUIRE(r.pt.map(G + i * P, H + i * P, r.last(), kRW));
    REQUIRE(r.pt.map(G + 7 * P, H + 7 * P, r.last(), kR));
    REQUIRE(r.pt.map(G + 8 * P, H + 100 * P, r.last(), kRW));
    REQUIRE(r.pt.map(G + 10 * P, H + 10 * P, r.last(), kRW));
    const uint64_t g = G >> kPageShift;
    const uint64_t walks = r.stats.get("vcpu0.mmu.walk_reads");
    PageRun run = r.mmu.neighbours(G + 3 * P + 0x10, 0, ~uint64_t{0});
    CHECK(run.first_gfn == g + 1);
    CHECK(run.pages == 6);
    // Walked to the last level, then read the line of 8 entries around: counted, no TLB entry made.
    CHECK(r.stats.get("vcpu0.mmu.walk_reads") == walks + uint64_t(r.fmt->levels()) + 8);
    Perm p;
    CHECK(r.tlb.lookup(g + 2, &p) == Tlb::kMiss);
    // A window cuts it.
    run = r.mmu.neighbours(G + 3 * P, g + 2, g + 5);
    CHECK(run.first_gfn == g + 2);
    CHECK(run.pages == 3);
    // A long run reads line after line, up to the first page that differs.
    for (uint64_t i = 16; i < 40; ++i) REQUIRE(r.pt.map(G + i * P, H + i * P, r.last(), kRW));
    const uint64_t before = r.stats.get("vcpu0.mmu.walk_reads");
    run = r.mmu.neighbours(G + 20 * P, 0, ~uint64_t{0});
    CHECK(run.first_gfn == g + 16);
    CHECK(run.pages == 24);
    // Up: the lines of pages 16-23, 24-31, 32-39 and 40-47 (40 differs);
    // down: 16-23 again, then 8-15 (15 differs).
    CHECK(r.stats.get("vcpu0.mmu.walk_reads") - before == uint64_t(r.fmt->levels()) + 8 * 6);
    // A page whose neighbours differ is alone.
    run = r.mmu.neighbours(G + 10 * P, 0, ~uint64_t{0});
    CHECK(run.first_gfn == g + 10);
    CHECK(run.pages == 1);
    // A 2 MiB leaf: its whole block, within the window.
    REQUIRE(r.pt.map(G + 2 * M2, H + M2, r.last() - 1, kRW));
    run = r.mmu.neighbours(G + 2 * M2 + 77 * P, 0, ~uint64_t{0});
    CHECK(run.first_gfn == ((G + 2 * M2) >> kPageShift));
    CHECK(run.pages == 512);
    run = r.mmu.neighbours(G + 2 * M2 + 77 * P, g + 1024 + 70, g + 1024 + 80);
    CHECK(run.first_gfn == g + 1024 + 70);
    CHECK(run.pages == 10);
  }
}

TEST_CASE("Stage2 MMU: a run never crosses a 2 MiB boundary") {
  Rig r(false);
  for (uint64_t i = 510; i < 514; ++i) REQUIRE(r.pt.map(G + i * P, H + i * P, r.last(), kRW));
  const PageRun low = r.mmu.neighbours(G + 511 * P, 0, ~uint64_t{0});
  CHECK(low.first_gfn == (G >> kPageShift) + 510);
  CHECK(low.pages == 2);
  const PageRun high = r.mmu.neighbours(G + 512 * P, 0, ~uint64_t{0});
  CHECK(high.first_gfn == (G >> kPageShift) + 512);
  CHECK(high.pages == 2);
}
