// The bus address map: non-overlapping regions, each routed to one target port.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "common/types.h"

namespace cocosim {

struct BusRegion {
  Addr base = 0;
  uint64_t size = 0;
  unsigned port = 0;       // index of the target on the bus's initiator socket
  Addr target_offset = 0;  // address the target sees for `base`
  std::string name;
  Addr end() const { return base + size - 1; }
};

class AddressMap {
 public:
  // Returns false (and adds nothing) when the region is empty or overlaps another.
  bool add(const BusRegion& r);
  const BusRegion* find(Addr a) const;
  // Regions of `port` that cover target-local [lo, hi], for mapping invalidations back.
  std::vector<const BusRegion*> regions_of_port(unsigned port) const;
  const std::vector<BusRegion>& regions() const { return regions_; }

 private:
  std::vector<BusRegion> regions_;  // sorted by base
};

}  // namespace cocosim
