// The shared kvm_run structure: why KVM_RUN returned, with the exit's payload.
#pragma once
#include <array>
#include <cstdint>
#include <string>

namespace cocosim {

enum class ExitReason {
  None,
  MemoryFault,    // KVM_EXIT_MEMORY_FAULT (39)
  Hypercall,      // KVM_EXIT_HYPERCALL (3)
  Mmio,           // KVM_EXIT_MMIO (6)
  InternalError,  // KVM_EXIT_INTERNAL_ERROR (17)
  Shutdown,       // KVM_EXIT_SHUTDOWN (8): the guest triple-faulted
  UcallSync,      // KVM_EXIT_IO carrying a selftest ucall
  UcallDone,
  UcallAbort,
  ArmNisv,        // KVM_EXIT_ARM_NISV (28): a data abort on MMIO without instruction syndrome
};

const char* exit_name(ExitReason r);

struct KvmRunState {
  static constexpr uint64_t kMemoryExitFlagPrivate = 1ull << 3;  // KVM_MEMORY_EXIT_FLAG_PRIVATE
  static constexpr uint64_t kHcMapGpaRange = 12;                 // KVM_HC_MAP_GPA_RANGE
  static constexpr uint64_t kMapGpaRangeEncrypted = 1ull << 4;   // KVM_MAP_GPA_RANGE_ENCRYPTED

  ExitReason reason = ExitReason::None;
  int err = 0;  // KVM_RUN's errno: EFAULT with a memory fault exit
  uint64_t gpa = 0, size = 0, flags = 0;
  uint64_t nr = 0;
  std::array<uint64_t, 6> args{};
  bool is_write = false;
  // The stage-2 fault behind a memory-fault or MMIO exit, as the hardware
  // reported it to KVM: EPT-violation qualification (x86) or ESR_EL2 (arm64),
  // and HPFAR_EL2 on arm64.
  bool has_syndrome = false;
  uint64_t syndrome = 0, hpfar = 0;
  // KVM_EXIT_MMIO's data (kvm_run.mmio.data[8]): what a write stores, little-endian.
  std::array<uint8_t, 8> data{};
  // KVM_EXIT_ARM_NISV (kvm_run.arm_nisv): ESR_EL2's ISS with only CM, WnR
  // and FSC kept, and the faulting IPA (with FAR_EL2's low 12 bits).
  uint64_t esr_iss = 0, fault_ipa = 0;
  std::string tag, message;
};

}  // namespace cocosim
