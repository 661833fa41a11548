// A vCPU's stage-2 TLB: GPA page -> physical page with permissions, direct
// mapped. Hypervisors invalidate it the way the architecture lets them:
// INVEPT (single context) on x86; TLBI IPAS2E1IS by IPA then VMALLE1IS on arm64.
#pragma once
#include <array>
#include <cstdint>

#include "common/stats.h"
#include "cpu/stage2_format.h"

namespace cocosim {

class Tlb {
 public:
  static constexpr unsigned kEntries = 1024;

  explicit Tlb(Stats& stats, const std::string& prefix);

  struct Entry {
    bool valid = false;
    uint64_t gfn = 0;
    uint64_t pfn = 0;
    Perm perm;
  };

  const Entry* lookup(uint64_t gfn) const {
    const Entry& e = entries_[gfn % kEntries];
    return (e.valid && e.gfn == gfn) ? &e : nullptr;
  }
  void insert(uint64_t gfn, uint64_t pfn, Perm p) { entries_[gfn % kEntries] = {true, gfn, pfn, p}; }

  void flush_all();
  void flush_gfns(uint64_t first, uint64_t end);
  unsigned valid_entries() const;
  template <typename Fn>
  void for_each(Fn fn) const {
    for (const Entry& e : entries_)
      if (e.valid) fn(e);
  }

 private:
  std::array<Entry, kEntries> entries_{};
  uint64_t& flushes_;
};

// What a hypervisor can ask of a vCPU's TLB (the instructions it would execute).
class Stage2TlbControl {
 public:
  virtual ~Stage2TlbControl() = default;
  virtual void invept_single_context() = 0;                       // x86
  virtual void tlbi_ipas2e1is(uint64_t first_gfn, uint64_t end_gfn) = 0;  // arm64, by IPA
  virtual void tlbi_vmalle1is() = 0;                               // arm64, whole stage 1 of the VMID
};

}  // namespace cocosim
