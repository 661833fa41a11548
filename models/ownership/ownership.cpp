#include "ownership/ownership.h"

#include "gmem/guest_memfd.h"

namespace cocosim {

FrameOwner Ownership::expected(const FrameUse& u) {
  switch (u.kind) {
    case FrameKind::Anon:
    case FrameKind::Kernel: return {Owner::Host, -1, true};
    // KVM's own tables: in the host kernel for the VM types KVM maps itself.
    case FrameKind::PageTable: return {Owner::Hypervisor, u.vm, true};
    // A TD's control and Secure EPT pages: the TDX module's alone (PAMT says so too).
    case FrameKind::TdxControl: return {Owner::TdxModule, u.vm, false};
    case FrameKind::Gmem:
      // A shared page is the host's to map (in place); a private one its VM's alone.
      if (u.gmem && u.gmem->is_private(u.index)) return {Owner::Guest, u.gmem->vm().id, false};
      return {Owner::Host, -1, true};
  }
  return {};
}

void Ownership::assigned(uint64_t, FrameUse& u) const { u.own = expected(u); }

void Ownership::converted(uint64_t pfn, bool to_private) {
  const FrameUse* u = frames_.use(pfn);
  if (!u) return;
  if (to_private && revoke_) revoke_(pfn);
  FrameOwner o = u->own;  // pKVM's metadata stays
  if (to_private && u->gmem)
    o.owner = Owner::Guest, o.vm = u->gmem->vm().id, o.host_may_map = false;
  else
    o.owner = Owner::Host, o.vm = -1, o.host_may_map = true;
  frames_.set_owner(pfn, o);
}

}  // namespace cocosim
