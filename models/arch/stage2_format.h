// Stage-2 page-table formats as the hardware defines them: Intel EPT (4 levels,
// R/W/X in bits 2:0, PS in bit 7) and the arm64 VMSAv8-64 stage-2 descriptor
// with a 4 KiB granule (valid bit 0, table/page bit 1, S2AP in bits 7:6, AF in
// bit 10, XN in bits 54:53). Walks go from depth 0 (the root) down; each
// format says what the architecture calls that level.
#pragma once
#include <cstdint>
#include <memory>
#include <string>

#include "common/types.h"

namespace cocosim {

struct Perm {
  bool r = false, w = false, x = false;
  bool allows(bool write, bool exec) const { return exec ? x : (write ? w : r); }
  static Perm rwx() { return {true, true, true}; }
};

struct Descriptor {
  bool valid = false;
  bool table = false;  // points to a next-level table
  Addr pa = 0;         // next table, or the output address of a leaf
  Perm perm;
};

// Where a VM's stage-2 walks start: one root, or a second one for the GPAs
// with the architecture's shared bit set (TDX: the shared EPT).
struct Stage2Roots {
  Addr root = 0;
  Addr shared_root = 0;  // 0: none
};

class Stage2Format {
 public:
  // `levels` of tables translating `input_bits` of GPA/IPA. The root table
  // holds what is left above the lower levels' 9 bits each: fewer than 512
  // entries, or up to 16 concatenated pages as arm64 allows at the first level.
  Stage2Format(int levels, unsigned input_bits);
  virtual ~Stage2Format() = default;
  virtual std::string name() const = 0;
  int levels() const { return levels_; }
  unsigned input_bits() const { return input_bits_; }
  // The architecture's number for the level at `depth` (EPT: 4..1, arm64: start..3).
  virtual int arch_level(int depth) const = 0;
  virtual uint64_t make_table(Addr next) const = 0;
  virtual uint64_t make_leaf(Addr pa, int depth, Perm p) const = 0;
  virtual Descriptor decode(uint64_t d, int depth) const = 0;
  // Whether a leaf may sit at `depth` (a 2 MiB block one above the last level).
  bool leaf_allowed(int depth) const { return depth == levels_ - 1 || depth == levels_ - 2; }
  unsigned index(Addr gpa, int depth) const {
    return unsigned((gpa >> (kPageShift + 9 * (levels_ - 1 - depth))) & (depth ? 0x1ff : root_mask_));
  }
  uint64_t level_size(int depth) const {
    return uint64_t{1} << (kPageShift + 9 * (levels_ - 1 - depth));
  }
  Addr max_input() const { return (Addr{1} << input_bits_) - 1; }
  // Entries a table at `depth` holds, and the pages the root takes.
  unsigned entries(int depth) const { return depth ? 512 : root_mask_ + 1; }
  unsigned root_pages() const { return root_mask_ < 512 ? 1 : (root_mask_ + 1) / 512; }

 private:
  int levels_;
  unsigned input_bits_;
  unsigned root_mask_;
};

class EptFormat final : public Stage2Format {
 public:
  // 4 levels translate 48 bits (GPAW 48), 5 levels 57 (GPAW 52 needs them).
  explicit EptFormat(int levels = 4) : Stage2Format(levels, kPageShift + 9 * unsigned(levels)) {}
  std::string name() const override { return levels() == 5 ? "EPT (5-level)" : "EPT"; }
  int arch_level(int depth) const override { return levels() - depth; }
  uint64_t make_table(Addr next) const override;
  uint64_t make_leaf(Addr pa, int depth, Perm p) const override;
  Descriptor decode(uint64_t d, int depth) const override;

  static constexpr uint64_t kRead = 1ull << 0, kWrite = 1ull << 1, kExec = 1ull << 2;
  static constexpr uint64_t kMemTypeWb = 6ull << 3;
  static constexpr uint64_t kIgnorePat = 1ull << 6;
  static constexpr uint64_t kLargePage = 1ull << 7;
  static constexpr uint64_t kAddrMask = 0x000ffffffffff000ull;
};

class Arm64Stage2Format final : public Stage2Format {
 public:
  // The IPA size (32..48 bits) sets the levels as KVM does (kvm_stage2_levels:
  // ARM64_HW_PGTABLE_LEVELS(ipa - 4)): up to 16 root tables are concatenated
  // rather than adding a level. 48 -> 4 levels from level 0; 40 -> 3 levels
  // from level 1 with two concatenated root pages; 39 -> 3 levels.
  explicit Arm64Stage2Format(unsigned ipa_bits = 48);
  static int levels_for(unsigned ipa_bits) { return int((ipa_bits - 4 - 4) / 9); }
  std::string name() const override { return "arm64 stage-2"; }
  int arch_level(int depth) const override { return 4 - levels() + depth; }
  uint64_t make_table(Addr next) const override;
  uint64_t make_leaf(Addr pa, int depth, Perm p) const override;
  Descriptor decode(uint64_t d, int depth) const override;
  // VTCR_EL2.T0SZ / SL0 for this configuration.
  unsigned t0sz() const { return 64 - input_bits(); }
  unsigned sl0() const { return unsigned(levels() - 2); }

  static constexpr uint64_t kValid = 1ull << 0, kTableOrPage = 1ull << 1;
  static constexpr uint64_t kMemAttrNormalWb = 0xfull << 2;
  static constexpr uint64_t kS2apRead = 1ull << 6, kS2apWrite = 1ull << 7;
  static constexpr uint64_t kShInner = 3ull << 8;
  static constexpr uint64_t kAccessFlag = 1ull << 10;
  static constexpr uint64_t kXn = 2ull << 53;  // XN[1:0] = 0b10: not executable at EL1 or EL0
  static constexpr uint64_t kAddrMask = 0x0000fffffffff000ull;
};

}  // namespace cocosim
