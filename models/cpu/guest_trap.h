// The instructions by which real guest code calls its hypervisor, decoded
// from their bytes (Unicorn 2.0.1 has no VMX, TDX or EL2: it reports them as
// invalid instructions), and the register conventions of each call. Pure
// functions, unit-tested without Unicorn or SystemC.
#pragma once
#include <cstddef>
#include <cstdint>

namespace cocosim {

enum class TrapInsn {
  None,
  Tdcall,  // x86 TDCALL (66 0F 01 CC): the TDX module
  Vmcall,  // x86 VMCALL (0F 01 C1): KVM's hypercalls
  Hvc,     // AArch64 HVC #imm16: the hypervisor at EL2 (SMCCC)
};

struct DecodedTrap {
  TrapInsn kind = TrapInsn::None;
  unsigned length = 0;  // bytes; the guest resumes after them
  uint16_t imm = 0;     // HVC's immediate
};

// The bytes at RIP (`n` of them readable, at most 15 looked at).
DecodedTrap decode_x86_trap(const uint8_t* bytes, size_t n);
// The instruction word at PC.
DecodedTrap decode_arm64_trap(uint32_t insn);

// Which general registers a TDCALL leaf writes besides RAX (its status), as
// the TDX module's ABI lists each leaf's outputs; the others keep their value.
struct TdcallOutputs {
  bool rcx = false, rdx = false, r8 = false, r9 = false, r10 = false, r11 = false;
};
TdcallOutputs tdcall_outputs(uint64_t leaf);
// TDG.MR.REPORT writes TDREPORT_STRUCT (1024 bytes) at RCX: REPORTMACSTRUCT
// (256), TEE_TCB_INFO (239), reserved (17), then TDINFO_STRUCT, whose
// ATTRIBUTES (8) and XFAM (8) precede MRTD (48).
constexpr uint64_t kTdreportMrtdOffset = 512 + 16;

// A VMCALL as KVM's kvm_emulate_hypercall() sees it: RAX the number, RBX,
// RCX, RDX, RSI the arguments a0..a3; the result goes to RAX.
struct KvmHypercall {
  static constexpr uint64_t kVapicPollIrq = 1, kKickCpu = 5, kSendIpi = 10, kSchedYield = 11,
                            kMapGpaRange = 12;               // include/uapi/linux/kvm_para.h
  static constexpr uint64_t kMapGpaRangeEncrypted = 1u << 4;  // KVM_MAP_GPA_RANGE_ENCRYPTED
  static constexpr int64_t kEnosys = 1000, kEinval = 22;     // KVM_ENOSYS, KVM_EINVAL
  uint64_t nr = 0, a0 = 0, a1 = 0, a2 = 0, a3 = 0;
};

// What the executor does with a VMCALL.
struct HypercallAction {
  enum Kind {
    Return,     // RAX = ret, at once
    Convert,    // KVM_HC_MAP_GPA_RANGE: GuestEnv::convert(gpa, size, to_private, attrs)
    Refused,    // a hypercall KVM serves that this model does not (`why`)
  } kind = Return;
  uint64_t ret = 0;
  uint64_t gpa = 0, size = 0;
  bool to_private = false;
  uint64_t attrs = 0;  // RDX as the guest passed it
  const char* why = "";
};
HypercallAction decode_kvm_hypercall(const KvmHypercall& hc);

// SMCCC's return registers after an HVC that KVM or pKVM answered: x0 the
// result, x1..x3 zero (smccc_set_retval(vcpu, val, 0, 0, 0)); an HVC with
// an immediate other than 0 is refused with NOT_SUPPORTED (handle_hvc).
constexpr uint64_t kSmcccNotSupported = ~uint64_t{0};

}  // namespace cocosim
