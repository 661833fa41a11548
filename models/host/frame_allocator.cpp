#include "host/frame_allocator.h"

namespace cocosim {

const char* owner_kind_name(Owner o) {
  switch (o) {
    case Owner::None: return "none";
    case Owner::Host: return "host";
    case Owner::Guest: return "guest";
    case Owner::Hypervisor: return "hyp";
    case Owner::TdxModule: return "tdx_module";
  }
  return "?";
}

const char* pkvm_state_name(PkvmPageState s) {
  switch (s) {
    case PkvmPageState::Owned: return "OWNED";
    case PkvmPageState::SharedOwned: return "SHARED_OWNED";
    case PkvmPageState::SharedBorrowed: return "SHARED_BORROWED";
    case PkvmPageState::NoPage: return "NOPAGE";
    case PkvmPageState::Poison: return "POISON";
  }
  return "?";
}

const char* frame_kind_name(FrameKind k) {
  switch (k) {
    case FrameKind::Anon: return "anon";
    case FrameKind::Gmem: return "guest_memfd";
    case FrameKind::PageTable: return "page_table";
    case FrameKind::Kernel: return "kernel";
    case FrameKind::TdxControl: return "tdx_control";
  }
  return "?";
}

namespace {
constexpr uint64_t kBlockFrames = kHugePageSize >> kPageShift;
}

FrameAllocator::FrameAllocator(uint64_t first_pfn, uint64_t end_pfn)
    : base_(first_pfn),
      next_(first_pfn),
      end_(end_pfn) {}

void FrameAllocator::advance_top(uint64_t new_next) {
  next_ = new_next;
  // Only frames below the top can be free, so the per-frame and per-block
  // records grow with it (DRAM may be far larger than what a run touches).
  frame_state_.resize(next_ - base_, 0);
  block_free_.resize((next_ - 1) / kBlockFrames - base_ / kBlockFrames + 1, 0);
}

void FrameAllocator::push_free(uint64_t pfn) {
  uint8_t& st = frame_state_[pfn - base_];
  st |= kFree;
  if (!(st & kListed)) {
    st |= kListed;
    free_.push_back(pfn);
  }
  if (++block_free_[pfn / kBlockFrames - base_ / kBlockFrames] == kBlockFrames)
    free_blocks_.insert(pfn & ~(kBlockFrames - 1));
}

void FrameAllocator::take_free(uint64_t pfn) {
  frame_state_[pfn - base_] &= uint8_t(~kFree);
  if (block_free_[pfn / kBlockFrames - base_ / kBlockFrames]-- == kBlockFrames)
    free_blocks_.erase(pfn & ~(kBlockFrames - 1));
}

std::optional<uint64_t> FrameAllocator::alloc(const FrameUse& use) {
  uint64_t pfn = 0;
  bool found = false;
  while (!free_.empty()) {
    pfn = free_.back();
    free_.pop_back();
    uint8_t& st = frame_state_[pfn - base_];
    st &= uint8_t(~kListed);
    if (st & kFree) {  // else a stale entry: alloc_huge took the frame
      found = true;
      break;
    }
  }
  if (found) {
    take_free(pfn);
  } else if (next_ < end_) {
    pfn = next_;
    advance_top(next_ + 1);
  } else {
    return std::nullopt;
  }
  record(pfn, use);
  if (used_.size() > peak_) peak_ = used_.size();
  return pfn;
}

std::optional<uint64_t> FrameAllocator::alloc_huge(const FrameUse& use) {
  // The never-used top first (the frames skipped to reach alignment stay
  // usable), then a freed block, as the buddy allocator's 2 MiB free list.
  uint64_t first = (next_ + kBlockFrames - 1) & ~(kBlockFrames - 1);
  if (first >= next_ && first + kBlockFrames <= end_) {
    const uint64_t skipped = next_;
    advance_top(first + kBlockFrames);
    for (uint64_t p = skipped; p < first; ++p) push_free(p);
  } else if (!free_blocks_.empty()) {
    first = *free_blocks_.begin();
    for (uint64_t i = 0; i < kBlockFrames; ++i) take_free(first + i);  // their free_ entries go stale
  } else {
    return std::nullopt;
  }
  for (uint64_t i = 0; i < kBlockFrames; ++i) {
    FrameUse u = use;
    u.index = use.index + i;
    record(first + i, u);
  }
  if (used_.size() > peak_) peak_ = used_.size();
  return first;
}

std::optional<uint64_t> FrameAllocator::alloc_contiguous(uint64_t n, const FrameUse& use) {
  if (n == 1) return alloc(use);
  const uint64_t first = (next_ + n - 1) & ~(n - 1);
  if (first + n > end_ || first < next_) return std::nullopt;
  const uint64_t skipped = next_;
  advance_top(first + n);
  for (uint64_t p = skipped; p < first; ++p) push_free(p);
  for (uint64_t i = 0; i < n; ++i) record(first + i, use);
  if (used_.size() > peak_) peak_ = used_.size();
  return first;
}

void FrameAllocator::free(uint64_t pfn) {
  auto it = used_.find(pfn);
  if (it == used_.end()) return;
  if (free_hook_) free_hook_(pfn);  // while the use is still known (who maps it)
  CC_JOURNAL(frames(pfn));
  if (held_.count(pfn)) {
    freed_held_.insert(pfn);  // a guest has it: freed when the hypervisor gives it back
    it->second.gmem = nullptr;  // its file lets go of it (and may be gone before the hypervisor is done)
    return;
  }
  if (pins_.count(pfn)) {
    freed_pinned_.insert(pfn);  // the pin holder still reaches it: not reusable yet
    return;
  }
  used_.erase(it);
  push_free(pfn);
}

void FrameAllocator::release(uint64_t pfn) {
  if (!held_.erase(pfn)) return;
  CC_JOURNAL(frames(pfn));
  if (freed_held_.erase(pfn)) free(pfn);
}

void FrameAllocator::pin(uint64_t pfn) {
  if (used_.count(pfn)) ++pins_[pfn];
  CC_JOURNAL(frames(pfn));
}

void FrameAllocator::unpin(uint64_t pfn) {
  auto it = pins_.find(pfn);
  if (it == pins_.end()) return;
  CC_JOURNAL(frames(pfn));
  if (--it->second) return;
  pins_.erase(it);
  if (freed_pinned_.erase(pfn)) free(pfn);
}

uint32_t FrameAllocator::pins(uint64_t pfn) const {
  auto it = pins_.find(pfn);
  return it == pins_.end() ? 0 : it->second;
}

const FrameUse* FrameAllocator::use(uint64_t pfn) const {
  auto it = used_.find(pfn);
  return it == used_.end() ? nullptr : &it->second;
}

void FrameAllocator::retag(uint64_t pfn, const FrameUse& use) {
  auto it = used_.find(pfn);
  if (it != used_.end()) record(pfn, use);
}

}  // namespace cocosim
