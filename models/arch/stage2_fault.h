// A stage-2 translation fault as the CPU reports it to the hypervisor. The
// architecture object fills in the syndrome: the EPT-violation exit
// qualification on x86, ESR_EL2 and HPFAR_EL2 on arm64.
#pragma once
#include <cstdint>

#include "common/types.h"

namespace cocosim {

struct Stage2Fault {
  enum class Kind { Translation, Permission };
  Kind kind = Kind::Translation;
  int level = 0;  // the architecture's level number where the walk stopped
  Addr gpa = 0;
  bool write = false;
  bool exec = false;
  unsigned size = 0;  // access size in bytes
  // x86: EPT-violation exit qualification. arm64: ESR_EL2.
  uint64_t syndrome = 0;
  uint64_t hpfar = 0;  // arm64 HPFAR_EL2
  // The access's bytes, for an access KVM emulates as MMIO: what a write
  // stores, where a read's value goes once the VMM supplied it. nullptr: a
  // translation to map the page, not an access (an MMIO GPA gets no mapping:
  // its accesses exit one by one, with their data).
  uint8_t* data = nullptr;
};

}  // namespace cocosim
