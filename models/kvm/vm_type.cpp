#include "kvm/vm_type.h"

namespace cocosim {

VmTypeTraits traits_of(VmType t) {
  switch (t) {
    case VmType::Default: return {false, true, false};
    case VmType::SwProtected: return {true, true, true};
    // TDX private memory is encrypted with the TD's key: a shared view of a page
    // cannot start out populated, and no conversion can keep its plaintext.
    case VmType::Tdx: return {true, false, false};
    // pKVM populates a protected guest through host mappings before it runs.
    case VmType::Pkvm: return {true, true, true};
  }
  return {false, false, false};
}

}  // namespace cocosim
