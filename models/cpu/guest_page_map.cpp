#include "cpu/guest_page_map.h"

#include <stdexcept>

namespace cocosim {

GuestPageMap::GuestPageMap(PageMapper& mapper, size_t capacity)
    : mapper_(mapper), capacity_(capacity) {
  if (capacity == 0) throw std::invalid_argument("GuestPageMap: capacity must be at least 1");
}

void GuestPageMap::insert(const MappedPage& p) {
  erase(p.gfn);
  while (by_gfn_.size() >= capacity_ && !order_.empty()) {
    const uint64_t oldest = order_.front();
    order_.pop_front();
    if (by_gfn_.count(oldest)) {
      erase(oldest);
      ++evictions_;
    }
  }
  // Drop stale order records so the queue stays bounded by the live entries.
  if (order_.size() > 2 * capacity_) {
    std::deque<uint64_t> live;
    for (uint64_t g : order_)
      if (by_gfn_.count(g)) live.push_back(g);
    order_.swap(live);
  }
  by_gfn_.emplace(p.gfn, p);
  if (p.host) gfns_by_pfn_.emplace(p.pfn, p.gfn);
  order_.push_back(p.gfn);
  mapper_.map_page(p);
}

void GuestPageMap::erase(uint64_t gfn) {
  auto it = by_gfn_.find(gfn);
  if (it == by_gfn_.end()) return;
  const MappedPage p = it->second;
  by_gfn_.erase(it);
  if (p.host) {
    auto [lo, hi] = gfns_by_pfn_.equal_range(p.pfn);
    for (auto r = lo; r != hi; ++r)
      if (r->second == gfn) {
        gfns_by_pfn_.erase(r);
        break;
      }
  }
  mapper_.unmap_page(p);
}

void GuestPageMap::invalidate_gfns(uint64_t first, uint64_t end) {
  if (first >= end) return;
  // A wide range (a whole-VM flush by range) walks the entries, a narrow one the pages.
  if (end - first > by_gfn_.size()) {
    std::vector<uint64_t> hit;
    for (const auto& [gfn, p] : by_gfn_)
      if (gfn >= first && gfn < end && p.host) hit.push_back(gfn);
    for (uint64_t g : hit) erase(g);
    return;
  }
  for (uint64_t g = first; g < end; ++g) {
    const MappedPage* p = find(g);
    if (p && p->host) erase(g);
  }
}

void GuestPageMap::invalidate_pfns(uint64_t first, uint64_t end) {
  if (first >= end) return;
  std::vector<uint64_t> hit;
  if (end - first > gfns_by_pfn_.size()) {
    for (const auto& [pfn, gfn] : gfns_by_pfn_)
      if (pfn >= first && pfn < end) hit.push_back(gfn);
  } else {
    for (uint64_t f = first; f < end; ++f) {
      auto [lo, hi] = gfns_by_pfn_.equal_range(f);
      for (auto r = lo; r != hi; ++r) hit.push_back(r->second);
    }
  }
  for (uint64_t g : hit) erase(g);
}

void GuestPageMap::invalidate_all() {
  std::vector<uint64_t> hit;
  for (const auto& [gfn, p] : by_gfn_)
    if (p.host) hit.push_back(gfn);
  for (uint64_t g : hit) erase(g);
}

void GuestPageMap::clear() {
  std::vector<uint64_t> all;
  all.reserve(by_gfn_.size());
  for (const auto& [gfn, p] : by_gfn_) all.push_back(gfn);
  for (uint64_t g : all) erase(g);
  order_.clear();
}

}  // namespace cocosim
