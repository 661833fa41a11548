// The CPU's stage-2 translation: TLB first, then a walk of the tables in
// simulated memory (each level a read through the data plane). A miss ends in
// a typed fault whose syndrome the architecture object builds (the EPT-violation
// exit qualification on x86, ESR_EL2 and HPFAR_EL2 on arm64).
#pragma once
#include <cstdint>
#include <string>

#include "arch/architecture.h"
#include "common/memory_port.h"
#include "cpu/tlb.h"

namespace cocosim {

// GPA pages [first_gfn, first_gfn + pages).
struct PageRun {
  uint64_t first_gfn = 0;
  uint64_t pages = 0;
};

struct Translation {
  bool ok = false;
  Addr pa = 0;
  Perm perm;
  unsigned levels_walked = 0;  // 0 on a TLB hit
  Stage2Fault fault;
};

class Stage2Mmu {
 public:
  Stage2Mmu(const Architecture& arch, MemoryPort& walker, Tlb& tlb, Stats& stats,
            const std::string& prefix);

  // The table the walk starts from. A second root serves the GPAs whose
  // `shared_bit` is set (TDX: the shared EPT beside the Secure EPT); without
  // one, every GPA walks `root`.
  void set_roots(const Stage2Roots& r) {
    root_ = r.root;
    shared_root_ = r.shared_root;
    shared_mask_ = r.shared_root && arch_.shared_bit() ? Addr{1} << *arch_.shared_bit() : 0;
  }
  void set_root(Addr root) { set_roots({root, 0}); }
  // A TD: walks from the private root (the Secure EPT) and the pages they
  // reach carry the TD's HKID above the PA bits (what the CPU does for a
  // private GPA); 0 for every other VM.
  void set_private_tag(Addr tag) { private_tag_ = tag; }
  Addr shared_mask() const { return shared_mask_; }
  Addr root() const { return root_; }
  Addr root_for(Addr gpa) const { return (gpa & shared_mask_) ? shared_root_ : root_; }
  const Architecture& arch() const { return arch_; }
  const Stage2Format& format() const { return fmt_; }

  Translation translate(Addr gpa, bool write, bool exec, unsigned size);
  // The pages around `gpa`'s, inside [lo_gfn, end_gfn) and its 2 MiB block,
  // that the tables map now like gpa's page: present, to the frames next to
  // its frame, with the same rights. A walk that never faults and fills no
  // TLB entry (a prefetch of translations): its reads count as walk reads,
  // for a 4 KiB leaf 64-byte lines of 8 entries of the last-level table,
  // outward from gpa's up to the first page that differs. A TD's
  // private pages are not looked at (the run is gpa's page alone).
  PageRun neighbours(Addr gpa, uint64_t lo_gfn, uint64_t end_gfn);
  // The TLB-hit half of translate(), inline for the vCPU's hot path: the
  // physical page, or Tlb::kMiss when a full translate() is needed.
  uint64_t tlb_hit_pfn(Addr gpa, bool write) const {
    Perm p;
    const uint64_t pfn = tlb_.lookup(gpa >> kPageShift, &p);
    return pfn != Tlb::kMiss && p.allows(write, false) ? pfn : Tlb::kMiss;
  }
  void count_hits(uint64_t n) { hits_ += n; }

 private:
  Stage2Fault make_fault(Stage2Fault::Kind k, int depth, Addr gpa, bool write, bool exec,
                         unsigned size, Perm entry) const;

  const Architecture& arch_;
  const Stage2Format& fmt_;
  MemoryPort& walker_;
  Tlb& tlb_;
  Addr root_ = 0;
  Addr shared_root_ = 0;
  Addr shared_mask_ = 0;
  Addr private_tag_ = 0;
  uint64_t& hits_;
  uint64_t& misses_;
  uint64_t& walks_;
  uint64_t& faults_;
};

}  // namespace cocosim
