#include "cpu/stage2_mmu.h"

#include <cstdio>

namespace cocosim {

Stage2Mmu::Stage2Mmu(const Stage2Format& fmt, bool arm64, MemoryPort& walker, Tlb& tlb,
                     Stats& stats, const std::string& prefix)
    : fmt_(fmt),
      arm64_(arm64),
      walker_(walker),
      tlb_(tlb),
      hits_(stats.counter(prefix + ".tlb_hits", "count", "stage-2 translations served by the TLB (micro-TLB hits included)")),
      misses_(stats.counter(prefix + ".tlb_misses", "count", "stage-2 translations that missed the TLB")),
      walks_(stats.counter(prefix + ".walk_reads", "count", "page-table entries read by stage-2 walks")),
      faults_(stats.counter(prefix + ".stage2_faults", "count", "stage-2 walks that ended in a translation or permission fault")) {
  stats.rate(prefix + ".tlb_hit_rate", prefix + ".tlb_hits", {prefix + ".tlb_hits", prefix + ".tlb_misses"},
             "share of stage-2 translations served by the TLB");
}

uint64_t Stage2Mmu::ept_qualification(bool write, bool exec, Perm entry) {
  // Bits 2:0: the access (read, write, fetch); bits 5:3: what the entry allowed.
  uint64_t q = exec ? 4 : (write ? 2 : 1);
  if (entry.r) q |= 1ull << 3;
  if (entry.w) q |= 1ull << 4;
  if (entry.x) q |= 1ull << 5;
  return q;
}

uint64_t Stage2Mmu::arm64_esr(bool write, bool exec, bool permission, int level, unsigned size) {
  const uint64_t ec = exec ? kEsrEcIabtLow : kEsrEcDabtLow;
  uint64_t esr = (ec << 26) | (1ull << 25);  // IL: 32-bit instruction
  const uint64_t fsc = (permission ? 0x0c : 0x04) + uint64_t(level);
  esr |= fsc;
  if (!exec) {
    // ISV with the access size (SAS = log2 bytes), so the host can emulate MMIO.
    unsigned sas = size >= 8 ? 3 : size >= 4 ? 2 : size >= 2 ? 1 : 0;
    esr |= (1ull << 24) | (uint64_t(sas) << 22);
    if (write) esr |= 1ull << 6;  // WnR
  }
  return esr;
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
  if (arm64_) {
    f.syndrome = arm64_esr(write, exec, k == Stage2Fault::Kind::Permission, f.level, size);
    f.hpfar = (gpa >> 8) & ~uint64_t{0xf};  // FIPA = IPA[47:12] at bit 4
  } else {
    f.syndrome = ept_qualification(write, exec, entry);
  }
  return f;
}

Translation Stage2Mmu::translate(Addr gpa, bool write, bool exec, unsigned size) {
  Translation t;
  const uint64_t gfn = gpa >> kPageShift;
  if (const Tlb::Entry* e = tlb_.lookup(gfn)) {
    if (e->perm.allows(write, exec)) {
      ++hits_;
      t.ok = true;
      t.pa = (e->pfn << kPageShift) | (gpa & kPageMask);
      t.perm = e->perm;
      return t;
    }
  }
  ++misses_;
  if (gpa > fmt_.max_input()) {
    ++faults_;
    t.fault = make_fault(Stage2Fault::Kind::Translation, 0, gpa, write, exec, size, {});
    return t;
  }
  Addr table = root_;
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
      table = desc.pa;
      continue;
    }
    if (!desc.perm.allows(write, exec)) {
      ++faults_;
      t.fault = make_fault(Stage2Fault::Kind::Permission, d, gpa, write, exec, size, desc.perm);
      return t;
    }
    const uint64_t lsize = fmt_.level_size(d);
    const Addr pa_page = (desc.pa & ~(lsize - 1)) + ((gpa & (lsize - 1)) & ~kPageMask);
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

std::string Stage2Fault::describe(bool arm64) const {
  char buf[200];
  const char* k = kind == Kind::Translation ? "translation" : "permission";
  if (arm64)
    std::snprintf(buf, sizeof buf, "stage-2 %s fault, level %d, IPA 0x%llx, ESR_EL2 0x%llx, HPFAR_EL2 0x%llx",
                  k, level, (unsigned long long)gpa, (unsigned long long)syndrome,
                  (unsigned long long)hpfar);
  else
    std::snprintf(buf, sizeof buf, "EPT violation (%s), level %d, GPA 0x%llx, qualification 0x%llx", k,
                  level, (unsigned long long)gpa, (unsigned long long)syndrome);
  return buf;
}

}  // namespace cocosim
