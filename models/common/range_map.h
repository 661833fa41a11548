// A piecewise-constant map over [0, 2^64): the value of every index, stored as
// runs. Memory attributes and guest_memfd page states are almost always long
// runs, so a 64 GiB range in one state costs one entry, not 16M.
#pragma once
#include <cstdint>
#include <functional>
#include <iterator>
#include <map>

namespace cocosim {

template <typename T>
class RangeMap {
 public:
  explicit RangeMap(T initial = T{}) { runs_.emplace(0, initial); }

  const T& get(uint64_t i) const { return std::prev(runs_.upper_bound(i))->second; }

  // Set [first, end) to v.
  void set(uint64_t first, uint64_t end, const T& v) {
    if (first >= end) return;
    split(first);
    if (end != 0) split(end);
    auto it = runs_.find(first);
    while (it != runs_.end() && (end == 0 || it->first < end)) it = runs_.erase(it);
    runs_.emplace(first, v);
    merge_around(first);
    if (end != 0) merge_around(end);
  }

  // True when every index of [first, end) has value v.
  bool all_equal(uint64_t first, uint64_t end, const T& v) const {
    bool ok = true;
    for_each(first, end, [&](uint64_t, uint64_t, const T& x) { ok = ok && x == v; });
    return ok;
  }

  // Calls f(lo, hi_exclusive, value) for each run clipped to [first, end).
  void for_each(uint64_t first, uint64_t end,
                const std::function<void(uint64_t, uint64_t, const T&)>& f) const {
    if (first >= end) return;
    auto it = std::prev(runs_.upper_bound(first));
    for (; it != runs_.end() && it->first < end; ++it) {
      auto nx = std::next(it);
      uint64_t hi = nx == runs_.end() ? ~uint64_t{0} : nx->first;
      uint64_t lo = it->first < first ? first : it->first;
      f(lo, hi < end ? hi : end, it->second);
    }
  }

  size_t runs() const { return runs_.size(); }

 private:
  void split(uint64_t at) {
    auto it = std::prev(runs_.upper_bound(at));
    if (it->first != at) runs_.emplace(at, it->second);
  }
  void merge_around(uint64_t at) {
    auto it = runs_.find(at);
    if (it == runs_.end() || it == runs_.begin()) return;
    if (std::prev(it)->second == it->second) runs_.erase(it);
  }
  std::map<uint64_t, T> runs_;
};

}  // namespace cocosim
