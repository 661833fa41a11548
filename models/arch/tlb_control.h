// What a hypervisor can ask of a vCPU's stage-2 TLB: the invalidation
// instructions it would execute. Which ones, in which order and at what cost
// is the architecture object's business (Architecture::invalidate_stage2).
#pragma once
#include <cstdint>

namespace cocosim {

class Stage2TlbControl {
 public:
  virtual ~Stage2TlbControl() = default;
  virtual void invept_single_context() = 0;                               // x86
  virtual void tlbi_ipas2e1is(uint64_t first_gfn, uint64_t end_gfn) = 0;  // arm64, by IPA
  virtual void tlbi_vmalle1is() = 0;    // arm64, stage-1 entries of the VMID
  virtual void tlbi_vmalls12e1is() = 0;  // arm64, every stage-1 and stage-2 entry of the VMID
};

}  // namespace cocosim
