// pKVM at EL2 (arch/arm64/kvm/hyp/nvhe/mem_protect.c, pkvm.c) as plain C++:
// page ownership between the host, the hypervisor and guests, every
// transition with its pre-states and Linux errno, the host's stage-2, the
// guests' stage-2 tables with the page state in software bits 55-56, the
// protected guest's vendor hypercalls, and reclaim of a dying VM's pages.
//
// Where each state lives, as in pKVM: host and hyp states, the pin count and
// the host-share-guest count in each frame's record of the ownership model
// (FrameOwner::pkvm, the hyp_vmemmap); a guest's state in its stage-2
// entries; a page donated away as an annotated invalid entry in the host's
// stage-2. Nothing is wired into the platform yet (docs/pkvm.md).
#pragma once
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "arch/arm64_arch.h"
#include "arch/stage2_fault.h"
#include "common/memory_port.h"
#include "common/stats.h"
#include "host/frame_allocator.h"
#include "kvm/stage2_page_table.h"
#include "ownership/ownership.h"
#include "pkvm/host_stage2.h"
#include "pkvm/pkvm_defs.h"

namespace cocosim {

// What EL2 does on a WARN_ON or BUG_ON in pKVM: hyp_panic. A model bug or a
// host call Linux would crash on (unpinning a page nobody pinned).
struct HypPanic : std::logic_error {
  using std::logic_error::logic_error;
};

// A VM as EL2 knows it (struct pkvm_hyp_vm).
struct PkvmVm {
  uint16_t handle = 0;
  unsigned vmid = 0;
  bool is_protected = false;
  bool is_dying = false;  // __pkvm_start_teardown_vm ran: no vCPU can be loaded
  int owner_id = -1;      // the host's name for it in the ownership records (KVM's VM id); -1: the handle
  std::unique_ptr<Stage2PageTable> pgt;
  std::vector<Stage2TlbControl*> vcpus;
};

// A guest's HVC64: x0 the function ID, x1-x3 the arguments.
struct HvcCall {
  uint64_t x0 = 0, x1 = 0, x2 = 0, x3 = 0;
};

// What EL2 makes of it: the values in x0-x3 when the guest resumes, or an
// exit to the host (with the fake data abort MEM_SHARE raises for a page not
// faulted in yet; the HVC runs again once the host has mapped it).
struct HvcResult {
  uint64_t x0 = 0, x1 = 0, x2 = 0, x3 = 0;
  bool to_host = false;
  bool retry = false;  // ELR_EL2 rewound onto the HVC
  uint64_t esr = 0, far = 0, hpfar = 0;
};

class PkvmHyp {
 public:
  // `pool` holds EL2's memory (the stage-2 tables) at `hyp_memory`; `memory`
  // is the host's DRAM (memblock). Counters go under `prefix`.
  PkvmHyp(Arm64Arch& arch, MemoryPort& mem, Ownership& own, FrameAllocator& pool,
          const MemRange& hyp_memory, std::vector<MemblockRegion> memory, Stats& stats,
          const std::string& prefix);
  ~PkvmHyp();

  // The host kernel's part of a guest unshare: remove its own mappings and DMI
  // pointers of a frame before the page goes back to the guest. Its errno
  // (e.g. -EAGAIN for a page it cannot drop yet) refuses the unshare.
  void set_host_unmap_hook(std::function<int(uint64_t pfn)> h) { host_unmap_ = std::move(h); }

  // ---- VMs (__pkvm_init_vm, __pkvm_start/finalize_teardown_vm) ----
  // A VM's handle, or nullopt when no frame is left for its stage-2 root.
  std::optional<uint16_t> create_vm(bool is_protected, std::vector<Stage2TlbControl*> vcpus,
                                    int owner_id = -1);
  PkvmVm* vm(uint16_t handle);
  int start_teardown_vm(uint16_t handle);
  // Drops the VM's stage-2 (VMALLS12E1IS). -EBUSY while it still maps a page:
  // the host reclaims every page first.
  int finalize_teardown_vm(uint16_t handle);

  // ---- transitions (mem_protect.c), each returning 0 or -errno ----
  int host_share_hyp(uint64_t pfn);
  int host_unshare_hyp(uint64_t pfn);
  int host_donate_hyp(uint64_t pfn, uint64_t nr_pages);
  int hyp_donate_host(uint64_t pfn, uint64_t nr_pages);
  int host_share_ffa(uint64_t pfn, uint64_t nr_pages);
  int host_unshare_ffa(uint64_t pfn, uint64_t nr_pages);
  // Pins [from, to) (physical addresses here, hyp VAs in Linux).
  int hyp_pin_shared_mem(Addr from, Addr to);
  void hyp_unpin_shared_mem(Addr from, Addr to);  // HypPanic on a page not pinned
  // Non-protected guests; `prot` is a kvm_pgtable_prot mask (pkvm::kProt*).
  int host_share_guest(uint64_t pfn, uint64_t gfn, uint64_t nr_pages, uint16_t handle, uint64_t prot);
  int host_unshare_guest(uint64_t gfn, uint64_t nr_pages, uint16_t handle);
  // Protected guests.
  int host_donate_guest(uint64_t pfn, uint64_t gfn, uint16_t handle);
  int guest_share_host(uint16_t handle, uint64_t gfn);
  // As the in-place sharing series designs it (upstream EL2 does not handle
  // MEM_UNSHARE): the host unmaps first, then the page returns to the guest.
  int guest_unshare_host(uint16_t handle, uint64_t gfn);
  // A dying VM's page back to the host: zeroed if the guest owned it;
  // 0 for a page already force-reclaimed (POISON).
  int host_reclaim_page_guest(uint64_t gfn, uint16_t handle);
  // The host takes a guest's page back by force: zeroed, the guest's entry POISONED.
  int host_force_reclaim_page_guest(Addr phys);
  // 1 when a guest's stage-2 fault hit a POISONED entry, 0 if not, -EINVAL
  // for a fault that is not a lower-EL translation fault.
  int vcpu_in_poison_fault(uint16_t handle, const Stage2Fault& f);

  // ---- a protected guest's HVC64 (kvm_handle_pvm_hvc64) ----
  HvcResult guest_hvc(uint16_t handle, const HvcCall& call);

  // ---- the host's stage-2 ----
  HostStage2& host_stage2() { return host_s2_; }
  HostAccess host_access(Addr pa, bool write, bool exec, unsigned size, bool from_el0, uint64_t far) {
    return host_s2_.access(pa, write, exec, size, from_el0, far);
  }

  // ---- state, for observers (reads of tables go through `via` when given) ----
  PkvmPage page(uint64_t pfn) const;
  PkvmPageState host_state(uint64_t pfn) const { return page(pfn).host_state; }
  PkvmPageState hyp_state(uint64_t pfn) const { return page(pfn).hyp_state(); }
  // NOPAGE for an unknown VM or a GFN beyond its tables.
  PkvmPageState guest_state(uint16_t handle, uint64_t gfn, MemoryPort* via = nullptr);
  const std::map<uint16_t, std::unique_ptr<PkvmVm>>& vms() const { return vms_; }
  double tlb_ns() const { return tlb_ns_; }  // simulated time of the TLB maintenance so far

 private:
  int check_memory(Addr start, Addr end) const;  // check_range_allowed_memory
  bool pfn_range_is_valid(uint64_t pfn, uint64_t nr_pages) const;
  bool gfn_in_range(const PkvmVm& vm, uint64_t gfn) const;
  int host_check(Addr phys, uint64_t size, PkvmPageState want) const;
  int hyp_check(Addr phys, uint64_t size, PkvmPageState want) const;
  int guest_check(PkvmVm& vm, Addr ipa, uint64_t size, PkvmPageState want);
  int get_valid_guest_pte(PkvmVm& vm, Addr ipa, Stage2PageTable::RawEntry& e, Addr& phys);
  int transition_size(Addr phys, Addr ipa, uint64_t nr_pages, uint64_t& size) const;
  // Write a frame's metadata and the owner it implies (`guest`: the VM that
  // owns or lends it, when no other component owns it).
  void store(uint64_t pfn, const PkvmPage& p, int guest = -1);
  void set_host_state(Addr phys, uint64_t size, PkvmPageState s, int guest = -1);
  void set_hyp_state(Addr phys, uint64_t size, PkvmPageState s);
  // host_stage2_set_owner_locked: annotate (or give back) and record NOPAGE / OWNED.
  void host_set_owner(Addr phys, uint64_t size, uint8_t owner, uint64_t meta, int guest = -1);
  // Map or replace a guest leaf; a valid leaf replaced is invalidated (break-before-make).
  void guest_map(PkvmVm& vm, Addr ipa, Addr phys, uint64_t size, Perm p, PkvmPageState s);
  void guest_unmap(PkvmVm& vm, Addr ipa, uint64_t size);
  void invalidate(PkvmVm& vm, uint64_t gfn, uint64_t pages);
  PkvmVm* vcpu_vm(uint16_t handle, bool want_protected);  // the VM of a loaded vCPU
  void poison_page(Addr phys);

  Arm64Arch& arch_;
  MemoryPort& mem_;
  Ownership& own_;
  FrameAllocator& pool_;
  HostStage2 host_s2_;
  std::map<uint16_t, std::unique_ptr<PkvmVm>> vms_;
  std::function<int(uint64_t)> host_unmap_;
  double tlb_ns_ = 0;
  uint64_t& hvcs_;
  uint64_t& zeroed_;
};

}  // namespace cocosim
