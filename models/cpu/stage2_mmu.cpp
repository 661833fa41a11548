#include "cpu/stage2_mmu.h"

#include <algorithm>

namespace cocosim {

Stage2Mmu::Stage2Mmu(const Architecture& arch, MemoryPort& walker, Tlb& tlb, Stats& stats,
                     const std::string& prefix)
    : arch_(arch),
      fmt_(arch.stage2_format()),
      walker_(walker),
      tlb_(tlb),
      hits_(stats.counter(prefix + ".tlb_hits", "count",
                          "stage-2 translations served by the TLB (micro-TLB hits included)")),
      misses_(stats.counter(prefix + ".tlb_misses", "count",
                            "stage-2 translations that missed the TLB")),
      walks_(stats.counter(prefix + ".walk_reads", "count",
                           "page-table entries read by stage-2 walks")),
      faults_(stats.counter(prefix + ".faults", "count",
                            "stage-2 walks that ended in a translation or permission fault")) {
  stats.rate(prefix + ".tlb_hit_rate", prefix + ".tlb_hits", {prefix + ".tlb_hits", prefix + ".tlb_misses"},
             "share of stage-2 translations served by the TLB");
}

Stage2Fault Stage2Mmu::make_fault(Stage2Fault::Kind k, int depth, Addr gpa, bool write, bool exec,
                                  unsigned size, Perm entry) const {
  Stage2Fault f;
  f.kind = k;
  f.level = fmt_.arch_level(depth);
  f.gpa = gpa;
  f.write = write;
  f.exec = exec;
  f.size = size;
  arch_.fill_syndrome(f, entry);
  return f;
}

Translation Stage2Mmu::translate(Addr gpa, bool write, bool exec, unsigned size) {
  Translation t;
  const uint64_t gfn = gpa >> kPageShift;
  Perm cached;
  const uint64_t hit = tlb_.lookup(gfn, &cached);
  if (hit != Tlb::kMiss && cached.allows(write, exec)) {
    ++hits_;
    t.ok = true;
    t.pa = (hit << kPageShift) | (gpa & kPageMask);
    t.perm = cached;
    return t;
  }
  ++misses_;
  if (gpa > fmt_.max_input()) {
    ++faults_;
    t.fault = make_fault(Stage2Fault::Kind::Translation, 0, gpa, write, exec, size, {});
    return t;
  }
  const Addr tag = (gpa & shared_mask_) ? 0 : private_tag_;
  Addr table = root_for(gpa) | tag;
  for (int d = 0; d < fmt_.levels(); ++d) {
    ++walks_;
    ++t.levels_walked;
    const uint64_t raw = walker_.read64(table + 8 * fmt_.index(gpa, d));
    Descriptor desc = fmt_.decode(raw, d);
    if (!desc.valid) {
      ++faults_;
      t.fault = make_fault(Stage2Fault::Kind::Translation, d, gpa, write, exec, size, {});
      return t;
    }
    if (desc.table) {
      table = desc.pa | tag;
      continue;
    }
    if (!desc.perm.allows(write, exec)) {
      ++faults_;
      t.fault = make_fault(Stage2Fault::Kind::Permission, d, gpa, write, exec, size, desc.perm);
      return t;
    }
    const uint64_t lsize = fmt_.level_size(d);
    const Addr base = (desc.pa & ~(lsize - 1)) | tag;
    const Addr pa_page = base + ((gpa & (lsize - 1)) & ~kPageMask);
    if (lsize == kHugePageSize)
      tlb_.insert_huge((gpa & ~(lsize - 1)) >> kPageShift, base >> kPageShift, desc.perm);
    else
      tlb_.insert(gfn, pa_page >> kPageShift, desc.perm);
    t.ok = true;
    t.pa = pa_page | (gpa & kPageMask);
    t.perm = desc.perm;
    return t;
  }
  ++faults_;
  t.fault = make_fault(Stage2Fault::Kind::Translation, fmt_.levels() - 1, gpa, write, exec, size, {});
  return t;
}

PageRun Stage2Mmu::neighbours(Addr gpa, uint64_t lo_gfn, uint64_t end_gfn) {
  const uint64_t gfn = gpa >> kPageShift;
  constexpr uint64_t kBlockPages = kHugePageSize >> kPageShift;
  PageRun run{gfn, 1};
  const Addr tag = (gpa & shared_mask_) ? 0 : private_tag_;
  if (tag || gpa > fmt_.max_input()) return run;
  const uint64_t lo = std::max(lo_gfn, gfn & ~(kBlockPages - 1));
  const uint64_t hi = std::min(end_gfn, (gfn & ~(kBlockPages - 1)) + kBlockPages);
  if (gfn < lo || gfn >= hi) return run;
  Addr table = root_for(gpa);
  for (int d = 0; d < fmt_.levels(); ++d) {
    ++walks_;
    const Descriptor desc = fmt_.decode(walker_.read64(table + 8 * fmt_.index(gpa, d)), d);
    if (!desc.valid) return run;
    if (desc.table) {
      table = desc.pa;
      continue;
    }
    const uint64_t lsize = fmt_.level_size(d);
    if (lsize > kPageSize) {  // a block leaf: one frame range, one set of rights
      const uint64_t first = std::max(lo, (gpa & ~(lsize - 1)) >> kPageShift);
      const uint64_t end = std::min(hi, ((gpa & ~(lsize - 1)) + lsize) >> kPageShift);
      return PageRun{first, end - first};
    }
    // A 4 KiB leaf: the entries of [lo, hi) sit side by side in this table,
    // read a 64-byte line (8 entries) at a time outward from gpa's, up to
    // the first page that differs.
    const Addr entries = table + 8 * (fmt_.index(gpa, d) - (gfn & (kBlockPages - 1)));  // the block's first
    uint64_t line_buf[8];
    uint64_t line = ~uint64_t{0};
    auto entry = [&](uint64_t g) {
      const uint64_t i = g & (kBlockPages - 1);
      if (i / 8 != line) {
        line = i / 8;
        walker_.read(entries + 64 * line, line_buf, sizeof line_buf);
        walks_ += 8;
      }
      return line_buf[i % 8];
    };
    const Addr frame = desc.pa & ~kPageMask;
    auto same = [&](uint64_t g) {
      const Descriptor e = fmt_.decode(entry(g), d);
      return e.valid && !e.table && (e.pa & ~kPageMask) == frame + ((g - gfn) << kPageShift) &&
             e.perm.r == desc.perm.r && e.perm.w == desc.perm.w && e.perm.x == desc.perm.x;
    };
    uint64_t first = gfn, end = gfn + 1;
    while (end < hi && same(end)) ++end;
    while (first > lo && same(first - 1)) --first;
    return PageRun{first, end - first};
  }
  return run;
}

}  // namespace cocosim
