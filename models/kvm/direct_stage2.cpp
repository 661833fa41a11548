#include "kvm/direct_stage2.h"

#include <algorithm>

namespace cocosim {

Stage2Backend::ZapResult DirectStage2::zap(uint64_t first_gfn, uint64_t end_gfn,
                                           const std::vector<Stage2TlbControl*>& vcpus) {
  ZapResult r;
  if (tables_.leaves() == 0) return r;  // nothing mapped anywhere: no walk, no flush
  // Invalidate what was actually removed: a block that only overlapped the
  // range went whole, so its whole range is flushed.
  uint64_t lo = ~uint64_t{0}, hi = 0;
  r.leaves = tables_.unmap(first_gfn, end_gfn, [&](uint64_t a, uint64_t b) {
    lo = std::min(lo, a);
    hi = std::max(hi, b);
  });
  if (r.leaves) r.cost_ns = arch_.invalidate_stage2(vcpus, lo, hi);
  return r;
}

}  // namespace cocosim
