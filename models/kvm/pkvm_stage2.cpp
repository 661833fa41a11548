#include "kvm/pkvm_stage2.h"

#include <cerrno>
#include <vector>

#include "common/errno_names.h"
#include "common/trace.h"

namespace cocosim {

int PkvmStage2::donate(Addr gpa, Addr pa) {
  // The host took this page back by force: the guest's entry is POISONED
  // (__pkvm_vcpu_in_poison_fault), and KVM does not map it again.
  if (hyp_.guest_state(handle_, gpa >> kPageShift) == PkvmPageState::Poison) return -EHWPOISON;
  const int ret = hyp_.host_donate_guest(pa >> kPageShift, gpa >> kPageShift, handle_);
  COCOSIM_PROBE(value(trace::Cat::Pkvm, "platform.pkvm", "ret", uint32_t(ret), 32,
                      ret ? ("-" + errno_name(-ret)).c_str() : "0"));
  return ret;
}

Stage2Backend::ZapResult PkvmStage2::zap(uint64_t, uint64_t, const std::vector<Stage2TlbControl*>&) {
  return {};  // EL2 keeps a protected guest's mappings (see the header)
}

uint64_t PkvmStage2::teardown() {
  if (hyp_.start_teardown_vm(handle_)) return 0;
  std::vector<uint64_t> gfns;
  tables().for_each_leaf([&](const Stage2Leaf& l) {
    for (uint64_t g = l.gpa >> kPageShift; g < (l.gpa + l.size) >> kPageShift; ++g) gfns.push_back(g);
  });
  uint64_t n = 0;
  for (uint64_t g : gfns) {
    const int ret = hyp_.host_reclaim_page_guest(g, handle_);
    COCOSIM_PROBE(value(trace::Cat::Pkvm, "platform.pkvm", "ret", uint32_t(ret), 32,
                        ret ? ("-" + errno_name(-ret)).c_str() : "0"));
    if (ret == 0) ++n;
  }
  hyp_.finalize_teardown_vm(handle_);
  return n;
}

}  // namespace cocosim
