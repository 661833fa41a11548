// An initiator's DMI pointers, one per 4 KiB page, and their invalidation:
// the cheaper of visiting the range's pages or the cached ones.
#pragma once
#include <cstdint>
#include <iterator>
#include <unordered_map>

#include "common/change_journal.h"
#include "common/types.h"

namespace cocosim {

class DmiCache {
 public:
  uint8_t* find(uint64_t page) const {
    auto it = pages_.find(page);
    return it == pages_.end() ? nullptr : it->second;
  }
  void insert(uint64_t page, uint8_t* p) {
    pages_[page] = p;
    CC_JOURNAL(vcpu_dmi(page));
  }
  // Drop every page number in [first, last].
  void invalidate(uint64_t first, uint64_t last) {
    if (last - first < pages_.size()) {
      for (uint64_t p = first;; ++p) {
        pages_.erase(p);
        if (p == last) break;
      }
      return;
    }
    for (auto it = pages_.begin(); it != pages_.end();)
      it = (it->first >= first && it->first <= last) ? pages_.erase(it) : std::next(it);
  }
  size_t size() const { return pages_.size(); }
  template <typename Fn>
  void for_each(Fn fn) const {
    for (const auto& [page, p] : pages_) fn(page);
  }

 private:
  std::unordered_map<uint64_t, uint8_t*> pages_;
};

}  // namespace cocosim
