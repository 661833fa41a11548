// The ownership model: who owns each physical frame and who may map it, one
// record per frame (FrameOwner, kept in the frame allocator's struct-page
// record), current at every moment because the hooks of the frame allocator
// (a frame's first owner follows what it is allocated for) and of guest_memfd
// (a conversion hands a page between the host and its VM) keep it so. The DMI
// policy, KVM, inspect and the invariant checker read it; pKVM at EL2 keeps
// its per-page host/hyp metadata here (FrameOwner::pkvm); TDX's PAMT will be
// kept here too.
#pragma once
#include <cstdint>
#include <functional>

#include "common/frame_owner.h"
#include "host/frame_allocator.h"

namespace cocosim {

class Ownership {
 public:
  explicit Ownership(FrameAllocator& frames) : frames_(frames) {}

  // Hooks, wired by the platform.
  // A frame was allocated (or retagged) for `u`: its first owner.
  void assigned(uint64_t pfn, FrameUse& u) const;
  // A guest_memfd page converts. A frame that leaves the host loses every
  // host mapping and DMI pointer (the revoke hook) before its record changes.
  void converted(uint64_t pfn, bool to_private);
  void set_revoke_hook(std::function<void(uint64_t pfn)> h) { revoke_ = std::move(h); }

  // Queries.
  FrameOwner of(uint64_t pfn) const {
    const FrameUse* u = frames_.use(pfn);
    return u ? u->own : FrameOwner{};
  }
  // Only its owner may touch the frame: no DMI pointer, no host mapping reaches it.
  bool exclusive(uint64_t pfn) const {
    const FrameOwner o = of(pfn);
    return (o.owner == Owner::Guest && !o.host_may_map) || o.owner == Owner::TdxModule ||
           (o.owner == Owner::Hypervisor && !o.host_may_map);
  }
  // pKVM's metadata of a frame the host has allocated; nullptr for a free
  // frame (it has no record: it reads as host OWNED, nothing shared).
  const PkvmPage* pkvm(uint64_t pfn) const {
    const FrameUse* u = frames_.use(pfn);
    return u ? &u->own.pkvm : nullptr;
  }
  // EL2's write of a frame's record: its pKVM metadata and the owner it
  // implies. A frame the host may no longer map loses every DMI pointer first.
  void set_pkvm(uint64_t pfn, const FrameOwner& o);
  // A VM's private frame (owner Guest, the host may not map it). A page a
  // pKVM guest shares with the host stays the guest's, but is not private.
  bool guest_private(uint64_t pfn) const {
    const FrameOwner o = of(pfn);
    return o.owner == Owner::Guest && !o.host_may_map;
  }

  // What the record should say for a frame in use `u` now (the invariant
  // checker compares it with the record the hooks kept). Where pKVM has given
  // the page away (host NOPAGE or SHARED_BORROWED, or the hypervisor owns
  // it), its metadata decides; otherwise the frame's use does.
  static FrameOwner expected(const FrameUse& u);

 private:
  FrameAllocator& frames_;
  std::function<void(uint64_t)> revoke_;
};

}  // namespace cocosim
