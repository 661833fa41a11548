#include "cpu/arm64_exception.h"

#include "common/hex.h"

namespace cocosim {

using namespace arm64;

const char* arm64_exception_name(Arm64Exception e) {
  switch (e) {
    case Arm64Exception::Undefined: return "undefined instruction";
    case Arm64Exception::DataAbort: return "data abort";
    case Arm64Exception::InstructionAbort: return "instruction abort";
  }
  return "?";
}

uint64_t arm64_injected_esr(Arm64Exception e, uint64_t pstate, bool il32) {
  uint64_t esr = il32 ? kEsrIl : 0;
  if (e == Arm64Exception::Undefined) return esr | (kEcUnknown << kEsrEcShift);  // inject_undef64
  // inject_abt64: an abort from EL0 (or AArch32) is a lower-EL one, from EL1
  // a current-EL one; a data abort ORs DABT_LOW into the instruction abort's
  // class (0x20 | 0x24 = 0x24, 0x21 | 0x24 = 0x25); always an external abort.
  const bool lower = (pstate & kPsrMode32) || (pstate & kPsrModeMask) == kModeEl0t;
  esr |= (lower ? kEcIabtLow : kEcIabtCur) << kEsrEcShift;
  if (e == Arm64Exception::DataAbort) esr |= kEcDabtLow << kEsrEcShift;
  return esr | kFscExtabt;
}

Arm64ExceptionFrame arm64_take_exception(const Arm64ExceptionEntry& in) {
  Arm64ExceptionFrame f;
  uint64_t offset;
  switch (in.pstate & (kPsrModeMask | kPsrMode32)) {
    case kModeEl1t: offset = kVectorCurSpEl0; break;
    case kModeEl1h: offset = kVectorCurSpElx; break;
    case kModeEl0t: offset = kVectorLowerA64; break;
    default: offset = kVectorLowerA32; break;
  }
  f.elr = in.pc;
  f.spsr = in.pstate;
  f.esr = in.esr;
  f.far = in.far;
  f.write_far = in.far_valid;
  f.pc = in.vbar + offset;  // + except_type_sync (0)
  const uint64_t old = in.pstate;
  uint64_t n = old & (kPsrNzcv | kPsrDit | kPsrPan);
  if (!(in.sctlr & kSctlrSpan)) n |= kPsrPan;  // PAN is set unless SCTLR_EL1.SPAN
  if (in.sctlr & kSctlrDssbs) n |= kPsrSsbs;
  // UAO, SS, IL and BTYPE are zero after any exception to AArch64.
  n |= kPsrD | kPsrA | kPsrI | kPsrF | kModeEl1h;
  f.pstate = n;
  f.sp_switch = (old & (kPsrModeMask | kPsrMode32)) != kModeEl1h;
  return f;
}

std::string arm64_describe(Arm64Exception e, const Arm64ExceptionEntry& in) {
  std::string s = std::string(arm64_exception_name(e)) + " (ESR_EL1 " + hex(in.esr);
  if (in.far_valid) s += ", FAR_EL1 " + hex(in.far);
  return s + ") at PC " + hex(in.pc);
}

}  // namespace cocosim
