#include "cpu/tlb.h"

#include <stdexcept>

namespace cocosim {

namespace {
unsigned checked(unsigned n, const char* what) {
  if (n == 0 || (n & (n - 1)) != 0)
    throw std::invalid_argument(std::string("TLB: ") + what + " must be a power of two, not " +
                                std::to_string(n));
  return n;
}
}  // namespace

Tlb::Tlb(unsigned entries, unsigned huge_entries, Stats& stats, const std::string& prefix)
    : small_(checked(entries, "entries")),
      huge_(checked(huge_entries, "huge entries")),
      small_mask_(entries - 1),
      huge_mask_(huge_entries - 1),
      flushes_(stats.counter(prefix + ".flushes", "count",
                             "TLB invalidations applied to this vCPU (whole, by range or by VMID)")) {}

void Tlb::flush_all() {
  for (Entry& e : small_) e.valid = false;
  for (Entry& e : huge_) e.valid = false;
  ++flushes_;
}

void Tlb::flush_gfns(uint64_t first, uint64_t end) {
  ++flushes_;
  if (end - first < small_.size()) {
    for (uint64_t g = first; g < end; ++g) {
      Entry& e = small_[g & small_mask_];
      if (e.valid && e.gfn == g) e.valid = false;
    }
  } else {
    for (Entry& e : small_)
      if (e.valid && e.gfn >= first && e.gfn < end) e.valid = false;
  }
  for (Entry& e : huge_)
    if (e.valid && e.gfn < end && first < e.gfn + kHugePages) e.valid = false;
}

unsigned Tlb::valid_entries() const {
  unsigned n = 0;
  for_each([&](const Entry&) { ++n; });
  return n;
}

}  // namespace cocosim
