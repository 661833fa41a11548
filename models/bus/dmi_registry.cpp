#include "bus/dmi_registry.h"

#include "common/change_journal.h"

namespace cocosim {

namespace {
// First grant that may overlap [lo, hi].
std::map<Addr, Addr>::iterator first_overlap(std::map<Addr, Addr>& m, Addr lo) {
  auto it = m.upper_bound(lo);
  if (it != m.begin()) {
    auto prev = std::prev(it);
    if (prev->second >= lo) return prev;
  }
  return it;
}
}  // namespace

void DmiRegistry::record(unsigned initiator, Addr lo, Addr hi) {
  CC_JOURNAL(dmi_granted(lo, hi));
  auto& m = grants_[initiator];
  // Merge with overlapping or adjacent grants to keep the map small.
  Addr nlo = lo, nhi = hi;
  auto it = first_overlap(m, lo == 0 ? 0 : lo - 1);
  while (it != m.end() && it->first <= (hi == ~Addr{0} ? hi : hi + 1)) {
    nlo = std::min(nlo, it->first);
    nhi = std::max(nhi, it->second);
    it = m.erase(it);
  }
  m.emplace(nlo, nhi);
}

std::vector<unsigned> DmiRegistry::revoke(Addr lo, Addr hi) {
  CC_JOURNAL(dmi_revoked(lo, hi));
  std::vector<unsigned> hit;
  for (auto& [init, m] : grants_) {
    bool touched = false;
    auto it = first_overlap(m, lo);
    while (it != m.end() && it->first <= hi) {
      Addr glo = it->first, ghi = it->second;
      it = m.erase(it);
      touched = true;
      // Keep the parts of the grant outside the revoked range.
      if (glo < lo) m.emplace(glo, lo - 1);
      if (ghi > hi) it = m.emplace(hi + 1, ghi).first, ++it;
    }
    if (touched) hit.push_back(init);
  }
  return hit;
}

bool DmiRegistry::any_overlaps(Addr lo, Addr hi) const {
  for (const auto& [init, m] : grants_) {
    auto it = m.upper_bound(hi);
    if (it == m.begin()) continue;
    --it;
    if (it->second >= lo) return true;
  }
  return false;
}

bool DmiRegistry::holds(unsigned initiator, Addr lo, Addr hi) const {
  auto g = grants_.find(initiator);
  if (g == grants_.end()) return false;
  auto it = g->second.upper_bound(lo);
  if (it == g->second.begin()) return false;
  --it;
  return it->first <= lo && it->second >= hi;  // grants are merged, so one covers it
}

size_t DmiRegistry::grants() const {
  size_t n = 0;
  for (const auto& [init, m] : grants_) n += m.size();
  return n;
}

}  // namespace cocosim
