#include "cpu/guest_trap.h"

namespace cocosim {

DecodedTrap decode_x86_trap(const uint8_t* b, size_t n) {
  // No prefixes beyond TDCALL's mandatory 66: a REX or segment prefix before
  // these opcodes makes a different (invalid) instruction.
  if (n >= 4 && b[0] == 0x66 && b[1] == 0x0f && b[2] == 0x01 && b[3] == 0xcc) return {TrapInsn::Tdcall, 4, 0};
  if (n >= 3 && b[0] == 0x0f && b[1] == 0x01 && b[2] == 0xc1) return {TrapInsn::Vmcall, 3, 0};
  return {};
}

DecodedTrap decode_arm64_trap(uint32_t insn) {
  // HVC #imm16: 1101 0100 000 imm16 000 10.
  if ((insn & 0xffe0001fu) == 0xd4000002u) return {TrapInsn::Hvc, 4, uint16_t((insn >> 5) & 0xffff)};
  return {};
}

TdcallOutputs tdcall_outputs(uint64_t leaf) {
  TdcallOutputs o;
  switch (leaf) {
    case 0:  // TDG.VP.VMCALL: R10 the TDVMCALL status, R11 its output (MapGPA: the GPA to retry from)
      o.r10 = o.r11 = true;
      break;
    case 1:  // TDG.VP.INFO
      o.rcx = o.rdx = o.r8 = o.r9 = o.r10 = o.r11 = true;
      break;
    case 3:  // TDG.VP.VEINFO.GET: exit reason, qualification, GLA, GPA, instruction length/info
      o.rcx = o.rdx = o.r8 = o.r9 = o.r10 = true;
      break;
    default:  // TDG.MR.REPORT, TDG.MEM.PAGE.ACCEPT, ...: RAX only
      break;
  }
  return o;
}

HypercallAction decode_kvm_hypercall(const KvmHypercall& hc) {
  HypercallAction a;
  switch (hc.nr) {
    case KvmHypercall::kVapicPollIrq:  // kvm_emulate_hypercall: ret = 0
      a.ret = 0;
      return a;
    case KvmHypercall::kMapGpaRange: {
      const uint64_t gpa = hc.a0, npages = hc.a1;
      // Linux's own checks: page aligned, at least one page, no wrap. A count
      // whose byte size does not fit 64 bits cannot be converted either.
      if ((gpa & 0xfff) || npages == 0 || (gpa >> 12) + npages <= (gpa >> 12) || npages > (~uint64_t{0} >> 12)) {
        a.ret = uint64_t(-KvmHypercall::kEinval);
        return a;
      }
      a.kind = HypercallAction::Convert;
      a.gpa = gpa;
      a.size = npages << 12;
      a.to_private = hc.a2 & KvmHypercall::kMapGpaRangeEncrypted;
      a.attrs = hc.a2;
      return a;
    }
    case KvmHypercall::kKickCpu:
    case KvmHypercall::kSendIpi:
    case KvmHypercall::kSchedYield:
      a.kind = HypercallAction::Refused;
      a.why = "interrupts and vCPU scheduling are not modelled";
      return a;
    default:
      a.ret = uint64_t(-KvmHypercall::kEnosys);
      return a;
  }
}

}  // namespace cocosim
