#include "cpu/tlb.h"

namespace cocosim {

Tlb::Tlb(Stats& stats, const std::string& prefix) : flushes_(stats.counter(prefix + ".tlb_flushes", "count", "TLB invalidations applied (whole or by range)")) {}

void Tlb::flush_all() {
  for (Entry& e : entries_) e.valid = false;
  ++flushes_;
}

void Tlb::flush_gfns(uint64_t first, uint64_t end) {
  ++flushes_;
  if (end - first < kEntries) {
    for (uint64_t g = first; g < end; ++g) {
      Entry& e = entries_[g % kEntries];
      if (e.valid && e.gfn == g) e.valid = false;
    }
    return;
  }
  for (Entry& e : entries_)
    if (e.valid && e.gfn >= first && e.gfn < end) e.valid = false;
}

unsigned Tlb::valid_entries() const {
  unsigned n = 0;
  for (const Entry& e : entries_) n += e.valid;
  return n;
}

}  // namespace cocosim
