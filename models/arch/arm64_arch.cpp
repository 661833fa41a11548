#include "arch/arm64_arch.h"

#include <cerrno>
#include <cstdio>
#include <stdexcept>

namespace cocosim {

namespace {
unsigned checked_ipa(unsigned bits) {
  if (bits < 32 || bits > 48)
    throw std::invalid_argument("arm64: the IPA size must be 32..48 bits, not " + std::to_string(bits));
  return bits;
}
}  // namespace

Arm64Arch::Arm64Arch(const ArchParams& p, Stats& stats, const std::string& prefix)
    : Architecture(std::make_unique<Arm64Stage2Format>(checked_ipa(p.ipa_bits))),
      ipa_bits_(p.ipa_bits),
      tlbi_ns_(p.tlbi_ns),
      tlbi_ipa_(stats.counter(prefix + ".tlbi_ipas2e1is", "count",
                              "TLBI IPAS2E1IS instructions (one page, broadcast)")),
      tlbi_vmalle1_(stats.counter(prefix + ".tlbi_vmalle1is", "count",
                                  "TLBI VMALLE1IS instructions (stage-1 of the VMID, broadcast)")),
      tlbi_vmalls12_(stats.counter(prefix + ".tlbi_vmalls12e1is", "count",
                                   "TLBI VMALLS12E1IS instructions (whole VMID, broadcast)")) {}

int Arm64Arch::gpa_beyond_errno() const { return EFAULT; }

bool Arm64Arch::offers(VmType t) const { return t != VmType::Tdx; }

uint64_t Arm64Arch::esr(bool write, bool exec, bool permission, int level, unsigned size) {
  const uint64_t ec = exec ? kEsrEcIabtLow : kEsrEcDabtLow;
  uint64_t e = (ec << 26) | (1ull << 25);  // IL: 32-bit instruction
  e |= (permission ? 0x0c : 0x04) + uint64_t(level);
  if (!exec) {
    // ISV with the access size (SAS = log2 bytes), so the host can emulate MMIO.
    const unsigned sas = size >= 8 ? 3 : size >= 4 ? 2 : size >= 2 ? 1 : 0;
    e |= (1ull << 24) | (uint64_t(sas) << 22);
    if (write) e |= 1ull << 6;  // WnR
  }
  return e;
}

void Arm64Arch::fill_syndrome(Stage2Fault& f, Perm) const {
  f.syndrome = esr(f.write, f.exec, f.kind == Stage2Fault::Kind::Permission, f.level, f.size);
  f.hpfar = hpfar(f.gpa);
}

std::string Arm64Arch::describe(const Stage2Fault& f) const {
  char buf[200];
  std::snprintf(buf, sizeof buf,
                "stage-2 %s fault, level %d, IPA 0x%llx, ESR_EL2 0x%llx, HPFAR_EL2 0x%llx",
                f.kind == Stage2Fault::Kind::Translation ? "translation" : "permission", f.level,
                (unsigned long long)f.gpa, (unsigned long long)f.syndrome,
                (unsigned long long)f.hpfar);
  return buf;
}

double Arm64Arch::invalidate_stage2(const std::vector<Stage2TlbControl*>& vcpus, uint64_t first_gfn,
                                    uint64_t end_gfn) {
  // Broadcast TLBIs: executed once by the hypervisor, they reach every CPU.
  // Page by page, then the stage-1 entries the guest built on top
  // (__kvm_tlb_flush_vmid_ipa); a large range drops the whole VMID instead.
  const uint64_t pages = end_gfn - first_gfn;
  uint64_t ops;
  if (pages > kMaxTlbiOps) {
    for (Stage2TlbControl* v : vcpus) v->tlbi_vmalls12e1is();
    ++tlbi_vmalls12_;
    ops = 1;
  } else {
    for (Stage2TlbControl* v : vcpus) {
      v->tlbi_ipas2e1is(first_gfn, end_gfn);
      v->tlbi_vmalle1is();
    }
    tlbi_ipa_ += pages;
    ++tlbi_vmalle1_;
    ops = pages + 1;
  }
  return tlbi_ns_ * double(ops);
}

}  // namespace cocosim
