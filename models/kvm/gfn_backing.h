// Which frame backs a guest frame number: KVM's own answer (kvm_faultin_pfn:
// guest_memfd for private GFNs and for in-place files, hva_to_pfn through the
// VMM's mapping otherwise), worked out in one place for KVM's fault path
// (which allocates), and for inspect and the invariant checker (which only
// look and never allocate).
#pragma once
#include <cstdint>
#include <optional>

#include "host/host_mm.h"
#include "kvm/vm.h"

namespace cocosim {

struct GfnBacking {
  enum class Source {
    NoSlot,        // no memslot: an MMIO GPA (or private memory deleted under the guest)
    GuestMemfd,    // the slot's guest_memfd page
    HostMapping,   // what the VMM maps at the slot's userspace address
    None,          // the slot cannot back this access (mismatch, hole, SIGBUS, no mapping)
  };
  Source source = Source::None;
  Memslot* slot = nullptr;
  std::optional<uint64_t> pfn;  // the frame, when one exists (or was allocated)
  GuestMemfd* gmem = nullptr;   // Source::GuestMemfd: the file and page
  uint64_t index = 0;
  Vma* vma = nullptr;           // Source::HostMapping: the VMM's mapping
  bool out_of_memory = false;   // allocation was asked and no frame was left
};

// What backs `gfn` of `vm` for an access that is private or shared. With
// `allocate`, a page not there yet is allocated (a guest fault); without, the
// answer is what exists now and nothing changes (an observer).
GfnBacking gfn_backing(const Vm& vm, HostMm& mm, uint64_t gfn, bool is_private, bool allocate);

}  // namespace cocosim
