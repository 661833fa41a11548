// The stage-2 backend of protected VMs on arm64-pkvm: the tables belong to the
// hypervisor at EL2 (PkvmHyp), KVM never writes them. KVM's fault path asks
// EL2 to take the frame from the host and map it for the guest
// (__pkvm_host_donate_guest: guest OWNED, host NOPAGE); the guest's page state
// lives in the software bits 55-56 of the entries EL2 wrote.
//
// The host cannot unmap a protected guest's memory while the VM lives (pKVM
// refuses relax_perms/wrprotect/unmap on a protected VM), so a zap removes
// nothing: what the guest owns or shares stays until the VM's teardown, when
// the host reclaims each page (__pkvm_host_reclaim_page_guest, zeroed if the
// guest owned it), or until the host frees the frame, which force-reclaims it
// (the guest's entry is POISONED).
#pragma once
#include "kvm/stage2_backend.h"
#include "pkvm/pkvm_hyp.h"

namespace cocosim {

class PkvmStage2 final : public Stage2Backend {
 public:
  PkvmStage2(PkvmHyp& hyp, uint16_t handle) : hyp_(hyp), handle_(handle) {}

  uint16_t handle() const { return handle_; }
  const char* name() const override { return "pkvm"; }
  const Stage2Format& format() const override { return tables().format(); }
  Stage2Roots roots() const override { return {tables().root(), 0}; }
  // KVM installs nothing itself: a protected VM's leaves come from donate().
  bool map(Addr gpa, Addr pa, int depth, Perm p) override { return false; }
  bool entry_empty(Addr gpa, int depth) override { return tables().entry_empty(gpa, depth); }
  int donate(Addr gpa, Addr pa) override;
  ZapResult zap(uint64_t first_gfn, uint64_t end_gfn,
                const std::vector<Stage2TlbControl*>& vcpus) override;
  std::optional<Stage2Leaf> lookup(Addr gpa, MemoryPort* via) override { return tables().lookup(gpa, via); }
  void for_each_leaf(const std::function<void(const Stage2Leaf&)>& fn, MemoryPort* via) override {
    tables().for_each_leaf(fn, via);
  }
  uint64_t leaves() const override { return alive() ? tables().leaves() : 0; }

  // The VM's teardown: __pkvm_start_teardown_vm, every page reclaimed, then
  // __pkvm_finalize_teardown_vm. Returns the pages reclaimed.
  uint64_t teardown();

 private:
  bool alive() const { return hyp_.vm(handle_) != nullptr; }
  Stage2PageTable& tables() const { return *hyp_.vm(handle_)->pgt; }

  PkvmHyp& hyp_;
  uint16_t handle_;
};

}  // namespace cocosim
