#include <doctest/doctest.h>

#include <stdexcept>

#include "arch/stage2_format.h"

using namespace cocosim;

namespace {
constexpr uint64_t bit(int n) { return uint64_t{1} << n; }
constexpr uint64_t field(uint64_t v, int hi, int lo) { return (v >> lo) & ((uint64_t{1} << (hi - lo + 1)) - 1); }
const Perm kR{true, false, false};
const Perm kRW{true, true, false};
const Perm kRX{true, false, true};
const Perm kX{false, false, true};
}  // namespace

// ---- EPT ------------------------------------------------------------------------

TEST_CASE("EptFormat: four levels numbered 4..1 from the root, 48-bit input") {
  EptFormat f;
  CHECK(f.levels() == 4);
  CHECK(f.arch_level(0) == 4);
  CHECK(f.arch_level(1) == 3);
  CHECK(f.arch_level(2) == 2);
  CHECK(f.arch_level(3) == 1);
  CHECK(f.max_input() == (bit(48) - 1));
  CHECK(f.level_size(3) == kPageSize);
  CHECK(f.level_size(2) == (uint64_t{2} << 20));
  CHECK(f.level_size(1) == (uint64_t{1} << 30));
  CHECK(f.level_size(0) == (uint64_t{512} << 30));
  CHECK(f.leaf_allowed(3));
  CHECK(f.leaf_allowed(2));
  CHECK_FALSE(f.leaf_allowed(1));
  CHECK_FALSE(f.leaf_allowed(0));
}

TEST_CASE("EptFormat: index takes 9 GPA bits per level") {
  EptFormat f;
  const Addr gpa = (Addr{0x1a3} << 39) | (Addr{0x0b7} << 30) | (Addr{0x155} << 21) | (Addr{0x0ff} << 12) | 0x123;
  CHECK(f.index(gpa, 0) == 0x1a3u);
  CHECK(f.index(gpa, 1) == 0x0b7u);
  CHECK(f.index(gpa, 2) == 0x155u);
  CHECK(f.index(gpa, 3) == 0x0ffu);
}

TEST_CASE("EptFormat: a 4 KiB leaf has R/W/X in bits 2:0, WB in bits 5:3 and no PS") {
  EptFormat f;
  const uint64_t d = f.make_leaf(0x12345000, 3, Perm::rwx());
  CHECK(field(d, 2, 0) == 7);
  CHECK(field(d, 5, 3) == 6);  // memory type WB
  CHECK((d & bit(7)) == 0);
  CHECK((d & 0x000ffffffffff000ull) == 0x12345000);
  CHECK(field(f.make_leaf(0x1000, 3, kR), 2, 0) == 1);
  CHECK(field(f.make_leaf(0x1000, 3, kRW), 2, 0) == 3);
  CHECK(field(f.make_leaf(0x1000, 3, kRX), 2, 0) == 5);
  CHECK(field(f.make_leaf(0x1000, 3, kX), 2, 0) == 4);
}

TEST_CASE("EptFormat: a 2 MiB leaf sets PS (bit 7)") {
  EptFormat f;
  const uint64_t d = f.make_leaf(0x40200000, 2, Perm::rwx());
  CHECK((d & bit(7)) != 0);
  CHECK(field(d, 5, 3) == 6);
  CHECK((d & 0x000ffffffffff000ull) == 0x40200000);
}

TEST_CASE("EptFormat: a table entry is RWX with the next table's address") {
  EptFormat f;
  const uint64_t d = f.make_table(0xabc000);
  CHECK(field(d, 2, 0) == 7);
  CHECK((d & bit(7)) == 0);
  CHECK((d & 0x000ffffffffff000ull) == 0xabc000);
}

TEST_CASE("EptFormat: leaves and tables decode to what was encoded") {
  EptFormat f;
  for (int depth : {2, 3}) {
    CAPTURE(depth);
    for (Perm p : {Perm::rwx(), kR, kRW, kRX, kX}) {
      const Addr pa = depth == 3 ? 0x7654321000 : 0x7654200000;
      Descriptor d = f.decode(f.make_leaf(pa, depth, p), depth);
      CHECK(d.valid);
      CHECK_FALSE(d.table);
      CHECK(d.pa == pa);
      CHECK(d.perm.r == p.r);
      CHECK(d.perm.w == p.w);
      CHECK(d.perm.x == p.x);
    }
  }
  for (int depth : {0, 1, 2}) {
    Descriptor t = f.decode(f.make_table(0x55000), depth);
    CHECK(t.valid);
    CHECK(t.table);
    CHECK(t.pa == 0x55000);
  }
}

TEST_CASE("EptFormat: an entry is present when any of R/W/X is set") {
  EptFormat f;
  CHECK_FALSE(f.decode(0, 3).valid);
  CHECK_FALSE(f.decode(0x12345000 | (6ull << 3), 3).valid);  // address and memtype, no RWX
  CHECK(f.decode(0x12345000 | 4, 3).valid);                    // execute-only
}

TEST_CASE("EptFormat: output address bits above 51 are not part of the entry's address") {
  EptFormat f;
  const uint64_t d = f.make_leaf(bit(52) | 0x5000, 3, kR);
  CHECK((d & bit(52)) == 0);
  CHECK(f.decode(d, 3).pa == 0x5000);
}

// ---- arm64 stage 2 -------------------------------------------------------------------

TEST_CASE("Arm64Stage2Format: 48-bit IPA walks levels 0..3, 39-bit levels 1..3") {
  Arm64Stage2Format f48(48), f39(39);
  CHECK(f48.levels() == 4);
  for (int d = 0; d < 4; ++d) CHECK(f48.arch_level(d) == d);
  CHECK(f39.levels() == 3);
  CHECK(f39.arch_level(0) == 1);
  CHECK(f39.arch_level(1) == 2);
  CHECK(f39.arch_level(2) == 3);
  CHECK(f48.max_input() == bit(48) - 1);
  CHECK(f39.max_input() == bit(39) - 1);
  CHECK(f39.level_size(0) == (uint64_t{1} << 30));
  CHECK(f39.level_size(1) == (uint64_t{2} << 20));
  CHECK(f39.level_size(2) == kPageSize);
}

TEST_CASE("Arm64Stage2Format: VTCR_EL2 T0SZ and SL0 match the start level") {
  Arm64Stage2Format f48(48), f39(39);
  CHECK(f48.t0sz() == 16u);
  CHECK(f48.sl0() == 2u);  // start at level 0
  CHECK(f39.t0sz() == 25u);
  CHECK(f39.sl0() == 1u);  // start at level 1
}

TEST_CASE("Arm64Stage2Format: IPA sizes outside 32..48 bits are refused") {
  CHECK_THROWS_AS(Arm64Stage2Format(31), std::invalid_argument);
  CHECK_THROWS_AS(Arm64Stage2Format(49), std::invalid_argument);
  CHECK_THROWS_AS(Arm64Stage2Format(52), std::invalid_argument);
}

// KVM sizes the stage 2 with ARM64_HW_PGTABLE_LEVELS(ipa - 4): up to 16 root
// tables are concatenated at the start level rather than adding a level.
TEST_CASE("Arm64Stage2Format: a 40-bit IPA starts at level 1 with two concatenated root pages") {
  Arm64Stage2Format f(40);
  CHECK(f.levels() == 3);
  CHECK(f.arch_level(0) == 1);
  CHECK(f.sl0() == 1u);
  CHECK(f.t0sz() == 24u);
  CHECK(f.entries(0) == 1024);
  CHECK(f.root_pages() == 2);
  CHECK(f.index(Addr{1} << 39, 0) == 512);  // the second root page
  CHECK(f.index((Addr{1} << 39) - 1, 0) == 511);
  CHECK(f.max_input() == bit(40) - 1);
}

TEST_CASE("Arm64Stage2Format: 32-bit IPA: two levels from level 2, four root pages, 36-bit: a partial root") {
  Arm64Stage2Format f32(32), f36(36), f44(44);
  CHECK(f32.levels() == 2);
  CHECK(f32.arch_level(0) == 2);
  CHECK(f32.root_pages() == 4);
  CHECK(f36.levels() == 3);
  CHECK(f36.entries(0) == 64);
  CHECK(f36.root_pages() == 1);
  CHECK(f44.levels() == 4);
  CHECK(f44.entries(0) == 32);
}

TEST_CASE("EptFormat: five levels (GPAW 52) number 5..1 and translate 57 bits") {
  EptFormat f(5);
  CHECK(f.levels() == 5);
  CHECK(f.arch_level(0) == 5);
  CHECK(f.arch_level(4) == 1);
  CHECK(f.max_input() == bit(57) - 1);
  CHECK(f.entries(0) == 512);
  CHECK(f.index(Addr{0x1a3} << 48, 0) == 0x1a3);
  CHECK(f.name() != EptFormat().name());
}

TEST_CASE("Arm64Stage2Format: a level-3 page descriptor has bits 1:0 = 0b11, AF, inner shareable") {
  Arm64Stage2Format f;
  const uint64_t d = f.make_leaf(0x12345000, 3, Perm::rwx());
  CHECK((d & bit(0)) != 0);
  CHECK((d & bit(1)) != 0);
  CHECK((d & bit(10)) != 0);   // AF
  CHECK(field(d, 9, 8) == 3);  // SH: inner shareable
  CHECK(field(d, 5, 2) == 0xf);  // MemAttr: normal, write-back
  CHECK((d & bit(6)) != 0);    // S2AP read
  CHECK((d & bit(7)) != 0);    // S2AP write
  CHECK(field(d, 54, 53) == 0);  // executable
  CHECK((d & 0x0000fffffffff000ull) == 0x12345000);
}

TEST_CASE("Arm64Stage2Format: a level-2 block descriptor has bit 1 clear") {
  Arm64Stage2Format f;
  const uint64_t d = f.make_leaf(0x40200000, 2, Perm::rwx());
  CHECK((d & bit(0)) != 0);
  CHECK((d & bit(1)) == 0);
  CHECK((d & bit(10)) != 0);
  CHECK((d & 0x0000fffffffff000ull) == 0x40200000);
}

TEST_CASE("Arm64Stage2Format: S2AP carries read in bit 6 and write in bit 7, XN in bits 54:53") {
  Arm64Stage2Format f;
  const uint64_t r = f.make_leaf(0x1000, 3, kR);
  CHECK((r & bit(6)) != 0);
  CHECK((r & bit(7)) == 0);
  CHECK(field(r, 54, 53) == 2);  // XN = 0b10: not executable at EL1 or EL0
  const uint64_t rw = f.make_leaf(0x1000, 3, kRW);
  CHECK((rw & bit(6)) != 0);
  CHECK((rw & bit(7)) != 0);
  CHECK(field(rw, 54, 53) == 2);
  const uint64_t x = f.make_leaf(0x1000, 3, kX);
  CHECK((x & bit(6)) == 0);
  CHECK((x & bit(7)) == 0);
  CHECK(field(x, 54, 53) == 0);
}

TEST_CASE("Arm64Stage2Format: a table descriptor has bits 1:0 = 0b11 and the next table's address") {
  Arm64Stage2Format f;
  const uint64_t d = f.make_table(0xabc000);
  CHECK(field(d, 1, 0) == 3);
  CHECK((d & 0x0000fffffffff000ull) == 0xabc000);
}

TEST_CASE("Arm64Stage2Format: leaves and tables decode to what was encoded") {
  for (unsigned ipa : {48u, 39u}) {
    CAPTURE(ipa);
    Arm64Stage2Format f(ipa);
    const int last = f.levels() - 1;
    for (int depth : {last - 1, last}) {
      CAPTURE(depth);
      for (Perm p : {Perm::rwx(), kR, kRW, kRX, kX}) {
        const Addr pa = depth == last ? 0x7654321000 : 0x7654200000;
        Descriptor d = f.decode(f.make_leaf(pa, depth, p), depth);
        CHECK(d.valid);
        CHECK_FALSE(d.table);
        CHECK(d.pa == pa);
        CHECK(d.perm.r == p.r);
        CHECK(d.perm.w == p.w);
        CHECK(d.perm.x == p.x);
      }
    }
    for (int depth = 0; depth < last; ++depth) {
      Descriptor t = f.decode(f.make_table(0x55000), depth);
      CHECK(t.valid);
      CHECK(t.table);
      CHECK(t.pa == 0x55000);
    }
  }
}

TEST_CASE("Arm64Stage2Format: invalid descriptors decode as invalid") {
  Arm64Stage2Format f;
  CHECK_FALSE(f.decode(0, 3).valid);
  CHECK_FALSE(f.decode(0x12345000 | bit(1) | bit(10), 3).valid);  // bit 0 clear
  CHECK_FALSE(f.decode(0x12345000 | bit(0), 3).valid);            // 0b01 at level 3 is reserved
  CHECK(f.decode(0x12345000 | bit(0), 2).valid);                  // ... but a block at level 2
}

TEST_CASE("Perm: allows checks the permission the access needs") {
  CHECK(kR.allows(false, false));
  CHECK_FALSE(kR.allows(true, false));
  CHECK_FALSE(kR.allows(false, true));
  CHECK(kRW.allows(true, false));
  CHECK(kX.allows(false, true));
  CHECK_FALSE(kX.allows(false, false));
}
