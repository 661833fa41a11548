// Who owns a physical frame and whether the host may map it: the per-frame
// record of the ownership model (models/ownership), kept in the frame's
// struct-page record, with pKVM's per-page host/hyp metadata (hyp_vmemmap's
// struct hyp_page). PAMT (TDX) will extend it.
#pragma once
#include <cstdint>

namespace cocosim {

enum class Owner : uint8_t {
  None,        // free, or reserved
  Host,        // the host kernel or a host process (anonymous memory, shared guest memory)
  Guest,       // a VM's private memory
  Hypervisor,  // KVM's (or EL2's) own: stage-2 tables, metadata
  TdxModule,   // the TDX module's control structures
};

const char* owner_kind_name(Owner o);

// pKVM's page states (enum pkvm_page_state in nvhe/memory.h): a component's
// view of a page. POISON is never stored: a guest entry reads as POISON when
// the host force-reclaimed the page.
enum class PkvmPageState : uint8_t {
  Owned = 0,           // owned and exclusively accessible
  SharedOwned = 1,     // owned, and another component may access it
  SharedBorrowed = 2,  // accessible, owned by another component
  NoPage = 3,          // not accessible
  Poison = 4,
};

const char* pkvm_state_name(PkvmPageState s);

// pKVM's metadata of one page (struct hyp_page), zeroed for a page nobody
// touched: the host owns it, the hypervisor has nothing.
struct PkvmPage {
  PkvmPageState host_state = PkvmPageState::Owned;  // __host_state
  uint8_t hyp_state_comp = 0;        // __hyp_state_comp: the hyp state ^ 0b11, so zero is NOPAGE
  uint16_t refcount = 0;             // hyp_pin_shared_mem pins
  uint32_t host_share_guest_count = 0;  // shares with non-protected guests
  PkvmPageState hyp_state() const { return PkvmPageState(hyp_state_comp ^ 3); }
  void set_hyp_state(PkvmPageState s) { hyp_state_comp = uint8_t(s) ^ 3; }
  bool operator==(const PkvmPage& o) const {
    return host_state == o.host_state && hyp_state_comp == o.hyp_state_comp &&
           refcount == o.refcount && host_share_guest_count == o.host_share_guest_count;
  }
  bool operator!=(const PkvmPage& o) const { return !(*this == o); }
};

struct FrameOwner {
  Owner owner = Owner::None;
  int vm = -1;                // the VM, for Owner::Guest
  bool host_may_map = false;  // a host PTE or DMI pointer may reach it
  PkvmPage pkvm;              // kept by pKVM at EL2 (models/pkvm) on arm64-pkvm
};

}  // namespace cocosim
