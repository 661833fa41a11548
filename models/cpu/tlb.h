// A vCPU's stage-2 TLB: two direct-mapped arrays, one of 4 KiB entries and
// one of 2 MiB entries (a block leaf fills one entry for its 512 pages), both
// sized by the platform (powers of two). Hypervisors invalidate it with the
// architecture's instructions (see arch/tlb_control.h).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "arch/stage2_format.h"
#include "common/stats.h"

namespace cocosim {

class Tlb {
 public:
  static constexpr uint64_t kMiss = ~uint64_t{0};
  static constexpr uint64_t kHugePages = 512;  // 4 KiB pages in a 2 MiB entry

  // Entry counts must be powers of two (a mask picks the slot).
  Tlb(unsigned entries, unsigned huge_entries, Stats& stats, const std::string& prefix);

  struct Entry {
    bool valid = false;
    bool huge = false;
    uint64_t gfn = 0;  // first page (2 MiB aligned for a huge entry)
    uint64_t pfn = 0;  // its physical page
    Perm perm;
    uint64_t pages() const { return huge ? kHugePages : 1; }
  };

  // The physical page for `gfn`, or kMiss; the entry's permissions in *perm.
  uint64_t lookup(uint64_t gfn, Perm* perm) const {
    const Entry& e = small_[gfn & small_mask_];
    if (e.valid && e.gfn == gfn) {
      *perm = e.perm;
      return e.pfn;
    }
    const uint64_t base = gfn & ~(kHugePages - 1);
    const Entry& h = huge_[(gfn / kHugePages) & huge_mask_];
    if (h.valid && h.gfn == base) {
      *perm = h.perm;
      return h.pfn + (gfn - base);
    }
    return kMiss;
  }
  void insert(uint64_t gfn, uint64_t pfn, Perm p) { small_[gfn & small_mask_] = {true, false, gfn, pfn, p}; }
  // A 2 MiB block: `gfn` and `pfn` are its first pages.
  void insert_huge(uint64_t gfn, uint64_t pfn, Perm p) {
    huge_[(gfn / kHugePages) & huge_mask_] = {true, true, gfn, pfn, p};
  }

  void flush_all();
  // Entries that translate any page of [first, end).
  void flush_gfns(uint64_t first, uint64_t end);
  unsigned valid_entries() const;
  unsigned entries() const { return unsigned(small_.size()); }
  unsigned huge_entries() const { return unsigned(huge_.size()); }
  template <typename Fn>
  void for_each(Fn fn) const {
    for (const Entry& e : small_)
      if (e.valid) fn(e);
    for (const Entry& e : huge_)
      if (e.valid) fn(e);
  }

 private:
  std::vector<Entry> small_;
  std::vector<Entry> huge_;
  uint64_t small_mask_;
  uint64_t huge_mask_;
  uint64_t& flushes_;
};

}  // namespace cocosim
