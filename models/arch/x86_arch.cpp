#include "arch/x86_arch.h"

#include <cerrno>
#include <cstdio>
#include <stdexcept>

namespace cocosim {

namespace {
int ept_levels(unsigned gpaw) {
  if (gpaw != 48 && gpaw != 52)
    throw std::invalid_argument("x86: GPAW must be 48 or 52, not " + std::to_string(gpaw));
  return gpaw == 52 ? 5 : 4;
}
}  // namespace

X86Arch::X86Arch(const ArchParams& p, Stats& stats, const std::string& prefix)
    : Architecture(std::make_unique<EptFormat>(ept_levels(p.gpaw))),
      gpaw_(p.gpaw),
      ipi_ns_(p.ipi_ns),
      invept_ns_(p.invept_ns),
      invept_(stats.counter(prefix + ".invept", "count",
                            "INVEPT single-context instructions executed, one per vCPU per flush")),
      flushes_(stats.counter(prefix + ".remote_tlb_flushes", "count",
                             "remote TLB flushes (kvm_flush_remote_tlbs: IPI, then INVEPT on each vCPU)")) {}

int X86Arch::gpa_beyond_errno() const { return EINVAL; }

bool X86Arch::offers(VmType t) const { return t != VmType::Pkvm; }

uint64_t X86Arch::ept_qualification(bool write, bool exec, Perm entry) {
  uint64_t q = exec ? 4 : (write ? 2 : 1);
  if (entry.r) q |= 1ull << 3;
  if (entry.w) q |= 1ull << 4;
  if (entry.x) q |= 1ull << 5;
  return q;
}

void X86Arch::fill_syndrome(Stage2Fault& f, Perm entry) const {
  f.syndrome = ept_qualification(f.write, f.exec, entry);
  f.hpfar = 0;
}

std::string X86Arch::describe(const Stage2Fault& f) const {
  char buf[160];
  std::snprintf(buf, sizeof buf, "EPT violation (%s), level %d, GPA 0x%llx, qualification 0x%llx",
                f.kind == Stage2Fault::Kind::Translation ? "translation" : "permission", f.level,
                (unsigned long long)f.gpa, (unsigned long long)f.syndrome);
  return buf;
}

double X86Arch::invalidate_stage2(const std::vector<Stage2TlbControl*>& vcpus, uint64_t, uint64_t) {
  // EPT has no invalidation by GPA: every vCPU of the VM drops the whole
  // context, each on its own CPU, after KVM's request reaches it.
  if (vcpus.empty()) return 0;
  ++flushes_;
  for (Stage2TlbControl* v : vcpus) {
    v->invept_single_context();
    ++invept_;
  }
  return ipi_ns_ + invept_ns_ * double(vcpus.size());
}

}  // namespace cocosim
