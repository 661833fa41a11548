#include "arch/arch_id.h"

namespace cocosim {

const char* vm_type_name(VmType t) {
  switch (t) {
    case VmType::Default: return "default";
    case VmType::SwProtected: return "sw_protected";
    case VmType::Tdx: return "tdx";
    case VmType::Pkvm: return "pkvm";
  }
  return "?";
}

std::optional<VmType> vm_type_from_name(const std::string& s) {
  if (s == "default") return VmType::Default;
  if (s == "sw_protected") return VmType::SwProtected;
  if (s == "tdx") return VmType::Tdx;
  if (s == "pkvm") return VmType::Pkvm;
  return std::nullopt;
}

const char* arch_name(Arch a) { return a == Arch::X86Tdx ? "x86-tdx" : "arm64-pkvm"; }

std::optional<Arch> arch_from_name(const std::string& s) {
  if (s == "x86-tdx") return Arch::X86Tdx;
  if (s == "arm64-pkvm") return Arch::Arm64Pkvm;
  return std::nullopt;
}

}  // namespace cocosim
