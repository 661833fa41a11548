// The stage-2 backend of VMs whose tables KVM writes itself (default and
// sw_protected VMs, as KVM's TDP MMU and KVM arm64's stage-2 code do): one
// Stage2PageTable in frames of simulated DRAM, and the architecture's TLB
// invalidation after every unmap.
#pragma once
#include "arch/architecture.h"
#include "kvm/stage2_backend.h"
#include "kvm/stage2_page_table.h"

namespace cocosim {

class DirectStage2 final : public Stage2Backend {
 public:
  DirectStage2(Architecture& arch, MemoryPort& hyp, FrameAllocator& frames, int vm_id)
      : arch_(arch), tables_(arch.stage2_format(), hyp, frames, vm_id) {}

  const char* name() const override { return "kvm"; }
  const Stage2Format& format() const override { return tables_.format(); }
  Stage2Roots roots() const override { return {tables_.root(), 0}; }
  bool map(Addr gpa, Addr pa, int depth, Perm p) override { return tables_.map(gpa, pa, depth, p); }
  bool entry_empty(Addr gpa, int depth) override { return tables_.entry_empty(gpa, depth); }
  ZapResult zap(uint64_t first_gfn, uint64_t end_gfn,
                const std::vector<Stage2TlbControl*>& vcpus) override;
  std::optional<Stage2Leaf> lookup(Addr gpa, MemoryPort* via) override {
    return tables_.lookup(gpa, via);
  }
  void for_each_leaf(const std::function<void(const Stage2Leaf&)>& fn, MemoryPort* via) override {
    tables_.for_each_leaf(fn, via);
  }
  uint64_t leaves() const override { return tables_.leaves(); }
  Stage2PageTable& tables() { return tables_; }

 private:
  Architecture& arch_;
  Stage2PageTable tables_;
};

}  // namespace cocosim
