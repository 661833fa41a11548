// What the syndrome of a data abort says about the A64 load or store that
// took it: ESR_ELx.ISV is 1 (the instruction syndrome, ISS[24:14], is valid)
// only for a load or store of a single general-purpose register without
// writeback, and not for an exclusive one (Arm ARM, ESR_EL2.ISS encoding for
// a data abort, "ISV"). Everything else -- load/store pair, pre- and
// post-index writeback, SIMD&FP registers, SIMD structures, exclusives,
// atomics -- gives ISV 0, and KVM cannot emulate it as MMIO (Linux arch/
// arm64/kvm/mmio.c, io_mem_abort). Pure: decodes the instruction word only.
#pragma once
#include <cstdint>

namespace cocosim {

namespace arm64 {
// ESR_ELx ISS fields of a data abort (arch/arm64/include/asm/esr.h).
constexpr uint64_t kIssIsv = 1ull << 24, kIssSse = 1ull << 21, kIssSf = 1ull << 15, kIssAr = 1ull << 14;
constexpr unsigned kIssSasShift = 22, kIssSrtShift = 16;
constexpr uint64_t kIssCm = 1ull << 8, kIssWnr = 1ull << 6, kIssFscMask = 0x3f;
// A stage-2 translation fault at level 3 (FSC 0b000111): the IPA has no mapping.
constexpr uint64_t kFscTranslationL3 = 0x07;
}  // namespace arm64

struct Arm64LoadStore {
  bool load_store = false;  // an A64 load or store instruction at all
  bool isv = false;         // a data abort on it has a valid instruction syndrome
  // With isv only (what KVM's decode_hsr reads from the syndrome):
  bool write = false;
  unsigned size = 0;        // bytes (1, 2, 4, 8)
  bool sign_extend = false; // SSE
  bool sixty_four = false;  // SF: the register is an X register
  bool acquire_release = false;
  unsigned rt = 0;          // SRT (31: XZR/WZR)
};

Arm64LoadStore arm64_decode_load_store(uint32_t insn);

// ESR_EL2's ISS for a stage-2 data abort on `ls` (FSC `fsc`, WnR for `write`):
// with ISV, the instruction syndrome as the CPU fills it.
uint64_t arm64_data_abort_iss(const Arm64LoadStore& ls, bool write, uint64_t fsc);

// What KVM_EXIT_ARM_NISV hands userspace of it: kvm_vcpu_dabt_iss_nisv_sanitized
// (CM, WnR and FSC only).
inline uint64_t arm64_nisv_sanitized_iss(uint64_t iss) {
  return iss & (arm64::kIssCm | arm64::kIssWnr | arm64::kIssFscMask);
}

}  // namespace cocosim
