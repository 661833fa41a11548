#include "kvm/gfn_backing.h"

#include <cerrno>

#include "gmem/guest_memfd.h"

namespace cocosim {

namespace {

void from_gmem(GfnBacking& b, GuestMemfd* f, uint64_t index, bool allocate) {
  b.source = GfnBacking::Source::GuestMemfd;
  b.gmem = f;
  b.index = index;
  if (!allocate) {
    b.pfn = f->pfn(index);
    return;
  }
  GuestMemfd::GuestPfn r = f->get_pfn(index);
  if (r.err == ENOMEM) b.out_of_memory = true;
  if (r.err) {
    b.source = GfnBacking::Source::None;
    return;
  }
  b.pfn = r.pfn;
}

}  // namespace

GfnBacking gfn_backing(const Vm& vm, HostMm& mm, uint64_t gfn, bool is_private, bool allocate) {
  GfnBacking b;
  b.slot = vm.slot_for_gfn(gfn);
  if (!b.slot) {
    b.source = GfnBacking::Source::NoSlot;
    return b;
  }
  Memslot& slot = *b.slot;
  GuestMemfd* f = slot.gmem();
  if (is_private) {
    // Private memory comes from guest_memfd only.
    if (f) from_gmem(b, f, slot.gmem_index(gfn), allocate);
    return b;
  }
  if (f && f->mmap_allowed()) {
    // An in-place file backs shared pages too, but only while they are shared.
    const uint64_t index = slot.gmem_index(gfn);
    if (f->is_private(index)) return b;
    from_gmem(b, f, index, allocate);
    return b;
  }
  if (!slot.has_userspace()) return b;
  // Whatever the VMM maps at the slot's address now (hva_to_pfn).
  const Addr hva = slot.hva_of(gfn);
  Vma* at = mm.find_vma(slot.userspace_pid(), hva);
  if (!at) return b;
  const uint64_t page = (hva - at->start) >> kPageShift;
  b.vma = at;
  if (at->kind == VmaKind::Anon) {
    if (allocate) {
      b.pfn = mm.anon_fault(*at, page);
      b.out_of_memory = !b.pfn;
    } else {
      auto it = at->anon->pages.find(page);
      if (it != at->anon->pages.end()) b.pfn = it->second;
    }
    if (b.pfn || !allocate) b.source = GfnBacking::Source::HostMapping;
    return b;
  }
  // A mapping of a guest_memfd: the host's view of it, SIGBUS for private pages.
  const uint64_t index = at->pgoff + page;
  if (allocate) {
    GuestMemfd::HostFault hf = at->gmem->host_fault(index);
    if (hf.signal) return b;
    b.pfn = hf.pfn;
  } else {
    if (at->gmem->is_private(index)) return b;
    b.pfn = at->gmem->pfn(index);
  }
  b.source = GfnBacking::Source::HostMapping;
  return b;
}

}  // namespace cocosim
