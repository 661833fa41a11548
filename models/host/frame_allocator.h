// The host kernel's page allocator over DRAM, and the record of what each
// allocated frame is used for (the struct page of this model). Allocation and
// lookup are O(1); nothing scans memory.
#pragma once
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "common/change_journal.h"
#include "common/frame_owner.h"
#include "common/types.h"

namespace cocosim {

class GuestMemfd;

// TdxControl: a TD's pages in the TDX module's name (TDR, TDCS, TDVPR, TDVPX, Secure EPT).
enum class FrameKind : uint8_t { Anon, Gmem, PageTable, Kernel, TdxControl };

struct FrameUse {
  FrameKind kind = FrameKind::Kernel;
  GuestMemfd* gmem = nullptr;  // for Gmem frames
  uint64_t index = 0;          // page index within the gmem file / anon object
  int vm = -1;                 // for stage-2 page-table and TD control frames
  FrameOwner own;              // kept by the ownership model (models/ownership)
  // A Gmem frame punched out of its file while pinned: only the pinner's now
  // (the host's), whatever the file's state at `index` becomes.
  bool detached = false;
};

const char* frame_kind_name(FrameKind k);

class FrameAllocator {
 public:
  // Manages frames [first_pfn, end_pfn).
  FrameAllocator(uint64_t first_pfn, uint64_t end_pfn);

  std::optional<uint64_t> alloc(const FrameUse& use);
  // 512 contiguous frames starting at a 2 MiB boundary (a huge folio), tagged
  // use.index + i; the first pfn, or nullopt when none is left. Taken from the
  // never-used top while it lasts, then from the lowest 2 MiB block whose
  // 512 frames have all been freed (pinned or held frames are not free).
  std::optional<uint64_t> alloc_huge(const FrameUse& use);
  // 2 MiB blocks below the never-used top whose every frame is free: what
  // alloc_huge can still reuse.
  size_t free_huge_blocks() const { return free_blocks_.size(); }
  // `n` contiguous frames aligned to n pages (n a power of two, as a
  // concatenated stage-2 root needs), each tagged `use`; nullopt when none is left.
  std::optional<uint64_t> alloc_contiguous(uint64_t n, const FrameUse& use);
  // Frees the frame, or, while it is pinned, only takes it from its user: a
  // pinned frame stays allocated (the page's refcount holds it) until the last
  // unpin frees it.
  void free(uint64_t pfn);
  // Long-term pins (get_user_pages with FOLL_LONGTERM) of an allocated frame.
  void pin(uint64_t pfn);
  void unpin(uint64_t pfn);
  uint32_t pins(uint64_t pfn) const;
  // A frame the hypervisor has given to a guest (pKVM: host NOPAGE or
  // SHARED_BORROWED) is not the host's to reuse: freed meanwhile, it is freed
  // for real when the hypervisor gives it back (release).
  void hold(uint64_t pfn) {
    if (used_.count(pfn)) held_.insert(pfn);
    CC_JOURNAL(frames(pfn));
  }
  void release(uint64_t pfn);
  bool held(uint64_t pfn) const { return held_.count(pfn) != 0; }
  template <class Fn> void for_each_pinned(Fn fn) const {
    for (const auto& [pfn, n] : pins_) fn(pfn, n);
  }
  const FrameUse* use(uint64_t pfn) const;
  void retag(uint64_t pfn, const FrameUse& use);
  // The ownership model's way to change a frame's owner record.
  void set_owner(uint64_t pfn, const FrameOwner& o) {
    auto it = used_.find(pfn);
    if (it != used_.end()) it->second.own = o;
    CC_JOURNAL(frames(pfn));
  }
  // Called for every frame as it is allocated or retagged, so its owner record
  // can be set before anyone uses it.
  void set_use_hook(std::function<void(uint64_t pfn, FrameUse& use)> h) { use_hook_ = std::move(h); }
  template <typename Fn>
  void for_each_used(Fn fn) const {
    for (const auto& [pfn, u] : used_) fn(pfn, u);
  }
  // Called for every frame as it is freed, before anyone can reuse it: the
  // platform revokes DMI pointers to it there.
  void set_free_hook(std::function<void(uint64_t pfn)> h) { free_hook_ = std::move(h); }
  size_t in_use() const { return used_.size(); }
  size_t peak_in_use() const { return peak_; }

 private:
  uint64_t base_;  // first_pfn
  uint64_t next_;
  uint64_t end_;
  std::vector<uint64_t> free_;  // LIFO, as a per-CPU page list hands back the hottest frame
  // Both below are indexed from base_ and cover [base_, next_).
  // Per frame (pfn - base_): kFree while free below next_; kListed while an
  // entry for it is in free_. alloc_huge takes a reused block's frames
  // without searching free_: their entries go stale (listed, not free) and
  // alloc() drops them as it meets them; a frame is never listed twice.
  static constexpr uint8_t kFree = 1, kListed = 2;
  std::vector<uint8_t> frame_state_;
  // Per 2 MiB block (pfn / 512 - base_ / 512): how many of its frames are
  // free; the blocks where all 512 are, lowest first.
  std::vector<uint16_t> block_free_;
  std::set<uint64_t> free_blocks_;  // first pfn of each fully free block
  void push_free(uint64_t pfn);
  void take_free(uint64_t pfn);  // a free frame becomes allocated
  void advance_top(uint64_t new_next);
  std::unordered_map<uint64_t, FrameUse> used_;
  std::map<uint64_t, uint32_t> pins_;           // pinned frames: pfn -> pins
  std::unordered_set<uint64_t> freed_pinned_;   // freed by their user while pinned
  std::unordered_set<uint64_t> held_, freed_held_;  // given away by the hypervisor (and freed meanwhile)
  size_t peak_ = 0;
  std::function<void(uint64_t)> free_hook_;
  std::function<void(uint64_t, FrameUse&)> use_hook_;
  FrameUse& record(uint64_t pfn, const FrameUse& use) {
    FrameUse& u = used_[pfn] = use;
    CC_JOURNAL(frames(pfn));
    if (use_hook_) use_hook_(pfn, u);
    return u;
  }
};

}  // namespace cocosim
