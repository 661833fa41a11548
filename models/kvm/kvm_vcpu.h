// KVM's side of one vCPU: the run state userspace reads after KVM_RUN, and the
// handling of what the guest asks of the hypervisor (faults, the conversion
// hypercall, ucalls). Faults are resolved through the VM's KvmMmu.
#pragma once
#include <functional>
#include <map>
#include <optional>
#include <string>

#include "common/stats.h"

#include "cpu/vcpu.h"
#include "kvm/kvm_mmu.h"
#include "kvm/kvm_run.h"
#include "kvm/kvm_tdx.h"
#include "kvm/vm.h"
#include "tdx/map_gpa.h"

namespace cocosim {
class PkvmHyp;
}

namespace cocosim {

// Exits of one vCPU by reason: those KVM handled itself and re-entered the
// guest, and those KVM_RUN returned to the VMM (named as kvm_run.exit_reason).
struct VcpuExitCounts {
  std::map<std::string, uint64_t> in_kernel;
  std::map<std::string, uint64_t> to_vmm;
};

class KvmVcpu : public VcpuHypervisor {
 public:
  static constexpr uint64_t kKvmEnosys = 1000;  // KVM_ENOSYS returned to the guest
  static constexpr uint64_t kKvmEinval = 22;    // KVM_EINVAL

  KvmVcpu(Vm& vm, KvmMmu& mmu, int id, Stats& stats) : vm_(vm), mmu_(mmu), id_(id), stats_(stats) {}

  int id() const { return id_; }
  // Where its waveforms and trace lines go: platform.kvm.vmV.vcpuI.
  std::string trace_scope() const;
  Vm& vm() { return vm_; }
  const KvmRunState& run_state() const { return run_; }
  const VcpuExitCounts& exit_counts() const { return exits_; }
  // Told of every exit as it happens (`to_vmm`: KVM_RUN returns with it;
  // else KVM handled it and re-entered): for -v, which only looks.
  void set_exit_observer(std::function<void(const char* why, bool to_vmm)> o) { exit_observer_ = std::move(o); }
  // Complete what the previous exit left pending, then clear kvm_run for the entry.
  // `mmio_data`: what the VMM put in kvm_run.mmio.data for a pending MMIO
  // read (little-endian; 0 when it gave nothing).
  void prepare_entry(std::optional<uint64_t> hypercall_ret, std::optional<uint64_t> mmio_data = {});
  bool finished() const { return done_ || aborted_; }

  // Where the memory work of fault handling is measured (the host kernel's and
  // the hypervisor's ports), so the vCPU is charged for it.
  void set_cost_probe(std::function<double()> p) { cost_probe_ = std::move(p); }
  double take_cost_ns() override {
    const double ns = pending_ns_ + (cost_probe_ ? cost_probe_() : 0);
    pending_ns_ = 0;
    return ns;
  }

  Resolution stage2_fault(const Stage2Fault& f, bool shared) override;
  Resolution convert(Addr gpa, uint64_t size, bool to_private, uint64_t attrs, uint64_t* ret) override;
  Resolution hvc(uint64_t fn, uint64_t x1, uint64_t* ret) override;
  Resolution mmio_nisv(Addr gpa, bool write, uint64_t iss) override;
  void ucall(Ucall kind, const std::string& text) override;
  void internal_error(const std::string& why) override;
  void shutdown(const std::string& why) override;
  Resolution tdcall(const TdcallRegs& in, TdcallOut* out) override;
  const char* injected_fault() const override { return injected_; }
  Resolution machine_check() override;

  // KVM_RUN's entry into the guest: a TD's vCPU goes through TDH.VP.ENTER
  // (its TLB flushed when the TD's epoch moved). False: the run ends at once
  // (kvm_run says why).
  bool enter_guest() { return !td_ || td_enter(); }
  // A vCPU of a TD: its faults and TDCALLs go through the TDX module.
  void set_td(KvmTdx* td) { td_ = td; }

  // A protected VM's vCPU: its HVCs go to pKVM at EL2 (VM `handle`), each
  // charged `hvc_ns`; `page_shared(gfn, shared)` follows a page the guest
  // shared or took back in guest_memfd's state (in place).
  void set_pkvm(PkvmHyp* hyp, uint16_t handle, double hvc_ns,
                std::function<void(uint64_t gfn, bool shared)> page_shared) {
    pkvm_ = hyp;
    pkvm_handle_ = handle;
    hvc_ns_ = hvc_ns;
    page_shared_ = std::move(page_shared);
  }

 private:
  Vm& vm_;
  KvmMmu& mmu_;
  int id_;
  KvmRunState run_;
  bool hypercall_pending_ = false, hypercall_done_ = false;
  uint64_t hypercall_ret_ = 0;
  bool mmio_pending_ = false, mmio_done_ = false;
  Addr mmio_gpa_ = 0;
  uint64_t mmio_read_value_ = 0;  // the VMM's answer to the pending MMIO read
  // A GPA KVM would emulate as MMIO for this access (no memslot, or a write
  // to a read-only one).
  bool is_mmio(Addr gpa, bool write);
  bool done_ = false, aborted_ = false;
  std::function<double()> cost_probe_;
  Stats& stats_;
  PkvmHyp* pkvm_ = nullptr;
  uint16_t pkvm_handle_ = 0;
  uint64_t progress_ = 0;  // offset reached in a multi-page share or unshare
  double hvc_ns_ = 0, pending_ns_ = 0;
  std::function<void(uint64_t, bool)> page_shared_;
  // One HVC at EL2, with the host's part of a MEM_SHARE of a page not faulted
  // in yet (the faked data abort: KVM maps the page, the HVC runs again).
  Resolution pkvm_hvc(uint64_t fn, uint64_t x1, uint64_t* ret);
  VcpuExitCounts exits_;
  std::function<void(const char*, bool)> exit_observer_;
  // ---- TDX (Linux tdx_handle_exit and its helpers) ----
  // VP.ENTER if the vCPU is not in its TD; false: the exit is in run_.
  bool td_enter();
  Resolution td_stage2_fault(const Stage2Fault& f);
  // An EPT violation exit on a private GPA: KVM AUGs (true) or exits (false, run_).
  bool td_ept_violation(Addr gpa, int level, bool write);
  Resolution td_internal_error(const std::string& why);
  // TDG.VP.VMCALL<MapGPA>, resumed across its KVM_EXIT_HYPERCALLs; Retry with R10/R11 in `out`.
  Resolution td_map_gpa(Addr gpa, uint64_t size, TdcallOut* out);
  Resolution td_accept(uint64_t gpa_level, TdcallOut* out);
  Resolution td_convert(Addr gpa, uint64_t size, bool to_private, uint64_t* ret);
  Resolution inject(const char* fault) {
    injected_ = fault;
    return Resolution::Injected;
  }
  KvmTdx* td_ = nullptr;
  const char* injected_ = "none";
  std::optional<MapGpa> map_gpa_;
  struct TdConvert {
    bool active = false, accepting = false;
    Addr next = 0;
  } conv_;

  // Counted here and in the platform-wide counters kvm.exits.*.
  void handled_in_kernel(const char* why);
  void returned_to_vmm();
};

}  // namespace cocosim
