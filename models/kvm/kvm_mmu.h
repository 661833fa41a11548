// KVM's stage-2 MMU for one VM (the TDP MMU on x86, the stage-2 code of KVM
// arm64): resolves a guest fault to a frame from guest_memfd or from the
// VMM's memory and has its stage-2 backend install the leaf; zaps ranges
// through the backend, which invalidates the vCPUs' TLBs.
#pragma once
#include <functional>
#include <memory>
#include <vector>

#include "arch/tlb_control.h"
#include "common/stats.h"
#include "host/host_mm.h"
#include "kvm/kvm_run.h"
#include "kvm/stage2_backend.h"
#include "kvm/vm.h"

namespace cocosim {

struct GfnBacking;

class KvmMmu {
 public:
  KvmMmu(Vm& vm, std::unique_ptr<Stage2Backend> backend, HostMm& mm, Stats& stats,
         const std::string& prefix);

  Stage2Backend& stage2() { return *backend_; }

  // Resolve a stage-2 fault on `gpa`. True: a leaf was installed (retry).
  // False: `exit` says why the run must end.
  // `max_level` caps the leaf for a TD's private fault (0: 4 KiB, 1: 2 MiB):
  // the level of the guest's TDG.MEM.PAGE.ACCEPT when that caused the exit.
  bool fault_in(Addr gpa, bool write, bool exec, unsigned size, bool is_private, KvmRunState* exit,
                int max_level = 0);

  // Remove every mapping of GFNs [first, end) and invalidate every vCPU's TLB.
  void zap(uint64_t first, uint64_t end);

  void add_vcpu(Stage2TlbControl* v) { vcpus_.push_back(v); }
  void remove_vcpu(Stage2TlbControl* v);
  // Latency spent on the control path (TLB invalidation), for the caller to charge.
  void set_charge(std::function<void(double ns)> c) { charge_ = std::move(c); }

 private:
  bool resolve(Addr gpa, bool write, bool exec, unsigned size, bool is_private, KvmRunState* exit,
               int max_level);
  bool try_map_private_huge(const Memslot& slot, const GfnBacking& b, uint64_t gfn);
  bool try_map_huge(const Memslot& slot, const Vma& backing, uint64_t gfn, Perm p, Addr alias);
  bool resolve_protected(Addr gpa, bool write, unsigned size, KvmRunState* exit);
  bool mmio_exit(Addr gpa, bool write, unsigned size, KvmRunState* exit);
  void memory_fault_exit(Addr gpa, bool is_private, KvmRunState* exit);

  Vm& vm_;
  HostMm& mm_;
  std::unique_ptr<Stage2Backend> backend_;
  std::vector<Stage2TlbControl*> vcpus_;
  std::function<void(double)> charge_;
  uint64_t& faults_in_;
  uint64_t& zaps_;
  uint64_t& leaves_zapped_;
  uint64_t& memfault_exits_;
  uint64_t& mmio_exits_;
  uint64_t& huge_;
  uint64_t& private_huge_;
  uint64_t& donations_;
};

}  // namespace cocosim
