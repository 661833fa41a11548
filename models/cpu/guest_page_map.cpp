#include "cpu/guest_page_map.h"

#include <stdexcept>

namespace cocosim {

GuestPageMap::GuestPageMap(PageMapper& mapper, size_t capacity)
    : mapper_(mapper), capacity_(capacity) {
  if (capacity == 0) throw std::invalid_argument("GuestPageMap: capacity must be at least 1");
}

const MappedPage* GuestPageMap::find(uint64_t gfn) const {
  auto it = runs_.upper_bound(gfn);
  if (it == runs_.begin()) return nullptr;
  --it;
  return it->second.holds(gfn) ? &it->second : nullptr;
}

void GuestPageMap::free_window(uint64_t gfn, uint64_t* first, uint64_t* end) const {
  *first = 0;
  *end = ~uint64_t{0};
  auto next = runs_.upper_bound(gfn);  // the first run starting after gfn
  if (next != runs_.end()) *end = next->first;
  if (next == runs_.begin()) return;
  auto prev = std::prev(next);
  if (prev->second.holds(gfn)) {  // replaced by the new translation: look one further
    if (prev == runs_.begin()) return;
    --prev;
  }
  *first = prev->second.end_gfn();
}

void GuestPageMap::insert(const MappedPage& p) {
  if (p.pages == 0 || (!p.host && p.pages != 1))
    throw std::invalid_argument("GuestPageMap: a run is at least one page, and one without host pointer");
  // Runs overlapping [p.gfn, p.end_gfn()).
  erase_if([&](const MappedPage& r) { return r.gfn < p.end_gfn() && p.gfn < r.end_gfn(); });
  while (runs_.size() >= capacity_ && !order_.empty()) {
    const uint64_t oldest = order_.front();
    order_.pop_front();
    if (runs_.count(oldest)) {
      erase(oldest);
      ++evictions_;
    }
  }
  // Drop stale order records so the queue stays bounded by the live runs.
  if (order_.size() > 2 * capacity_) {
    std::deque<uint64_t> live;
    for (uint64_t g : order_)
      if (runs_.count(g)) live.push_back(g);
    order_.swap(live);
  }
  runs_.emplace(p.gfn, p);
  pages_ += p.pages;
  order_.push_back(p.gfn);
  mapper_.map_page(p);
}

void GuestPageMap::erase(uint64_t first_gfn) {
  auto it = runs_.find(first_gfn);
  if (it == runs_.end()) return;
  const MappedPage r = it->second;
  runs_.erase(it);
  pages_ -= r.pages;
  mapper_.unmap_page(r);
}

template <typename Pred>
void GuestPageMap::erase_if(Pred pred) {
  // At most `capacity_` runs: a scan costs less than an index would to keep.
  std::vector<uint64_t> hit;
  for (const auto& [gfn, r] : runs_)
    if (pred(r)) hit.push_back(gfn);
  for (uint64_t g : hit) erase(g);
}

void GuestPageMap::invalidate_gfns(uint64_t first, uint64_t end) {
  if (first >= end) return;
  erase_if([&](const MappedPage& r) { return r.host && r.gfn < end && first < r.end_gfn(); });
}

void GuestPageMap::invalidate_pfns(uint64_t first, uint64_t end) {
  if (first >= end) return;
  erase_if([&](const MappedPage& r) { return r.host && r.pfn < end && first < r.pfn + r.pages; });
}

void GuestPageMap::invalidate_all() {
  erase_if([](const MappedPage& r) { return r.host != nullptr; });
}

void GuestPageMap::clear() {
  erase_if([](const MappedPage&) { return true; });
  order_.clear();
}

}  // namespace cocosim
