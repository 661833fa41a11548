// The CPU's stage-2 translation: TLB first, then a walk of the tables in
// simulated memory (each level a read through the data plane). A miss ends in
// a typed fault with the syndrome the hardware would report: the EPT-violation
// exit qualification on x86, ESR_EL2 and HPFAR_EL2 on arm64.
#pragma once
#include <cstdint>
#include <string>

#include "common/memory_port.h"
#include "cpu/stage2_format.h"
#include "cpu/tlb.h"

namespace cocosim {

struct Stage2Fault {
  enum class Kind { Translation, Permission };
  Kind kind = Kind::Translation;
  int level = 0;  // the architecture's level number where the walk stopped
  Addr gpa = 0;
  bool write = false;
  bool exec = false;
  unsigned size = 0;  // access size in bytes
  // x86: EPT-violation exit qualification. arm64: ESR_EL2.
  uint64_t syndrome = 0;
  uint64_t hpfar = 0;  // arm64 HPFAR_EL2
  std::string describe(bool arm64) const;
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
  Stage2Mmu(const Stage2Format& fmt, bool arm64, MemoryPort& walker, Tlb& tlb, Stats& stats,
            const std::string& prefix);

  void set_root(Addr root) { root_ = root; }
  Addr root() const { return root_; }
  bool arm64() const { return arm64_; }
  const Stage2Format& format() const { return fmt_; }

  Translation translate(Addr gpa, bool write, bool exec, unsigned size);
  // The TLB-hit half of translate(), inline for the vCPU's hot path: the
  // physical page, or ~0 when a full translate() is needed.
  uint64_t tlb_hit_pfn(Addr gpa, bool write) const {
    const Tlb::Entry* e = tlb_.lookup(gpa >> kPageShift);
    if (!e || !e->perm.allows(write, false)) return ~uint64_t{0};
    return e->pfn;
  }
  void count_hits(uint64_t n) { hits_ += n; }

  // Syndromes, exposed for the fault handler and for tests.
  static constexpr uint64_t kEsrEcDabtLow = 0x24, kEsrEcIabtLow = 0x20;
  static uint64_t ept_qualification(bool write, bool exec, Perm entry);
  static uint64_t arm64_esr(bool write, bool exec, bool permission, int level, unsigned size);

 private:
  Stage2Fault make_fault(Stage2Fault::Kind k, int depth, Addr gpa, bool write, bool exec,
                         unsigned size, Perm entry) const;

  const Stage2Format& fmt_;
  bool arm64_;
  MemoryPort& walker_;
  Tlb& tlb_;
  Addr root_ = 0;
  uint64_t& hits_;
  uint64_t& misses_;
  uint64_t& walks_;
  uint64_t& faults_;
};

}  // namespace cocosim
