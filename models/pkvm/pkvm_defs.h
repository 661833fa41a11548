// pKVM's numbers as Linux defines them: component ids, where a guest entry
// keeps its page state, the invalid-entry annotations of the host and guest
// stage-2, kvm_pgtable_prot bits and the SMCCC vendor-hypervisor calls a
// protected guest makes (arch/arm64/kvm/hyp/{include/nvhe,nvhe}/,
// Documentation/virt/kvm/arm/hypercalls.rst).
#pragma once
#include <cstdint>

#include "common/frame_owner.h"

namespace cocosim::pkvm {

// enum pkvm_component_id: the order is the lock order.
enum ComponentId : uint8_t { kIdHost = 0, kIdHyp = 1, kIdGuest = 2 };

// A guest entry's state: PKVM_PAGE_STATE_PROT_MASK = KVM_PGTABLE_PROT_SW0 | SW1.
constexpr unsigned kStateShift = 55;
constexpr uint64_t kStateMask = uint64_t{3} << kStateShift;
constexpr uint64_t mkstate(PkvmPageState s) { return uint64_t(s) << kStateShift; }
constexpr PkvmPageState getstate(uint64_t pte) {
  return PkvmPageState((pte & kStateMask) >> kStateShift);
}

// Invalid entries that carry information: a type in bits 63:60.
constexpr unsigned kInvalidTypeShift = 60;
enum InvalidPteType : uint64_t {
  kPteLocked = 1,          // break-before-make in progress (not modelled: EL2 is one thread here)
  kPteHostDonation = 2,    // host stage-2: the page is owned by the hyp or a guest
  kPteGuestPoisoned = 3,   // guest stage-2: the host force-reclaimed the page
};
constexpr uint64_t invalid_type(uint64_t pte) { return pte >> kInvalidTypeShift; }
// Host donation entry: owner id in bits 3:1, metadata in 59:4; a guest owner's
// metadata is its VM handle [15:0] and the GFN [55:16].
constexpr uint64_t donation_pte(uint8_t owner, uint64_t meta) {
  return (kPteHostDonation << kInvalidTypeShift) | ((meta & ((uint64_t{1} << 56) - 1)) << 4) |
         (uint64_t(owner & 7) << 1);
}
constexpr uint64_t guest_meta(uint16_t handle, uint64_t gfn) { return handle | (gfn << 16); }
constexpr uint8_t donation_owner(uint64_t pte) { return uint8_t((pte >> 1) & 7); }
constexpr uint64_t donation_meta(uint64_t pte) { return (pte >> 4) & ((uint64_t{1} << 56) - 1); }
constexpr uint16_t meta_handle(uint64_t meta) { return uint16_t(meta & 0xffff); }
constexpr uint64_t meta_gfn(uint64_t meta) { return meta >> 16; }
constexpr uint64_t poisoned_pte() { return kPteGuestPoisoned << kInvalidTypeShift; }

// enum kvm_pgtable_prot: the bits a share may ask for.
constexpr uint64_t kProtX = 1u << 0, kProtW = 1u << 1, kProtR = 1u << 2;
constexpr uint64_t kProtRWX = kProtX | kProtW | kProtR;

// VM handles start here; a VM's VMID is its table index + 1 (pkvm.c).
constexpr uint16_t kFirstHandle = 0x1000;

// SMCCC vendor-hypervisor services (owner 6) a protected guest calls.
constexpr uint64_t kHvcFeatures = 0x86000000;    // ARM_SMCCC_KVM_FUNC_FEATURES (0), fast SMC32
constexpr uint64_t kHvcHypMeminfo = 0xC6000002;  // ARM_SMCCC_KVM_FUNC_HYP_MEMINFO (2), SMC64
constexpr uint64_t kHvcMemShare = 0xC6000003;    // ARM_SMCCC_KVM_FUNC_MEM_SHARE (3)
constexpr uint64_t kHvcMemUnshare = 0xC6000004;  // ARM_SMCCC_KVM_FUNC_MEM_UNSHARE (4)
constexpr unsigned kFuncFeatures = 0, kFuncHypMeminfo = 2, kFuncMemShare = 3, kFuncMemUnshare = 4;
constexpr uint64_t kSmcccSuccess = 0;
constexpr uint64_t kSmcccNotSupported = uint64_t(-1);
constexpr uint64_t kSmcccInvalidParameter = uint64_t(-3);

// ESR_EL2 / HPFAR_EL2 pieces EL2 uses when it builds or forwards a syndrome.
constexpr uint64_t kEsrEcShift = 26;
constexpr uint64_t kEcIabtLow = 0x20, kEcIabtCur = 0x21, kEcDabtLow = 0x24, kEcDabtCur = 0x25;
constexpr uint64_t kEsrWnR = 1u << 6, kEsrS1ptw = 1u << 7;
constexpr uint64_t kHpfarNs = uint64_t{1} << 63;

}  // namespace cocosim::pkvm
