// KVM VM types and what each offers to guest_memfd and memory attributes.
#pragma once
#include <optional>
#include <string>

namespace cocosim {

enum class Arch { X86Tdx, Arm64Pkvm };
enum class VmType { Default, SwProtected, Tdx, Pkvm };

struct VmTypeTraits {
  bool has_private_mem;     // KVM_SET_MEMORY_ATTRIBUTES(2) accepted at all
  bool allows_init_shared;  // GUEST_MEMFD_FLAG_INIT_SHARED offered
  bool supports_preserve;   // content mode PRESERVE on conversions
};

VmTypeTraits traits_of(VmType t);
bool arch_offers(Arch a, VmType t);
const char* vm_type_name(VmType t);
std::optional<VmType> vm_type_from_name(const std::string& s);
const char* arch_name(Arch a);
std::optional<Arch> arch_from_name(const std::string& s);

}  // namespace cocosim
