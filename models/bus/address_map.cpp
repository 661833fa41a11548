#include "bus/address_map.h"

#include <algorithm>

namespace cocosim {

bool AddressMap::add(const BusRegion& r) {
  if (r.size == 0 || r.base + (r.size - 1) < r.base) return false;
  for (const auto& o : regions_)
    if (r.base <= o.end() && o.base <= r.end()) return false;
  auto pos = std::upper_bound(regions_.begin(), regions_.end(), r.base,
                              [](Addr a, const BusRegion& x) { return a < x.base; });
  regions_.insert(pos, r);
  return true;
}

const BusRegion* AddressMap::find(Addr a) const {
  auto it = std::upper_bound(regions_.begin(), regions_.end(), a,
                             [](Addr v, const BusRegion& x) { return v < x.base; });
  if (it == regions_.begin()) return nullptr;
  --it;
  return a <= it->end() ? &*it : nullptr;
}

std::vector<const BusRegion*> AddressMap::regions_of_port(unsigned port) const {
  std::vector<const BusRegion*> out;
  for (const auto& r : regions_)
    if (r.port == port) out.push_back(&r);
  return out;
}

}  // namespace cocosim
