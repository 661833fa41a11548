#include "cpu/arm64_load_store.h"

namespace cocosim {

namespace {
uint32_t bits(uint32_t insn, unsigned hi, unsigned lo) { return (insn >> lo) & ((1u << (hi - lo + 1)) - 1); }

// A single general-purpose register load or store with size bits[31:30] and
// opc bits[23:22] (the "load/store register" classes): its syndrome.
Arm64LoadStore single_register(uint32_t insn) {
  Arm64LoadStore r;
  r.load_store = true;
  const unsigned size = bits(insn, 31, 30), opc = bits(insn, 23, 22);
  if (size == 3 && opc >= 2) return r;  // PRFM (no access that faults) or unallocated
  if (size == 2 && opc == 3) return r;  // unallocated
  r.isv = true;
  r.write = opc == 0;
  r.size = 1u << size;
  r.sign_extend = opc >= 2;
  r.sixty_four = size == 3 || opc == 2;  // LDRS* to an X register
  r.rt = bits(insn, 4, 0);
  return r;
}
}  // namespace

Arm64LoadStore arm64_decode_load_store(uint32_t insn) {
  Arm64LoadStore r;
  // Loads and stores: op0 bit 27 = 1, bit 25 = 0 (Arm ARM C4.1, top-level encoding).
  if (!(insn & (1u << 27)) || (insn & (1u << 25))) return r;
  r.load_store = true;
  const bool simd = insn & (1u << 26);  // V: a SIMD&FP register (never ISV)
  // SIMD load/store multiple/single structures (LD1..LD4, ST1..ST4).
  if ((insn & 0xbe000000u) == 0x0c000000u) return r;
  // Load/store exclusive, ordered, compare-and-swap: size 001000 o2 L o1 ...
  if ((insn & 0x3f000000u) == 0x08000000u) {
    const bool o2 = insn & (1u << 23), o1 = insn & (1u << 21);
    if (!o2 || o1) return r;  // exclusives (LDXR/STXR/LDXP/STXP), CAS, CASP
    // LDAR/STLR/LDLAR/STLLR: one register, acquire/release.
    r.isv = true;
    r.write = !(insn & (1u << 22));
    r.size = 1u << bits(insn, 31, 30);
    r.sixty_four = bits(insn, 31, 30) == 3;
    r.acquire_release = true;
    r.rt = bits(insn, 4, 0);
    return r;
  }
  // LDAPR/STLUR family (RCpc, unscaled immediate, no writeback).
  if ((insn & 0x3f200c00u) == 0x19000000u) {
    Arm64LoadStore s = single_register(insn);
    s.acquire_release = true;
    return s;
  }
  // Load register (literal): opc 011 V 00.
  if ((insn & 0x3b000000u) == 0x18000000u) {
    if (simd) return r;
    const unsigned opc = bits(insn, 31, 30);
    if (opc == 3) return r;  // PRFM (literal)
    r.isv = true;
    r.size = opc == 1 ? 8 : 4;
    r.sign_extend = opc == 2;  // LDRSW
    r.sixty_four = opc != 0;
    r.rt = bits(insn, 4, 0);
    return r;
  }
  // Load/store pair, every addressing mode (LDP, STP, LDNP, LDPSW, ...).
  if ((insn & 0x3a000000u) == 0x28000000u) return r;
  // Load/store register: size 111 V 0x opc ...
  if ((insn & 0x3a000000u) == 0x38000000u) {
    if (simd) return r;
    if (insn & (1u << 24)) return single_register(insn);  // unsigned immediate offset
    if (!(insn & (1u << 21))) {
      // imm9 forms by bits[11:10]: 00 unscaled (LDUR), 01 post-index,
      // 10 unprivileged (LDTR), 11 pre-index.
      const unsigned idx = bits(insn, 11, 10);
      if (idx == 1 || idx == 3) return r;  // writeback
      return single_register(insn);
    }
    switch (bits(insn, 11, 10)) {
      case 2: return single_register(insn);  // register offset
      case 0:
        // Atomic memory operations (LDADD, SWP, ...): no syndrome; but LDAPR
        // (A 1, R 0, Rs 11111, o3 1, opc 100) is one register, acquire.
        if ((insn & 0x3ffffc00u) != 0x38bfc000u) return r;
        r.isv = true;
        r.size = 1u << bits(insn, 31, 30);
        r.sixty_four = bits(insn, 31, 30) == 3;
        r.acquire_release = true;
        r.rt = bits(insn, 4, 0);
        return r;
      default:                               // LDRAA/LDRAB (pointer authentication), W = bit 11
        if (insn & (1u << 11)) return r;
        r.isv = true;
        r.size = 8;
        r.sixty_four = true;
        r.rt = bits(insn, 4, 0);
        return r;
    }
  }
  return r;  // other loads and stores (memory tags, LS64, ...): no syndrome
}

uint64_t arm64_data_abort_iss(const Arm64LoadStore& ls, bool write, uint64_t fsc) {
  using namespace arm64;
  uint64_t iss = (fsc & kIssFscMask) | (write ? kIssWnr : 0);
  if (!ls.isv) return iss;
  unsigned sas = 0;
  while ((1u << sas) < ls.size && sas < 3) ++sas;
  iss |= kIssIsv | (uint64_t(sas) << kIssSasShift) | (uint64_t(ls.rt & 31) << kIssSrtShift);
  if (ls.sign_extend) iss |= kIssSse;
  if (ls.sixty_four) iss |= kIssSf;
  if (ls.acquire_release) iss |= kIssAr;
  return iss;
}

}  // namespace cocosim
