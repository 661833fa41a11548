// The pages an instruction-set emulator may reach without asking the vCPU:
// runs of guest-physical pages that stage 2 translated, each run one mapping
// in the emulator, with the host pointer the bus granted for its frames
// (DMI), or a single page without one (every access to it then goes through
// GuestEnv::access). Bounded in runs (the oldest goes first: an emulator's
// cost of each map and unmap grows with the number of mappings it holds),
// keyed by the run's first GPA page. Every change is mirrored into the
// emulator through PageMapper before the call returns, so the emulator never
// holds a mapping this map does not. An invalidation that covers any page of
// a run removes the whole run (as a TLB drops a whole large entry). A page
// without a host pointer holds no translation (each access is translated
// when it happens), so invalidations leave it; only eviction removes it.
#pragma once
#include <cstddef>
#include <cstdint>
#include <deque>
#include <map>
#include <vector>

namespace cocosim {

// A run of `pages` GPA pages from `gfn`, mapped to the frames from `pfn` and
// the host bytes from `host` (both contiguous), with the same rights.
struct MappedPage {
  uint64_t gfn = 0;
  uint64_t pfn = 0;         // the frame stage 2 gave (with a TD's KeyID bits, if any)
  uint8_t* host = nullptr;  // DMI pointer to the frame; nullptr: accesses go through GuestEnv
  bool writable = false;
  bool executable = false;
  uint64_t pages = 1;       // always 1 without a host pointer

  uint64_t end_gfn() const { return gfn + pages; }
  bool holds(uint64_t g) const { return g >= gfn && g < end_gfn(); }
};

// What the map drives: the emulator's own memory map (one mapping per run).
class PageMapper {
 public:
  virtual ~PageMapper() = default;
  virtual void map_page(const MappedPage& run) = 0;
  virtual void unmap_page(const MappedPage& run) = 0;
};

class GuestPageMap {
 public:
  GuestPageMap(PageMapper& mapper, size_t capacity);
  ~GuestPageMap() { clear(); }
  GuestPageMap(const GuestPageMap&) = delete;
  GuestPageMap& operator=(const GuestPageMap&) = delete;

  // Maps the run `p` (replacing the runs it overlaps), evicting the oldest if full.
  void insert(const MappedPage& p);
  // The run holding GPA page `gfn` (nullptr: none).
  const MappedPage* find(uint64_t gfn) const;
  // The GPA pages [*first, *end) around `gfn` that no run holds, a run
  // holding `gfn` itself counted as free (a new translation replaces it).
  void free_window(uint64_t gfn, uint64_t* first, uint64_t* end) const;
  // Stage-2 invalidations: GPA pages [first, end); every translation.
  void invalidate_gfns(uint64_t first, uint64_t end);
  void invalidate_all();
  // Everything, pages without host pointer too.
  void clear();
  // A DMI revocation: runs whose host pointer reaches a frame of [first, end).
  void invalidate_pfns(uint64_t first, uint64_t end);

  size_t size() const { return runs_.size(); }  // runs (the emulator's mappings)
  size_t pages() const { return pages_; }        // GPA pages in them
  size_t capacity() const { return capacity_; }
  uint64_t evictions() const { return evictions_; }
  // Every mapped page, one by one (a run as its pages).
  template <typename Fn>
  void for_each(Fn fn) const {
    for (const auto& [gfn, r] : runs_)
      for (uint64_t i = 0; i < r.pages; ++i)
        fn(MappedPage{r.gfn + i, r.pfn + i, r.host ? r.host + (i << 12) : nullptr, r.writable, r.executable, 1});
  }

 private:
  void erase(uint64_t first_gfn);
  template <typename Pred>
  void erase_if(Pred pred);

  PageMapper& mapper_;
  size_t capacity_;
  std::map<uint64_t, MappedPage> runs_;  // by first GPA page; never overlapping
  size_t pages_ = 0;
  std::deque<uint64_t> order_;  // insertion order of first pages; may hold runs already erased
  uint64_t evictions_ = 0;
};

}  // namespace cocosim
