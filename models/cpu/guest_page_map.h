// The pages an instruction-set emulator may reach without asking the vCPU:
// each one a guest-physical page that stage 2 translated, with the host
// pointer the bus granted for its frame (DMI), or none (every access to it
// then goes through GuestEnv::access). Bounded (the oldest entry goes first:
// an emulator's cost of holding a mapping grows with their number), keyed by
// GPA page, with a second index by frame for DMI revocation. Every change is
// mirrored into the emulator through PageMapper before the call returns, so
// the emulator never holds a mapping this map does not. A page without a host
// pointer holds no translation (each access is translated when it happens),
// so invalidations leave it; only eviction removes it.
#pragma once
#include <cstddef>
#include <cstdint>
#include <deque>
#include <unordered_map>
#include <vector>

namespace cocosim {

struct MappedPage {
  uint64_t gfn = 0;
  uint64_t pfn = 0;         // the frame stage 2 gave (with a TD's KeyID bits, if any)
  uint8_t* host = nullptr;  // DMI pointer to the frame; nullptr: accesses go through GuestEnv
  bool writable = false;
  bool executable = false;
};

// What the map drives: the emulator's own memory map.
class PageMapper {
 public:
  virtual ~PageMapper() = default;
  virtual void map_page(const MappedPage& p) = 0;
  virtual void unmap_page(const MappedPage& p) = 0;
};

class GuestPageMap {
 public:
  GuestPageMap(PageMapper& mapper, size_t capacity);
  ~GuestPageMap() { clear(); }
  GuestPageMap(const GuestPageMap&) = delete;
  GuestPageMap& operator=(const GuestPageMap&) = delete;

  // Maps `p` (replacing an entry for the same GPA page), evicting the oldest if full.
  void insert(const MappedPage& p);
  const MappedPage* find(uint64_t gfn) const {
    auto it = by_gfn_.find(gfn);
    return it == by_gfn_.end() ? nullptr : &it->second;
  }
  // Stage-2 invalidations: GPA pages [first, end); every translation.
  void invalidate_gfns(uint64_t first, uint64_t end);
  void invalidate_all();
  // Everything, pages without host pointer too.
  void clear();
  // A DMI revocation: entries whose host pointer reaches a frame of [first, end).
  void invalidate_pfns(uint64_t first, uint64_t end);

  size_t size() const { return by_gfn_.size(); }
  size_t capacity() const { return capacity_; }
  uint64_t evictions() const { return evictions_; }
  template <typename Fn>
  void for_each(Fn fn) const {
    for (const auto& [gfn, p] : by_gfn_) fn(p);
  }

 private:
  void erase(uint64_t gfn);

  PageMapper& mapper_;
  size_t capacity_;
  std::unordered_map<uint64_t, MappedPage> by_gfn_;
  std::unordered_multimap<uint64_t, uint64_t> gfns_by_pfn_;  // DMI-mapped entries only
  std::deque<uint64_t> order_;  // insertion order; may hold gfns already erased
  uint64_t evictions_ = 0;
};

}  // namespace cocosim
