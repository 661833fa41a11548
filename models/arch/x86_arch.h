// x86 with VMX/EPT (the TDX platform's CPU): 4- or 5-level EPT chosen by the
// guest physical address width, EPT-violation exit qualifications, INVEPT on
// each CPU after an IPI, MKTME KeyID bits at the top of the physical address.
#pragma once
#include "arch/architecture.h"

namespace cocosim {

class X86Arch final : public Architecture {
 public:
  // Physical address bits below the KeyIDs, and the KeyID bits above them
  // (MAXPHYADDR 52 on the parts TDX runs on; the split is a BIOS choice).
  static constexpr unsigned kPaBits = 46, kKeyIdBits = 6;

  X86Arch(const ArchParams& p, Stats& stats, const std::string& prefix);

  Arch id() const override { return Arch::X86Tdx; }
  unsigned gpa_bits() const override { return gpaw_; }
  int gpa_beyond_errno() const override;
  // TDX: GPA bit 47 with GPAW 48, bit 51 with GPAW 52.
  std::optional<unsigned> shared_bit() const override { return gpaw_ - 1; }
  unsigned pa_bits() const override { return kPaBits; }
  unsigned keyid_bits() const override { return kKeyIdBits; }
  void fill_syndrome(Stage2Fault& f, Perm entry) const override;
  std::string describe(const Stage2Fault& f) const override;
  double invalidate_stage2(const std::vector<Stage2TlbControl*>& vcpus, uint64_t first_gfn,
                           uint64_t end_gfn) override;
  bool offers(VmType t) const override;
  void invalidate_vm(Stage2TlbControl& vcpu) override {
    vcpu.invept_single_context();
    ++invept_;
  }

  // EPT-violation exit qualification: the access in bits 2:0, what the entry allowed in 5:3.
  static uint64_t ept_qualification(bool write, bool exec, Perm entry);

 private:
  unsigned gpaw_;
  double ipi_ns_, invept_ns_;
  uint64_t& invept_;
  uint64_t& flushes_;
};

}  // namespace cocosim
