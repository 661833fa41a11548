// Which A64 loads and stores give a data abort a valid instruction syndrome
// (ESR_EL2.ISV), and the ISS the CPU reports (pure). Encodings assembled by
// aarch64-linux-gnu-as.
#include <doctest/doctest.h>

#include "cpu/arm64_load_store.h"

using namespace cocosim;

namespace {
bool isv(uint32_t insn) { return arm64_decode_load_store(insn).isv; }
}  // namespace

TEST_CASE("arm64 load/store: single general-purpose registers without writeback have ISV") {
  const Arm64LoadStore ldr = arm64_decode_load_store(0xf9400020);  // ldr x0, [x1]
  CHECK(ldr.load_store);
  CHECK(ldr.isv);
  CHECK_FALSE(ldr.write);
  CHECK(ldr.size == 8);
  CHECK(ldr.sixty_four);
  CHECK(ldr.rt == 0);
  const Arm64LoadStore ldrw = arm64_decode_load_store(0xb9400862);  // ldr w2, [x3, #8]
  CHECK(ldrw.isv);
  CHECK(ldrw.size == 4);
  CHECK_FALSE(ldrw.sixty_four);
  CHECK(ldrw.rt == 2);
  const Arm64LoadStore str = arm64_decode_load_store(0xf90008a4);  // str x4, [x5, #16]
  CHECK(str.isv);
  CHECK(str.write);
  CHECK(str.rt == 4);
  const Arm64LoadStore strb = arm64_decode_load_store(0x390000e6);  // strb w6, [x7]
  CHECK(strb.isv);
  CHECK(strb.size == 1);
  const Arm64LoadStore ldrsh = arm64_decode_load_store(0x79800128);  // ldrsh x8, [x9]
  CHECK(ldrsh.isv);
  CHECK(ldrsh.size == 2);
  CHECK(ldrsh.sign_extend);
  CHECK(ldrsh.sixty_four);
  CHECK(isv(0xb980056a));  // ldrsw x10, [x11, #4]
  CHECK(isv(0xf86e69ac));  // ldr x12, [x13, x14]        (register offset)
  CHECK(isv(0xb8317a0f));  // str w15, [x16, x17, lsl #2]
  CHECK(isv(0xf85f8272));  // ldur x18, [x19, #-8]       (unscaled)
  CHECK(isv(0x780032b4));  // sturh w20, [x21, #3]
  CHECK(isv(0xf8400af6));  // ldtr x22, [x23]            (unprivileged)
  CHECK(isv(0x58000120));  // ldr x0, <literal>
  CHECK(isv(0x98000101));  // ldrsw x1, <literal>
  // Acquire/release of one register (not exclusive): valid, AR set.
  const Arm64LoadStore ldar = arm64_decode_load_store(0xc8dffc20);  // ldar x0, [x1]
  CHECK(ldar.isv);
  CHECK(ldar.acquire_release);
  CHECK_FALSE(ldar.write);
  const Arm64LoadStore stlr = arm64_decode_load_store(0x889ffc62);  // stlr w2, [x3]
  CHECK(stlr.isv);
  CHECK(stlr.write);
  CHECK(stlr.size == 4);
  CHECK(isv(0xf8bfc020));  // ldapr x0, [x1]
  CHECK(isv(0xf8200420));  // ldraa x0, [x1]
}

TEST_CASE("arm64 load/store: pairs, writeback, SIMD&FP, exclusives and atomics have no ISV") {
  const uint32_t no_syndrome[] = {
      0xf8408c20,  // ldr x0, [x1, #8]!   pre-index
      0xf8408420,  // ldr x0, [x1], #8    post-index
      0xf81f0c62,  // str x2, [x3, #-16]!
      0xa9400440,  // ldp x0, x1, [x2]
      0xa90110a3,  // stp x3, x4, [x5, #16]
      0xa9bf13e3,  // stp x3, x4, [sp, #-16]!
      0xa8c10440,  // ldp x0, x1, [x2], #16
      0xa8400440,  // ldnp x0, x1, [x2]
      0x69400440,  // ldpsw x0, x1, [x2]
      0x3dc00020,  // ldr q0, [x1]        SIMD&FP register
      0xfd400462,  // ldr d2, [x3, #8]
      0xbd0000a4,  // str s4, [x5]
      0x3c401420,  // ldr b0, [x1], #1
      0x9c0000e0,  // ldr q0, <literal>
      0x4c407000,  // ld1 {v0.16b}, [x0]  structures
      0x4c9fa820,  // st1 {v0.4s, v1.4s}, [x1], #32
      0xc85f7c20,  // ldxr x0, [x1]       exclusive
      0xc8027c83,  // stxr w2, x3, [x4]
      0x885ffc20,  // ldaxr w0, [x1]
      0xf8200041,  // ldadd x0, x1, [x2]  atomic
      0xb8208041,  // swp w0, w1, [x2]
      0xc8a07c41,  // cas x0, x1, [x2]
      0xf8201c20,  // ldraa x0, [x1, #8]! writeback
  };
  for (uint32_t insn : no_syndrome) {
    CAPTURE(insn);
    const Arm64LoadStore ls = arm64_decode_load_store(insn);
    CHECK(ls.load_store);
    CHECK_FALSE(ls.isv);
  }
  // Not loads or stores at all.
  CHECK_FALSE(arm64_decode_load_store(0x8b020020).load_store);  // add x0, x1, x2
  CHECK_FALSE(arm64_decode_load_store(0xd4000002).load_store);  // hvc #0
  CHECK_FALSE(isv(0xf9800000));                                 // prfm: never faults
}

TEST_CASE("arm64 load/store: the ISS of a stage-2 data abort, and KVM's sanitized one") {
  using namespace arm64;
  // str x4, [x5, #16] on an IPA without mapping: ISV, SAS 3, SRT 4, SF, WnR, FSC 7.
  const uint64_t str = arm64_data_abort_iss(arm64_decode_load_store(0xf90008a4), true, kFscTranslationL3);
  CHECK(str == (kIssIsv | (3ull << kIssSasShift) | (4ull << kIssSrtShift) | kIssSf | kIssWnr | 0x07));
  // ldrsh x8: SSE and SF, SAS 1, SRT 8, not WnR.
  const uint64_t ldrsh = arm64_data_abort_iss(arm64_decode_load_store(0x79800128), false, kFscTranslationL3);
  CHECK(ldrsh == (kIssIsv | (1ull << kIssSasShift) | (8ull << kIssSrtShift) | kIssSse | kIssSf | 0x07));
  // stp: no instruction syndrome, only WnR and FSC.
  const uint64_t stp = arm64_data_abort_iss(arm64_decode_load_store(0xa90110a3), true, kFscTranslationL3);
  CHECK(stp == (kIssWnr | 0x07));
  CHECK(arm64_nisv_sanitized_iss(stp) == 0x47);
  CHECK(arm64_nisv_sanitized_iss(str) == 0x47);  // the syndrome fields are dropped
  CHECK(arm64_nisv_sanitized_iss(0x07) == 0x07);  // a load
}
