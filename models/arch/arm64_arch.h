// arm64 with VHE/nVHE stage 2 (the pKVM platform's CPU): VMSAv8-64 stage-2
// tables sized by the IPA size, ESR_EL2/HPFAR_EL2 syndromes, broadcast TLBI
// instructions that reach every CPU without an IPI.
#pragma once
#include "arch/architecture.h"

namespace cocosim {

class Arm64Arch final : public Architecture {
 public:
  // Above this many pages KVM stops invalidating page by page and drops the
  // whole VMID instead (MAX_TLBI_OPS in arch/arm64/include/asm/tlbflush.h).
  static constexpr uint64_t kMaxTlbiOps = 512;
  static constexpr unsigned kPaBits = 48;
  static constexpr uint64_t kEsrEcDabtLow = 0x24, kEsrEcIabtLow = 0x20;

  Arm64Arch(const ArchParams& p, Stats& stats, const std::string& prefix);

  Arch id() const override { return Arch::Arm64Pkvm; }
  unsigned gpa_bits() const override { return ipa_bits_; }
  int gpa_beyond_errno() const override;
  unsigned pa_bits() const override { return kPaBits; }
  void fill_syndrome(Stage2Fault& f, Perm entry) const override;
  std::string describe(const Stage2Fault& f) const override;
  bool has_hpfar() const override { return true; }
  double invalidate_stage2(const std::vector<Stage2TlbControl*>& vcpus, uint64_t first_gfn,
                           uint64_t end_gfn) override;
  bool offers(VmType t) const override;
  void invalidate_vm(Stage2TlbControl& vcpu) override {
    vcpu.tlbi_vmalls12e1is();
    ++tlbi_vmalls12_;
  }

  // ESR_EL2 for a stage-2 data or instruction abort from a lower EL.
  static uint64_t esr(bool write, bool exec, bool permission, int level, unsigned size);
  // HPFAR_EL2: FIPA = IPA[47:12] at bit 4.
  static uint64_t hpfar(Addr ipa) { return (ipa >> 8) & ~uint64_t{0xf}; }

 private:
  unsigned ipa_bits_;
  double tlbi_ns_;
  uint64_t& tlbi_ipa_;
  uint64_t& tlbi_vmalle1_;
  uint64_t& tlbi_vmalls12_;
};

}  // namespace cocosim
