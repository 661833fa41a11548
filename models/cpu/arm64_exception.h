// AArch64 synchronous exceptions taken to EL1, as the architecture takes
// them and as KVM injects them into a guest (Linux arch/arm64/kvm/
// inject_fault.c builds the syndrome, hyp/exception.c's enter_exception64()
// the frame): ESR_EL1, FAR_EL1, ELR_EL1 = the faulting PC, SPSR_EL1 = the
// old PSTATE, the new PSTATE (D, A, I, F masked, mode EL1h) and the vector.
// Pure functions, unit-tested without Unicorn or SystemC.
#pragma once
#include <cstdint>
#include <string>

namespace cocosim {

namespace arm64 {
// ESR_ELx fields (arch/arm64/include/asm/esr.h).
constexpr unsigned kEsrEcShift = 26;
constexpr uint64_t kEsrIl = 1ull << 25;
constexpr uint64_t kEcUnknown = 0x00, kEcIabtLow = 0x20, kEcIabtCur = 0x21, kEcDabtLow = 0x24,
                   kEcDabtCur = 0x25;
constexpr uint64_t kFscExtabt = 0x10;  // synchronous external abort
// PSTATE (arch/arm64/include/uapi/asm/ptrace.h).
constexpr uint64_t kPsrModeMask = 0xf, kPsrMode32 = 0x10;
constexpr uint64_t kModeEl0t = 0x0, kModeEl1t = 0x4, kModeEl1h = 0x5;
constexpr uint64_t kPsrF = 1u << 6, kPsrI = 1u << 7, kPsrA = 1u << 8, kPsrD = 1u << 9;
constexpr uint64_t kPsrNzcv = 0xfull << 28, kPsrDit = 1ull << 24, kPsrPan = 1ull << 22;
constexpr uint64_t kPsrSsbs = 1ull << 12;
// SCTLR_EL1 bits enter_exception64 reads.
constexpr uint64_t kSctlrSpan = 1ull << 23, kSctlrDssbs = 1ull << 44;
// Vector offsets from VBAR_EL1 (asm/kvm_emulate.h) and the synchronous slot.
constexpr uint64_t kVectorCurSpEl0 = 0x000, kVectorCurSpElx = 0x200, kVectorLowerA64 = 0x400,
                   kVectorLowerA32 = 0x600;
}  // namespace arm64

// The exceptions KVM (or the CPU itself) delivers to a guest here.
enum class Arm64Exception {
  Undefined,        // an instruction the CPU does not implement (EC 0x00); kvm_inject_undefined
  DataAbort,        // kvm_inject_dabt: an access KVM cannot complete
  InstructionAbort, // kvm_inject_pabt: a fetch from an IPA without memslot
};
const char* arm64_exception_name(Arm64Exception e);

// ESR_EL1 as Linux builds it (inject_undef64 / inject_abt64) for a guest in
// PSTATE `pstate`; `il32`: the trapped instruction was 32 bits (always on
// AArch64).
uint64_t arm64_injected_esr(Arm64Exception e, uint64_t pstate, bool il32 = true);

// The guest state before the exception.
struct Arm64ExceptionEntry {
  uint64_t pc = 0;      // the faulting instruction
  uint64_t pstate = 0;  // as Unicorn reports it (NZCV, DAIF, mode, ...)
  uint64_t vbar = 0;    // VBAR_EL1
  uint64_t sctlr = 0;   // SCTLR_EL1
  uint64_t esr = 0;
  uint64_t far = 0;
  bool far_valid = false;  // aborts set FAR_EL1; other exceptions leave it
};

// What the exception writes.
struct Arm64ExceptionFrame {
  uint64_t elr = 0, spsr = 0, esr = 0, far = 0;
  bool write_far = false;
  uint64_t pstate = 0;  // the new PSTATE
  uint64_t pc = 0;      // VBAR_EL1 + the vector offset (synchronous: + 0)
  bool sp_switch = false;  // the old mode used SP_EL0: SP becomes SP_EL1
};
// enter_exception64(vcpu, PSR_MODE_EL1h, except_type_sync). Only AArch64
// guests: the caller refuses AArch32 state.
Arm64ExceptionFrame arm64_take_exception(const Arm64ExceptionEntry& in);

// SMC #imm16 (KVM traps it with HCR_EL2.TSC; Unicorn reports it undefined).
inline bool arm64_is_smc(uint32_t insn) { return (insn & 0xffe0001fu) == 0xd4000003u; }

// "data abort (ESR_EL1 0x96000010, FAR_EL1 0x20000000) at PC 0x100040".
std::string arm64_describe(Arm64Exception e, const Arm64ExceptionEntry& in);

}  // namespace cocosim
