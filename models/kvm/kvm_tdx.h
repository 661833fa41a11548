// KVM's side of one trust domain (Linux arch/x86/kvm/vmx/tdx.c, struct
// kvm_tdx): the TD's life cycle through SEAMCALLs (KVM_TDX_INIT_VM,
// KVM_TDX_INIT_VCPU, KVM_TDX_INIT_MEM_REGION, KVM_TDX_FINALIZE_VM, teardown)
// and its stage-2 backend. Private GPAs are mapped by the TDX module in the
// TD's Secure EPT (SEPT.ADD for missing tables, PAGE.AUG at run time); GPAs
// with the shared bit in KVM's shared EPT, a Stage2PageTable it writes itself.
// A zap is Linux's sequence: BLOCK, TRACK, kick every vCPU in the TD, REMOVE,
// WBINVD, then a full-line clear of the page.
#pragma once
#include <functional>
#include <map>
#include <optional>
#include <memory>
#include <string>
#include <vector>

#include "arch/architecture.h"
#include "common/stats.h"
#include "host/frame_allocator.h"
#include "kvm/stage2_backend.h"
#include "kvm/stage2_page_table.h"
#include "tdx/tdx_module.h"

namespace cocosim {

class KvmTdx final : public Stage2Backend {
 public:
  // kvm_tdx->state.
  enum class State { Uninitialized, Initialized, Runnable };
  // A vCPU of the TD (struct vcpu_tdx): its TDVPR, TDVPX pages and TLB.
  struct TdVcpu {
    Addr tdvpr = 0;
    std::vector<Addr> tdvpx;
    bool initialized = false;  // KVM_TDX_INIT_VCPU done
    Stage2TlbControl* tlb = nullptr;
  };

  // What KVM asks of the rest of the host: a private HKID (tdx_guest_keyid_alloc)
  // and its release after TDH.MNG.KEY.FREEID, and MOVDIR64B of zeros with
  // KeyID 0 over a reclaimed page (tdx_clear_page: clears TD bits and poison).
  struct Services {
    std::function<std::optional<unsigned>()> alloc_hkid;
    std::function<void(unsigned)> free_hkid;
    std::function<void(Addr, size_t)> clear;
  };

  KvmTdx(Architecture& arch, TdxModule& module, Services services, MemoryPort& hyp,
         FrameAllocator& frames, Stats& stats, int vm_id);
  ~KvmTdx() override;  // teardown: every page reclaimed, control pages last, HKID freed

  // ---- KVM's TDX ioctls: 0 or Linux's errno; `why` says which check ----
  int init_vm(uint64_t attributes, std::string* why);
  // tdx_vcpu_create (KVM_CREATE_VCPU): EIO before KVM_TDX_INIT_VM.
  int create_vcpu(int id, Stage2TlbControl* tlb, std::string* why);
  int init_vcpu(int id, uint64_t initial_rcx, std::string* why);
  // One page of KVM_TDX_INIT_MEM_REGION: SEPT.ADD as needed, PAGE.ADD from
  // `source` (a host PA), 16 x MR.EXTEND with `measure`.
  int add_initial_page(Addr gpa, Addr pfn_pa, Addr source, bool measure, std::string* why);
  int finalize(std::string* why);

  State state() const { return state_; }
  bool has_initialized_vcpu() const;
  Addr tdr() const { return tdr_; }
  unsigned hkid() const { return hkid_; }
  bool dead() const { return dead_; }
  void set_dead() { dead_ = true; }
  // Why KVM marked the VM bugged (KVM_BUG_ON on a failed SEAMCALL), or "".
  const std::string& bug_reason() const { return bug_; }
  Addr shared_bit() const { return Addr{1} << *arch_.shared_bit(); }
  bool is_private_gpa(Addr gpa) const { return (gpa & shared_bit()) == 0; }
  const TdVcpu* vcpu(int id) const;
  TdxModule& module() { return module_; }

  // The vCPU enters the TD if it is not in it (TDH.VP.ENTER); the entry's
  // INVEPT when the TD's epoch moved. Returns the module's status.
  TdxStatus enter(int vcpu_id);
  // The vCPU leaves the TD (an asynchronous exit) if it is in it.
  void leave(int vcpu_id);
  // Frames the TD holds in the module's name (control pages, SEPT pages).
  const std::vector<Addr>& control_pages() const { return control_; }

  // ---- Stage2Backend ----
  const char* name() const override { return "tdx"; }
  const Stage2Format& format() const override { return shared_.format(); }
  Stage2Roots roots() const override;
  bool map(Addr gpa, Addr pa, int depth, Perm p) override;
  bool entry_empty(Addr gpa, int depth) override;
  ZapResult zap(uint64_t first_gfn, uint64_t end_gfn,
                const std::vector<Stage2TlbControl*>& vcpus) override;
  std::optional<Stage2Leaf> lookup(Addr gpa, MemoryPort* via = nullptr) override;
  void for_each_leaf(const std::function<void(const Stage2Leaf&)>& fn,
                     MemoryPort* via = nullptr) override;
  uint64_t leaves() const override { return private_leaves_ + shared_.leaves(); }

  // SEAMCALLs KVM made, and the simulated time they cost (timing.seamcall each).
  uint64_t seamcalls() const { return seamcalls_; }
  void set_seamcall_ns(double ns) { seamcall_ns_ = ns; }
  double take_cost_ns() {
    double c = cost_ns_;
    cost_ns_ = 0;
    return c;
  }

 private:
  SeamcallResult call(const SeamcallResult& r);
  Addr alloc_control_page();
  // SEPT.ADD for every missing table above `level` on the way to `gpa`.
  bool sept_path(Addr gpa, int level, std::string* why);
  void teardown();
  bool track();
  double split_huge(Addr gpa, const std::vector<Stage2TlbControl*>& vcpus);
  void bug(const char* leaf, TdxStatus st);

  Architecture& arch_;
  TdxModule& module_;
  Services svc_;
  MemoryPort& hyp_;
  FrameAllocator& frames_;
  int vm_id_;
  Stage2PageTable shared_;
  State state_ = State::Uninitialized;
  bool dead_ = false;
  std::string bug_;
  Addr tdr_ = 0;
  unsigned hkid_ = 0;
  std::vector<Addr> tdcs_;
  std::vector<Addr> sept_pages_;
  std::vector<Addr> control_;  // every page above, in allocation order
  std::map<int, TdVcpu> vcpus_;
  uint64_t private_leaves_ = 0;
  uint64_t seamcalls_ = 0;
  double seamcall_ns_ = 0, cost_ns_ = 0;
  uint64_t& seamcall_count_;
  uint64_t& removed_;
  uint64_t& demoted_;
};

}  // namespace cocosim
