// Who owns a physical frame and whether the host may map it: the per-frame
// record of the ownership model (models/ownership), kept in the frame's
// struct-page record. PAMT (TDX) and pKVM's page states will extend it.
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

struct FrameOwner {
  Owner owner = Owner::None;
  int vm = -1;                // the VM, for Owner::Guest
  bool host_may_map = false;  // a host PTE or DMI pointer may reach it
};

}  // namespace cocosim
