#include "arch/architecture.h"

#include "arch/arm64_arch.h"
#include "arch/x86_arch.h"

namespace cocosim {

std::vector<VmType> Architecture::vm_types() const {
  std::vector<VmType> out;
  for (VmType t : {VmType::Default, VmType::SwProtected, VmType::Tdx, VmType::Pkvm})
    if (offers(t)) out.push_back(t);
  return out;
}

std::unique_ptr<Architecture> make_architecture(Arch a, const ArchParams& p, Stats& stats,
                                                const std::string& prefix) {
  if (a == Arch::Arm64Pkvm) return std::make_unique<Arm64Arch>(p, stats, prefix);
  return std::make_unique<X86Arch>(p, stats, prefix);
}

}  // namespace cocosim
