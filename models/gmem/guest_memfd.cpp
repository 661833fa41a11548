#include "gmem/guest_memfd.h"

#include "common/change_journal.h"
#include "common/trace.h"

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <csignal>

namespace cocosim {

int GuestMemfd::validate_create(uint64_t size, uint64_t flags, VmType type) {
  uint64_t supported = kFlagMmap;
  if (traits_of(type).allows_init_shared) supported |= kFlagInitShared;
  if (type == VmType::Tdx) supported |= kFlagHugetlb | kHugeMask;
  if (flags & ~supported) return EINVAL;
  if (size == 0 || !page_aligned(size) || size > kMaxSize) return EINVAL;
  if (flags & kHugeMask) {
    // A page size needs HUGETLB, and 2 MiB is the only one modelled.
    if (!(flags & kFlagHugetlb) || (flags & kHugeMask) != kFlagHuge2M) return EINVAL;
  }
  if ((flags & kFlagHugetlb) && (size & (kHugePageSize - 1))) return EINVAL;  // whole huge pages only
  return 0;
}

GuestMemfd::GuestMemfd(int id, std::string name, uint64_t size, uint64_t flags, GmemVm vm,
                       FrameAllocator& frames, MemoryPort& mem, Stats& stats)
    : id_(id),
      name_(std::move(name)),
      size_(size),
      flags_(flags),
      vm_(std::move(vm)),
      frames_(frames),
      mem_(mem),
      // Upstream guest_memfd without INIT_SHARED starts all-private.
      state_((flags & kFlagInitShared) ? GmemPageState::Shared : GmemPageState::Private),
      stat_alloc_(stats.counter("platform.gmem.folios_allocated", "count", "guest_memfd folios allocated")),
      stat_conversions_(stats.counter("platform.gmem.conversions", "pages", "guest_memfd pages converted between shared and private")),
      stat_zeroed_(stats.counter("platform.gmem.pages_zeroed", "pages", "guest_memfd pages cleared by a ZERO conversion or allocation")) {}

GuestMemfd::~GuestMemfd() {
  // Pinners hold a reference to the file, so nothing is pinned by now.
  for (auto& [index, f] : folios_) frames_.free(f.pfn);
  for (auto& [pfn, pins] : detached_pins_) frames_.free(pfn);
}

GuestMemfd::Folio* GuestMemfd::folio(uint64_t index) {
  auto it = folios_.find(index);
  return it == folios_.end() ? nullptr : &it->second;
}

GuestMemfd::Folio* GuestMemfd::get_folio(uint64_t index) {
  if (Folio* f = folio(index)) return f;
  if (hugetlb()) {
    // A whole 2 MiB folio when none of its pages is in the file; a range left
    // with some pages after a punch hole is refilled page by page.
    const uint64_t head = index & ~(kHugePages - 1);
    auto it = folios_.lower_bound(head);
    if (head + kHugePages <= pages() && (it == folios_.end() || it->first >= head + kHugePages)) {
      auto pfn = frames_.alloc_huge({FrameKind::Gmem, this, head, vm_.id});
      // No free 2 MiB block: the hugetlb series' allocation fails (-ENOMEM)
      // rather than handing out a smaller page; each caller reports it.
      if (!pfn) return nullptr;
      mem_.fill(*pfn << kPageShift, 0, kHugePageSize);
      ++stat_alloc_;
      for (uint64_t i = 0; i < kHugePages; ++i) folios_.emplace_hint(it, head + i, Folio{*pfn + i, 0});
      huge_heads_.insert(head);
      return folio(index);
    }
  }
  auto pfn = frames_.alloc({FrameKind::Gmem, this, index, vm_.id});
  if (!pfn) return nullptr;
  // A new folio is cleared before anyone sees it (guest_memfd zeroes on allocation).
  mem_.fill(*pfn << kPageShift, 0, kPageSize);
  ++stat_alloc_;
  return &folios_.emplace(index, Folio{*pfn, 0}).first->second;
}

std::optional<uint64_t> GuestMemfd::huge_folio_pfn(uint64_t index) const {
  const uint64_t head = index & ~(kHugePages - 1);
  if (!huge_heads_.count(head)) return std::nullopt;
  return folios_.at(head).pfn;
}

std::optional<uint64_t> GuestMemfd::pfn(uint64_t index) const {
  auto it = folios_.find(index);
  if (it == folios_.end()) return std::nullopt;
  return it->second.pfn;
}

uint32_t GuestMemfd::refcount(uint64_t index) const {
  auto it = folios_.find(index);
  return it == folios_.end() ? 0 : 1 + it->second.pins;
}

std::vector<std::pair<uint64_t, uint64_t>> GuestMemfd::folios_in(uint64_t first,
                                                                 uint64_t end) const {
  std::vector<std::pair<uint64_t, uint64_t>> out;
  for (auto it = folios_.lower_bound(first); it != folios_.end() && it->first < end; ++it)
    out.emplace_back(it->first, it->second.pfn);
  return out;
}

void GuestMemfd::invalidate_bindings(uint64_t first, uint64_t end) {
  for (const Binding& b : bindings_) {
    uint64_t lo = std::max(first, b.first), hi = std::min(end, b.end);
    if (lo < hi) {
      COCOSIM_PROBE(pulse(trace::Cat::Gmem, "platform.gmem." + name_, "invalidate",
                          "pages " + std::to_string(lo) + ".." + std::to_string(hi)));
      b.slot->gmem_invalidate(lo, hi);
    }
  }
}

void GuestMemfd::free_range(uint64_t first, uint64_t end) {
  // A huge folio losing any page is split: what remains is 4 KiB pages.
  for (auto h = huge_heads_.lower_bound(first & ~(kHugePages - 1)); h != huge_heads_.end() && *h < end;)
    h = huge_heads_.erase(h);
  auto it = folios_.lower_bound(first);
  while (it != folios_.end() && it->first < end) {
    if (it->second.pins) {
      detached_pins_[it->second.pfn] += it->second.pins;  // the pinner keeps the frame
      if (const FrameUse* u = frames_.use(it->second.pfn)) {
        FrameUse d = *u;
        d.detached = true;  // no longer the file's page at this index
        frames_.retag(it->second.pfn, d);
      }
    } else
      frames_.free(it->second.pfn);
    it = folios_.erase(it);
  }
}

int GuestMemfd::fallocate(int mode, int64_t offset, int64_t len) {
  if (offset < 0 || len <= 0) return EINVAL;  // vfs_fallocate checks the range first
  if (uint64_t(offset) + uint64_t(len) > uint64_t(INT64_MAX)) return EFBIG;  // beyond s_maxbytes
  if (!(mode & kFallocKeepSize)) return EOPNOTSUPP;
  if (mode & ~(kFallocKeepSize | kFallocPunchHole)) return EOPNOTSUPP;
  if (!page_aligned(offset) || !page_aligned(len)) return EINVAL;
  const uint64_t first = uint64_t(offset) >> kPageShift;
  const uint64_t end = (uint64_t(offset) + uint64_t(len)) >> kPageShift;
  if (mode & kFallocPunchHole) {
    // Punching beyond EOF is not an error; only the part inside the file matters.
    const uint64_t e = std::min(end, pages());
    if (first >= e) return 0;
    invalidate_bindings(first, e);
    if (host_) host_->unmap_range(*this, first, e);
    free_range(first, e);
    return 0;
  }
  if (uint64_t(offset) + uint64_t(len) > size_) return EINVAL;
  for (uint64_t i = first; i < end; ++i)
    // What was allocated stays, as in shmem. No page: ENOSPC as shmem; no
    // huge folio: ENOMEM, what the hugetlb series' kvm_gmem_allocate passes on.
    if (!get_folio(i)) return hugetlb() ? ENOMEM : ENOSPC;
  return 0;
}

int GuestMemfd::check_to_private(uint64_t first, uint64_t end, uint64_t* bad_index) const {
  for (auto it = folios_.lower_bound(first); it != folios_.end() && it->first < end; ++it) {
    if (it->second.pins) {
      if (bad_index) *bad_index = it->first;
      return EAGAIN;
    }
  }
  return 0;
}

void GuestMemfd::convert(uint64_t first, uint64_t end, bool to_private, uint64_t mode,
                         bool notify_bindings, bool host_unmapped) {
  if (to_private && host_ && !host_unmapped) host_->unmap_range(*this, first, end);
  if (ownership_hook_)
    for (auto it = folios_.lower_bound(first); it != folios_.end() && it->first < end; ++it)
      ownership_hook_(it->second.pfn, to_private);
  invalidate_bindings(first, end);
  state_.set(first, end, to_private ? GmemPageState::Private : GmemPageState::Shared);
  if (ChangeJournal* j = ChangeJournal::active()) {
    j->gmem_pages(id_, first, end);
    for (auto it = folios_.lower_bound(first); it != folios_.end() && it->first < end; ++it) j->frames(it->second.pfn);
  }
  ++stat_conversions_;
  COCOSIM_PROBE(pulse(trace::Cat::Gmem, "platform.gmem." + name_, to_private ? "to_private" : "to_shared",
                      "pages " + std::to_string(first) + ".." + std::to_string(end) +
                          (to_private ? " -> private" : " -> shared")));
  // The mode covers the whole requested range, changed or not, allocated pages only.
  if (mode & kModeZero) {
    for (auto it = folios_.lower_bound(first); it != folios_.end() && it->first < end; ++it) {
      mem_.fill(it->second.pfn << kPageShift, 0, kPageSize);
      ++stat_zeroed_;
    }
  }
  if (notify_bindings) {
    for (const Binding& b : bindings_) {
      uint64_t lo = std::max(first, b.first), hi = std::min(end, b.end);
      if (lo < hi) b.slot->gmem_converted(lo, hi, to_private);
    }
  }
}

int GuestMemfd::set_attributes(uint64_t offset, uint64_t size, uint64_t attributes,
                               uint64_t flags, uint64_t* error_offset) {
  if (flags & ~(kModeZero | kModePreserve)) return EINVAL;
  if ((flags & kModeZero) && (flags & kModePreserve)) return EINVAL;
  const VmTypeTraits t = traits_of(vm_.type);
  if (!t.has_private_mem) return EINVAL;
  // Without MMAP there is no in-place conversion: the file holds only private
  // memory and the VM's attribute array (KVM_SET_MEMORY_ATTRIBUTES) is the
  // only source of truth, so the file has no attribute of its own to set.
  if (!mmap_allowed()) return EINVAL;
  if (attributes & ~kAttrPrivate) return EINVAL;
  if (size == 0 || offset + size < offset) return EINVAL;
  if (!page_aligned(offset) || !page_aligned(size)) return EINVAL;
  if (offset >= size_ || offset + size > size_) return EINVAL;
  const bool to_private = attributes & kAttrPrivate;
  if ((flags & kModeZero) && to_private) return EOPNOTSUPP;
  if ((flags & kModePreserve) && !t.supports_preserve) return EOPNOTSUPP;

  const uint64_t first = offset >> kPageShift, end = (offset + size) >> kPageShift;
  if (int err = convert_guard(first, end, to_private)) return err;
  if (to_private) {
    // Host mappings go first; an extra reference (a pin) then makes the whole call fail.
    if (host_) host_->unmap_range(*this, first, end);
    uint64_t bad = 0;
    if (int err = check_to_private(first, end, &bad)) {
      if (error_offset) *error_offset = bad << kPageShift;
      return err;
    }
  }
  convert(first, end, to_private, flags, /*notify_bindings=*/true, /*host_unmapped=*/to_private);
  return 0;
}

int GuestMemfd::make_private(uint64_t first, uint64_t end, uint64_t* bad_index) {
  if (host_) host_->unmap_range(*this, first, end);
  if (int err = check_to_private(first, end, bad_index)) return err;
  convert(first, end, true, 0, /*notify_bindings=*/true, /*host_unmapped=*/true);
  return 0;
}

GuestMemfd::HostFault GuestMemfd::host_fault(uint64_t index) {
  if (index >= pages()) return {SIGBUS, 0};
  if (is_private(index)) return {SIGBUS, 0};
  Folio* f = get_folio(index);
  if (!f) return {SIGBUS, 0};  // VM_FAULT_OOM seen by a user access
  return {0, f->pfn};
}

GuestMemfd::GuestPfn GuestMemfd::get_pfn(uint64_t index) {
  if (index >= pages()) return {EFAULT, 0};
  Folio* f = get_folio(index);
  if (!f) return {ENOMEM, 0};
  return {0, f->pfn};
}

int GuestMemfd::pin(uint64_t index, uint64_t* pfn) {
  if (index >= pages() || is_private(index)) return EFAULT;
  Folio* f = get_folio(index);
  if (!f) return ENOMEM;
  ++f->pins;
  if (pfn) *pfn = f->pfn;
  return 0;
}

int GuestMemfd::unpin(uint64_t pfn) {
  const FrameUse* u = frames_.use(pfn);
  if (u && u->gmem == this) {
    auto it = folios_.find(u->index);
    if (it != folios_.end() && it->second.pfn == pfn && it->second.pins) {
      --it->second.pins;
      return 0;
    }
  }
  auto it = detached_pins_.find(pfn);
  if (it == detached_pins_.end()) return EINVAL;
  if (--it->second == 0) {
    detached_pins_.erase(it);
    frames_.free(pfn);
  }
  return 0;
}

int GuestMemfd::bind(uint64_t first, uint64_t end, GmemBinding* b) {
  for (const Binding& x : bindings_)
    if (first < x.end && x.first < end) return EINVAL;
  bindings_.push_back({first, end, b});
  return 0;
}

void GuestMemfd::unbind(GmemBinding* b) {
  bindings_.erase(std::remove_if(bindings_.begin(), bindings_.end(),
                                 [&](const Binding& x) { return x.slot == b; }),
                  bindings_.end());
}

void GuestMemfd::release() {
  auto bs = bindings_;
  bindings_.clear();
  for (const Binding& b : bs) {
    b.slot->gmem_invalidate(b.first, b.end);
    b.slot->gmem_released();
  }
}

}  // namespace cocosim
