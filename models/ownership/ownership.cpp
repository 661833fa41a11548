#include "ownership/ownership.h"

#include "gmem/guest_memfd.h"

namespace cocosim {

FrameOwner Ownership::expected(const FrameUse& u) {
  switch (u.kind) {
    case FrameKind::Anon:
    case FrameKind::Kernel: return {Owner::Host, -1, true};
    // KVM's own tables: in the host kernel for the VM types KVM maps itself.
    case FrameKind::PageTable: return {Owner::Hypervisor, u.vm, true};
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
  if (to_private && u->gmem)
    frames_.set_owner(pfn, {Owner::Guest, u->gmem->vm().id, false});
  else
    frames_.set_owner(pfn, {Owner::Host, -1, true});
}

}  // namespace cocosim
