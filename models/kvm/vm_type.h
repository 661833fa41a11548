// KVM VM types and what each offers to guest_memfd and memory attributes.
#pragma once
#include "arch/arch_id.h"

namespace cocosim {

struct VmTypeTraits {
  bool has_private_mem;     // KVM_SET_MEMORY_ATTRIBUTES(2) accepted at all
  bool allows_init_shared;  // GUEST_MEMFD_FLAG_INIT_SHARED offered
  bool supports_preserve;   // content mode PRESERVE on conversions
};

VmTypeTraits traits_of(VmType t);

}  // namespace cocosim
