// Which initiator holds a DMI pointer to which bus range. The bus consults it so
// that an invalidation reaches only the initiators that hold the range, and the
// invariant checker asks it whether any pointer reaches a given frame.
#pragma once
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <map>
#include <vector>

#include "common/types.h"

namespace cocosim {

class DmiRegistry {
 public:
  void record(unsigned initiator, Addr lo, Addr hi);
  // Initiators holding any part of [lo, hi]; their grants overlapping it are dropped.
  std::vector<unsigned> revoke(Addr lo, Addr hi);
  bool any_overlaps(Addr lo, Addr hi) const;
  // Whether `initiator` holds a grant covering all of [lo, hi].
  bool holds(unsigned initiator, Addr lo, Addr hi) const;
  size_t grants() const;
  // fn(initiator, lo, hi) for the part of every grant that overlaps [lo, hi].
  template <typename Fn>
  void for_each_in(Addr lo, Addr hi, Fn fn) const {
    for (const auto& [init, m] : grants_) {
      auto it = m.upper_bound(lo);
      if (it != m.begin()) --it;
      for (; it != m.end() && it->first <= hi; ++it)
        if (it->second >= lo) fn(init, std::max(lo, it->first), std::min(hi, it->second));
    }
  }
  // fn(initiator, lo, hi) for every grant.
  template <typename Fn>
  void for_each(Fn fn) const {
    for (const auto& [init, m] : grants_)
      for (const auto& [lo, hi] : m) fn(init, lo, hi);
  }

 private:
  // Per initiator: lo -> hi, non-overlapping (merged on record).
  std::map<unsigned, std::map<Addr, Addr>> grants_;
};

}  // namespace cocosim
