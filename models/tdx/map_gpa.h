// TDG.VP.VMCALL<MapGPA> (R11 = 0x10001, R12 = GPA, R13 = size) as KVM serves
// it (Linux arch/x86/kvm/vmx/tdx.c tdx_map_gpa and its completion): the TDX
// module only carries the call out of the TD; KVM checks it and hands it to
// userspace as KVM_EXIT_HYPERCALL (KVM_HC_MAP_GPA_RANGE) at most 2 MiB at a
// time, and when an interrupt is pending between pieces, returns RETRY to the
// guest with R11 = the next GPA so that the guest calls again from there.
#pragma once
#include <cstdint>
#include <optional>

#include "common/types.h"

namespace cocosim {

class MapGpa {
 public:
  static constexpr uint64_t kSubFunction = 0x10001;
  static constexpr uint64_t kMaxPerExit = uint64_t{2} << 20;  // TDX_MAP_GPA_MAX_LEN
  static constexpr uint64_t kHcMapGpaRange = 12;              // KVM_HC_MAP_GPA_RANGE
  static constexpr uint64_t kEncrypted = 1ull << 4;           // KVM_MAP_GPA_RANGE_ENCRYPTED
  static constexpr uint64_t kDecrypted = 0;                   // KVM_MAP_GPA_RANGE_DECRYPTED

  // One KVM_EXIT_HYPERCALL for userspace.
  struct Exit {
    uint64_t gpa = 0;     // args[0]: without the shared bit
    uint64_t npages = 0;  // args[1]
    uint64_t attrs = 0;   // args[2]: kEncrypted (to private) or kDecrypted (to shared)
  };
  // What goes back to the guest when the call ends: R10 (status) and R11.
  struct Done {
    uint64_t status = 0;
    uint64_t r11 = 0;
  };
  struct Step {
    std::optional<Exit> exit;  // userspace must convert this piece, then complete()
    std::optional<Done> done;  // the TDVMCALL returns to the guest
  };

  // `gpaw`: the TD's guest physical address width (its shared bit is gpaw - 1).
  // `exit_on_hypercall`: userspace enabled KVM_CAP_EXIT_HYPERCALL for KVM_HC_MAP_GPA_RANGE.
  MapGpa(unsigned gpaw, bool exit_on_hypercall) : gpaw_(gpaw), exit_enabled_(exit_on_hypercall) {}

  // The guest's call. Checks in KVM's order: the exit enabled, the range legal
  // and on one side of the shared bit, then alignment.
  Step start(uint64_t gpa, uint64_t size);
  // Userspace answered the exit (`ret` = hypercall.ret); `interrupt_pending`:
  // kvm_vcpu_has_events() after this piece.
  Step complete(uint64_t ret, bool interrupt_pending);

 private:
  bool legal(uint64_t gpa) const { return (gpa >> gpaw_) == 0; }
  bool is_private(uint64_t gpa) const { return (gpa & shared_bit()) == 0; }
  uint64_t shared_bit() const { return uint64_t{1} << (gpaw_ - 1); }
  Step piece();

  unsigned gpaw_;
  bool exit_enabled_;
  uint64_t next_ = 0, end_ = 0;
  bool active_ = false;
};

}  // namespace cocosim
