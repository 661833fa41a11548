#include "ownership/ownership.h"

#include "gmem/guest_memfd.h"

namespace cocosim {

namespace {
FrameOwner by_use(const FrameUse& u) {
  switch (u.kind) {
    case FrameKind::Anon:
    case FrameKind::Kernel: return {Owner::Host, -1, true};
    // KVM's own tables: in the host kernel for the VM types KVM maps itself.
    case FrameKind::PageTable: return {Owner::Hypervisor, u.vm, true};
    // A TD's control and Secure EPT pages: the TDX module's alone (PAMT says so too).
    case FrameKind::TdxControl: return {Owner::TdxModule, u.vm, false};
    case FrameKind::Gmem:
      // A shared page is the host's to map (in place); a private one its VM's alone.
      if (u.gmem && !u.detached && u.gmem->is_private(u.index)) return {Owner::Guest, u.gmem->vm().id, false};
      return {Owner::Host, -1, true};
  }
  return {};
}

// Where pKVM gave the page away, its metadata decides (`vm`: the guest EL2 recorded).
FrameOwner with_pkvm(FrameOwner o, const PkvmPage& p, int vm) {
  o.pkvm = p;
  const PkvmPageState host = p.host_state, hyp = p.hyp_state();
  if (hyp == PkvmPageState::Owned || hyp == PkvmPageState::SharedOwned) {
    o.owner = Owner::Hypervisor;
    o.vm = -1;
    o.host_may_map = host != PkvmPageState::NoPage;
  } else if (host == PkvmPageState::NoPage || host == PkvmPageState::SharedBorrowed) {
    // Donated to a guest, or lent by it to the host: the guest EL2 recorded.
    o.owner = Owner::Guest;
    o.vm = vm;
    o.host_may_map = host == PkvmPageState::SharedBorrowed;
  }
  return o;
}
}  // namespace

FrameOwner Ownership::expected(const FrameUse& u) { return with_pkvm(by_use(u), u.own.pkvm, u.own.vm); }

void Ownership::set_pkvm(uint64_t pfn, const FrameOwner& o) {
  const FrameUse* u = frames_.use(pfn);
  if (!u) return;
  FrameUse next = *u;
  next.own.pkvm = o.pkvm;
  next.own.vm = o.vm;
  const FrameOwner want = expected(next);
  // Every DMI pointer goes when the host loses the page, or when it changes
  // owner (a guest's vCPUs may hold pointers to a page donated to it).
  const bool changes_hands = u->own.owner != want.owner || u->own.vm != want.vm;
  if (((u->own.host_may_map && !want.host_may_map) || changes_hands) && revoke_) revoke_(pfn);
  frames_.set_owner(pfn, want);
  // A page a guest has (owned, or lent to the host) stays allocated until EL2
  // gives it back, whatever the host frees meanwhile.
  const PkvmPageState host = o.pkvm.host_state;
  if (host == PkvmPageState::NoPage || host == PkvmPageState::SharedBorrowed) {
    if (want.owner == Owner::Guest) frames_.hold(pfn);
  } else {
    frames_.release(pfn);  // last: the frame may be freed here
  }
}

void Ownership::assigned(uint64_t, FrameUse& u) const { u.own = expected(u); }

void Ownership::converted(uint64_t pfn, bool to_private) {
  const FrameUse* u = frames_.use(pfn);
  if (!u) return;
  if (to_private && revoke_) revoke_(pfn);
  FrameOwner o = u->own;
  if (to_private && u->gmem)
    o.owner = Owner::Guest, o.vm = u->gmem->vm().id, o.host_may_map = false;
  else
    o.owner = Owner::Host, o.vm = -1, o.host_may_map = true;
  frames_.set_owner(pfn, with_pkvm(o, u->own.pkvm, u->own.vm));  // pKVM's metadata stays
}

}  // namespace cocosim
