// The two platforms and the VM types KVM can create on them (KVM_CREATE_VM's
// type argument), by name.
#pragma once
#include <optional>
#include <string>

namespace cocosim {

enum class Arch { X86Tdx, Arm64Pkvm };
enum class VmType { Default, SwProtected, Tdx, Pkvm };

const char* vm_type_name(VmType t);
std::optional<VmType> vm_type_from_name(const std::string& s);
const char* arch_name(Arch a);
std::optional<Arch> arch_from_name(const std::string& s);

}  // namespace cocosim
