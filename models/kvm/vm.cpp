#include "kvm/vm.h"

#include <algorithm>
#include <cerrno>

#include "host/host_mm.h"

namespace cocosim {

Vm::~Vm() {
  while (!slots_.empty()) delete_slot(slots_.begin()->second.get());
}

Memslot* Vm::slot_for_gfn(uint64_t gfn) const {
  auto it = by_gfn_.upper_bound(gfn);
  if (it == by_gfn_.begin()) return nullptr;
  --it;
  return it->second->contains_gfn(gfn) ? it->second : nullptr;
}

bool Vm::is_private(uint64_t gfn) const {
  // In-place conversion (a guest_memfd the host may mmap): the file's page state
  // is the attribute. Otherwise the VM's attribute array decides.
  if (const Memslot* s = slot_for_gfn(gfn); s && s->gmem() && s->gmem()->mmap_allowed())
    return s->gmem()->is_private(s->gmem_index(gfn));
  return attrs_.get(gfn);
}

int Vm::delete_slot(Memslot* s) {
  zap_gfn_range(s->base_gfn(), s->base_gfn() + s->npages());
  by_gfn_.erase(s->base_gfn());
  CC_JOURNAL(vm(id_));
  slots_.erase(s->id());
  return 0;
}

// Order of checks follows kvm_set_memory_region() and kvm_gmem_bind().
int Vm::set_user_memory_region(const MemoryRegion& r, bool v2) {
  uint32_t valid = Memslot::kLogDirtyPages | Memslot::kReadonly;
  if (v2) valid |= Memslot::kGuestMemfd;
  const bool gmem = r.flags & Memslot::kGuestMemfd;
  // Dirty logging of private memory is not supported; nor are read-only private slots.
  if (gmem) valid &= ~(Memslot::kLogDirtyPages | Memslot::kReadonly);
  if (r.flags & ~valid) return EINVAL;
  const int as_id = r.slot >> 16, id = r.slot & 0xffff;
  if (r.slot < 0 || as_id >= 1 || id >= kUserMemSlots) return EINVAL;
  if (!page_aligned(r.memory_size) || !page_aligned(r.guest_phys_addr)) return EINVAL;
  if (r.userspace_pid >= 0 && !page_aligned(r.userspace_addr)) return EINVAL;
  if (gmem && (!page_aligned(r.guest_memfd_offset) ||
               r.guest_memfd_offset + r.memory_size < r.guest_memfd_offset))
    return EINVAL;
  if (r.guest_phys_addr + r.memory_size < r.guest_phys_addr) return EINVAL;
  if ((r.memory_size >> kPageShift) > kMemMaxNrPages) return EINVAL;

  auto it = slots_.find(id);
  Memslot* old = it == slots_.end() ? nullptr : it->second.get();
  if (r.memory_size == 0) {
    if (!old) return EINVAL;
    if (pkvm_refuses_move_or_delete()) return EPERM;  // EL2 still maps the guest's pages
    return delete_slot(old);
  }
  const uint64_t first = r.guest_phys_addr >> kPageShift;
  const uint64_t end = first + (r.memory_size >> kPageShift);
  auto overlaps = [&](const Memslot* except) {
    for (const auto& [sid, s] : slots_)
      if (s.get() != except && first < s->base_gfn() + s->npages() && s->base_gfn() < end)
        return true;
    return false;
  };
  // Beyond the guest-physical space (GPAW / IPA size): the architecture's errno.
  if (end > arch_.max_gfn()) return arch_.gpa_beyond_errno();
  if (old) {
    // guest_memfd slots are immutable: they can only be deleted.
    if (old->had_gmem() || gmem) return EINVAL;
    if (r.memory_size != old->size()) return EINVAL;
    if (r.userspace_pid != old->userspace_pid() || r.userspace_addr != old->userspace_addr())
      return EINVAL;
    if ((r.flags ^ old->flags()) & Memslot::kReadonly) return EINVAL;  // cannot toggle READONLY
    if (r.guest_phys_addr != old->gpa()) {
      if (overlaps(old)) return EEXIST;
      if (pkvm_refuses_move_or_delete()) return EPERM;
    }
    // EL2 keeps no dirty log and has no read-only guest mappings.
    if (pkvm_refuses_flags(r.flags)) return EPERM;
    if (r.guest_phys_addr != old->gpa()) {
      zap_gfn_range(old->base_gfn(), old->base_gfn() + old->npages());
      by_gfn_.erase(old->base_gfn());
      old->move_to(r.guest_phys_addr);
      by_gfn_[old->base_gfn()] = old;
    }
    old->set_flags(r.flags);  // KVM_MR_FLAGS_ONLY: dirty logging on or off
    return 0;
  }
  if (overlaps(nullptr)) return EEXIST;
  if (pkvm_refuses_flags(r.flags)) return EPERM;
  auto s = std::make_unique<Memslot>(*this, id, r.flags, r.guest_phys_addr, r.memory_size);
  if (r.userspace_pid >= 0) s->set_userspace(r.userspace_pid, r.userspace_addr);
  if (gmem) {
    GuestMemfd* f = r.guest_memfd;
    if (!f) return r.guest_memfd_given ? EINVAL : EBADF;
    if (f->vm().id != id_) return EINVAL;
    if (r.guest_memfd_offset + r.memory_size > f->size()) return EINVAL;
    const uint64_t fp = r.guest_memfd_offset >> kPageShift;
    if (int err = f->bind(fp, fp + s->npages(), s.get())) return err;
    s->bind_gmem(f, fp);
    // Without MMAP the VM's attribute array is the truth: a GFN it makes private
    // is served from the file's page, which must then be private too (it may
    // have been made shared while the range was bound elsewhere). A shared GFN
    // is served from userspace_addr, whatever the file's page state.
    if (!f->mmap_allowed()) {
      attrs_.for_each(first, end, [&](uint64_t lo, uint64_t hi, bool priv) {
        const uint64_t flo = s->gmem_index(lo), fhi = s->gmem_index(hi);
        if (priv && !f->range_is(flo, fhi, true)) f->convert(flo, fhi, true, 0, /*notify_bindings=*/false);
      });
    }
  }
  by_gfn_[first] = s.get();
  CC_JOURNAL(vm(id_));
  slots_.emplace(id, std::move(s));
  return 0;
}

void Vm::host_range_invalidated(int pid, Addr lo, Addr hi) {
  for (const auto& entry : slots_) {
    // Not a structured binding: C++17 lambdas (clang) cannot capture one.
    const auto& s = entry.second;
    if (!s->has_userspace() || s->userspace_pid() != pid) continue;
    const Addr slo = s->userspace_addr(), shi = slo + s->size();
    const Addr a = std::max(lo, slo), b = std::min(hi, shi);
    if (a >= b) continue;
    const uint64_t first = s->base_gfn() + ((a - slo) >> kPageShift);
    const uint64_t end = s->base_gfn() + ((b - slo + kPageMask) >> kPageShift);
    // HVA-based notifications are not relevant to private mappings: only the
    // shared GFNs of the range are zapped (KVM_FILTER_SHARED).
    auto zap_shared = [&](uint64_t lo_gfn, uint64_t hi_gfn, bool priv) {
      if (!priv) zap_gfn_range(lo_gfn, hi_gfn);
    };
    if (s->gmem() && s->gmem()->mmap_allowed()) {
      s->gmem()->for_each_state_run(s->gmem_index(first), s->gmem_index(end),
                                    [&](uint64_t l, uint64_t h, bool priv) {
                                      zap_shared(s->gfn_of_index(l), s->gfn_of_index(h), priv);
                                    });
    } else {
      attrs_.for_each(first, end, zap_shared);
    }
  }
}

int Vm::set_memory_attributes(Addr address, uint64_t size, uint64_t attributes,
                              uint64_t flags) {
  // kvm_supported_mem_attributes(): PRIVATE only where the VM has private memory.
  const uint64_t supported = traits_of(type_).has_private_mem ? kAttrPrivate : 0;
  if (flags) return EINVAL;
  if (attributes & ~supported) return EINVAL;
  if (size == 0 || address + size < address) return EINVAL;
  if (!page_aligned(address) || !page_aligned(size)) return EINVAL;
  const uint64_t first = address >> kPageShift, end = (address + size) >> kPageShift;
  const bool to_private = attributes & kAttrPrivate;

  // Pieces of the range that guest_memfd files back: each must be able to convert.
  struct Piece {
    GuestMemfd* f;
    uint64_t lo, hi;  // file pages
  };
  std::vector<Piece> pieces;
  for (const auto& [gfn, s] : by_gfn_) {
    if (!s->gmem()) continue;
    uint64_t lo = std::max(first, s->base_gfn()), hi = std::min(end, s->base_gfn() + s->npages());
    if (lo >= hi) continue;
    pieces.push_back({s->gmem(), s->gmem_index(lo), s->gmem_index(hi)});
  }
  if (attrs_.all_equal(first, end, to_private)) {
    bool files_agree = true;
    for (const Piece& p : pieces) files_agree = files_agree && p.f->range_is(p.lo, p.hi, to_private);
    if (files_agree) return 0;  // nothing changes: no zap, as KVM skips it
  }
  for (const Piece& p : pieces)
    if (int err = p.f->convert_guard(p.lo, p.hi, to_private)) return err;
  if (to_private)
    for (const Piece& p : pieces)
      if (int err = p.f->check_to_private(p.lo, p.hi, nullptr)) return err;

  zap_gfn_range(first, end);
  attrs_.set(first, end, to_private);
  CC_JOURNAL(attributes(id_, first, end));
  for (const Piece& p : pieces) p.f->convert(p.lo, p.hi, to_private, 0, /*notify_bindings=*/false);
  return 0;
}

}  // namespace cocosim
