// A vCPU: runs its executor in its own SystemC thread with temporal
// decoupling, translates every guest access through the stage-2 MMU and
// reaches memory over the physical bus (DMI where the bus allows it). Faults
// go to the hypervisor, which installs a mapping (retry) or ends the run.
#pragma once
#include <cstring>
#include <memory>
#include <string>
#include <unordered_map>

#include <systemc>
#include <tlm>
#include <tlm_utils/simple_initiator_socket.h>

#include "common/access_extension.h"
#include "common/dmi_cache.h"
#include "common/memory_port.h"
#include "common/stats.h"
#include "common/trace.h"
#include "cpu/executor.h"
#include "cpu/stage2_mmu.h"
#include "cpu/tlb.h"
#include "arch/tlb_control.h"

namespace cocosim {

// The hypervisor's side of a vCPU (KVM's arch backend implements it).
class VcpuHypervisor {
 public:
  enum class Resolution {
    Retry,     // a mapping was installed: walk again
    Emulated,  // the access was completed by the host (MMIO after re-entry)
    Exit,      // the run ends here; the reason is in kvm_run
    Injected,  // a fault goes to the guest (named by injected_fault(): VE, UD)
  };
  enum class Ucall { Sync, Done, Abort };
  virtual ~VcpuHypervisor() = default;
  virtual Resolution stage2_fault(const Stage2Fault& f, bool shared) = 0;
  // Retry: completed, *ret holds the result; Exit: the host must act first.
  virtual Resolution convert(Addr gpa, uint64_t size, bool to_private, uint64_t attrs, uint64_t* ret) = 0;
  virtual void ucall(Ucall kind, const std::string& text) = 0;
  // TDCALL from the guest: Retry when `out` is filled.
  virtual Resolution tdcall(const TdcallRegs& in, TdcallOut* out) = 0;
  // The access consumed poison or failed a MAC (#MC): what the hypervisor
  // makes of it (a TD: the module's fatal exit; another guest: an injected MC).
  virtual Resolution machine_check() { return Resolution::Injected; }
  // The fault of the last Injected resolution.
  virtual const char* injected_fault() const { return "none"; }
  // A guest HVC64 (SMCCC): Retry with x0 in *ret, or Exit to the host first.
  virtual Resolution hvc(uint64_t fn, uint64_t x1, uint64_t* ret) {
    *ret = ~uint64_t{0};  // SMCCC NOT_SUPPORTED
    return Resolution::Retry;
  }
  // arm64: a data abort on `gpa` whose instruction gives no valid syndrome
  // (ESR_EL2.ISV 0; `iss`: the ISS the CPU reports). Retry: the GPA is not
  // emulated MMIO, the access goes on; Exit: KVM_RUN returns (kvm_run says
  // how) and the instruction runs again at the next entry; Injected: a data
  // abort goes to the guest.
  virtual Resolution mmio_nisv(Addr gpa, bool write, uint64_t iss) { return Resolution::Retry; }
  // The guest's executor cannot go on: KVM_EXIT_INTERNAL_ERROR with `why`.
  virtual void internal_error(const std::string& why) {}
  // The guest triple-faulted: KVM_EXIT_SHUTDOWN with `why`.
  virtual void shutdown(const std::string& why) { internal_error(why); }
  // Simulated time the hypervisor spent on the last call, in ns (charged to the vCPU).
  virtual double take_cost_ns() { return 0; }
};

// The TLB's size (platform.tlb).
struct TlbConfig {
  unsigned entries = 1024;     // 4 KiB entries
  unsigned huge_entries = 32;  // 2 MiB entries
};

struct VcpuTiming {
  sc_core::sc_time tlb_hit = sc_core::sc_time(0.5, sc_core::SC_NS);
  sc_core::sc_time walk_level = sc_core::sc_time(2, sc_core::SC_NS);
  sc_core::sc_time vm_exit = sc_core::sc_time(1, sc_core::SC_US);
  sc_core::sc_time quantum = sc_core::sc_time(1, sc_core::SC_US);
};

class Vcpu : public sc_core::sc_module, public GuestEnv, public Stage2TlbControl {
 public:
  tlm_utils::simple_initiator_socket<Vcpu> socket;

  Vcpu(sc_core::sc_module_name name, const Architecture& arch, VcpuTiming timing, TlbConfig tlb,
       Stats& stats);

  void bind_guest(VcpuHypervisor* hv, std::unique_ptr<Executor> ex, Stage2Roots roots, int vm,
                  int id);
  bool bound() const { return hv_ != nullptr; }
  const Executor* executor() const { return exec_.get(); }
  int vm() const { return vm_; }
  int id() const { return id_; }
  // From another SystemC thread: run the guest until it leaves; returns then.
  void enter() {
    start();
    wait_exit();
  }
  // The same in two halves, so the caller can act while the guest runs.
  void start();
  void wait_exit();
  bool running() const { return running_; }
  // How far this vCPU's local time runs ahead of the kernel's (temporal decoupling).
  const sc_core::sc_time& local_time() const { return local_; }
  // The event notified when the guest leaves (for a timed wait on it).
  const sc_core::sc_event& exit_event() const { return exit_ev_; }

  // Fold the fast path's count into the TLB, DMI and access counters.
  void publish_stats();
  void end_of_simulation() override { publish_stats(); }

  Tlb& tlb() { return tlb_; }
  Stage2Mmu& mmu() { return mmu_; }
  // The GPA bit of a TD's shared alias (0 for other VMs): `shared:` accesses set it.
  void set_shared_alias(Addr bit) { shared_alias_ = bit; }
  // A TD's vCPU: private accesses carry `hkid` above `pa_bits` and are made in the TD state.
  void set_td_keyid(unsigned hkid, unsigned pa_bits) {
    td_tag_mask_ = hkid ? ~((Addr{1} << pa_bits) - 1) : 0;
    mmu_.set_private_tag(Addr(hkid) << pa_bits);
  }
  size_t dmi_pages() const { return dmi_.size(); }
  // Physical pages this vCPU holds a DMI pointer to (for the invariant checker).
  // The micro-TLB's translation (for the invariant checker): false when empty.
  bool micro_entry(uint64_t* gfn, const uint8_t** page) const {
    if (micro_gfn_ == kNoPage) return false;
    *gfn = micro_gfn_;
    *page = micro_ptr_;
    return true;
  }
  const uint8_t* dmi_page(uint64_t pfn) const { return dmi_.find(pfn); }
  bool micro_writable() const { return micro_writable_; }
  template <typename Fn>
  void for_each_dmi_page(Fn fn) const {
    dmi_.for_each(fn);
  }

  // GuestEnv. An access within one page whose translation is in the TLB and
  // whose frame is the last one used through DMI never leaves this function.
  Outcome access(Addr gpa, void* data, size_t len, bool write, bool shared) override {
    if (shared) gpa |= shared_alias_;
    if (trace::on()) trace_gpa(gpa);  // the hot path: a call by value, out of line
    // The micro-TLB: the last page translated, with its DMI pointer (one
    // compare); then the TLB and the last DMI page.
    const uint64_t gfn = gpa >> kPageShift;
    if ((gpa & kPageMask) + len <= kPageSize &&
        ((gfn == micro_gfn_ && (!write || micro_writable_)) ||
         refill_micro(gfn, mmu_.tlb_hit_pfn(gpa, write), write))) {
      ++fast_;  // a TLB hit and a DMI access: counted into the stats by publish_stats()
      uint8_t* p = micro_ptr_ + (gpa & kPageMask);
      if (len == 8)
        write ? std::memcpy(p, data, 8) : std::memcpy(data, p, 8);
      else
        write ? std::memcpy(p, data, len) : std::memcpy(data, p, len);
      advance(hit_latency_);
      return Outcome::Ok;
    }
    return access_slow(gpa, static_cast<uint8_t*>(data), len, write, shared);
  }
  Outcome convert(Addr gpa, uint64_t size, bool to_private, uint64_t attrs, uint64_t* ret) override;
  Outcome tdcall(const TdcallRegs& in, TdcallOut* out) override;
  Outcome hvc(uint64_t fn, uint64_t x1, uint64_t* ret) override;
  Outcome mmio_nisv(Addr gpa, bool write, uint64_t iss) override;
  std::string fault_name() const override { return fault_; }
  void ucall_sync(const std::string& tag) override;
  void ucall_done() override;
  void ucall_abort(const std::string& message) override;
  void consume_ns(double ns) override;
  Outcome translate_page(Addr gpa, bool write, bool exec, GuestPage* page) override;
  void translate_run(Addr gpa, const GuestPage& page, uint64_t lo_gfn, uint64_t end_gfn, uint64_t* first_gfn,
                     uint64_t* pages) override;
  void set_translation_listener(TranslationListener* l) override { listener_ = l; }
  bool exit_to_host() override;
  void internal_error(const std::string& why) override { hv_->internal_error(why); }
  void shutdown(const std::string& why) override { hv_->shutdown(why); }
  // The pages the executor maps itself (the ISA executor), for the invariant checker.
  const GuestPageMap* executor_pages() const { return listener_ ? listener_->mapped_pages() : nullptr; }

  // Stage2TlbControl
  void invept_single_context() override;
  void tlbi_ipas2e1is(uint64_t first_gfn, uint64_t end_gfn) override;
  void tlbi_vmalle1is() override;
  void tlbi_vmalls12e1is() override;

 private:
  // Page-table reads of the MMU: through the same bus, marked as walker accesses.
  class WalkerPort : public MemoryPort {
   public:
    explicit WalkerPort(Vcpu& v) : v_(v) {}
    void read(Addr pa, void* dst, size_t len) override;
    void write(Addr pa, const void* src, size_t len) override;

   private:
    Vcpu& v_;
  };

  // The TLB gave `pfn` for `gfn` (~0: miss); cache it with the DMI page if that is the last one.
  bool refill_micro(uint64_t gfn, uint64_t pfn, bool write) {
    if (pfn != last_pfn_) return false;
    micro_gfn_ = gfn;
    micro_ptr_ = last_ptr_;
    micro_writable_ = write || mmu_.tlb_hit_pfn(gfn << kPageShift, true) == pfn;
    return true;
  }
  void count_injected(const std::string& fault);
  [[gnu::cold, gnu::noinline]] void trace_gpa(Addr gpa);
  void flush_micro() { micro_gfn_ = kNoPage; micro_ptr_ = nullptr; }
  // An executor's own mappings go with every stage-2 invalidation.
  void invalidate_executor(uint64_t first_gfn, uint64_t end_gfn) {
    if (listener_) listener_->stage2_invalidated(first_gfn, end_gfn);
  }
  // The bus's DMI pointer to the page at physical `page_pa` (nullptr: refused).
  uint8_t* request_dmi(Addr page_pa, Initiator who);
  void leave_guest();
  void thread();
  Outcome access_slow(Addr gpa, uint8_t* data, size_t len, bool write, bool shared);
  // may_yield: whether the quantum may be handed back after the access.
  bool phys_access(Addr pa, uint8_t* data, size_t len, bool write, Initiator who,
                   bool may_yield = true);
  void invalidate_dmi(sc_dt::uint64 start, sc_dt::uint64 end);
  // Temporal decoupling: time runs ahead locally and is handed to the kernel
  // when the quantum is used up (what tlm_quantumkeeper does, with the check
  // reduced to one comparison on the hot path).
  void advance(const sc_core::sc_time& d) {
    local_ += d;
    if (local_ >= budget_) sync();
  }
  void sync();

  VcpuTiming timing_;
  WalkerPort walker_;
  Tlb tlb_;
  Stage2Mmu mmu_;
  sc_core::sc_time local_;   // local time ahead of sc_time_stamp()
  sc_core::sc_time budget_;  // local time at which the quantum is used up
  sc_core::sc_event run_ev_, exit_ev_;
  VcpuHypervisor* hv_ = nullptr;
  std::unique_ptr<Executor> exec_;
  TranslationListener* listener_ = nullptr;  // the executor's, if it maps pages itself
  // An executor replaced while its run() was parked in exit_to_host(): kept
  // until that run() has unwound (the thread's stack still runs inside it).
  std::unique_ptr<Executor> retired_;
  int parked_ = 0;          // run() calls parked in exit_to_host()
  uint64_t generation_ = 0;  // bumped by every bind_guest()
  int vm_ = -1, id_ = -1;
  bool running_ = false;
  std::string fault_;
  DmiCache dmi_;  // by physical page number
  // The DMI page used last; never equal to the TLB-miss answer (~0).
  static constexpr uint64_t kNoPage = ~uint64_t{0} - 1;
  uint64_t last_pfn_ = kNoPage;
  uint64_t micro_gfn_ = kNoPage;  // micro-TLB: flushed with the TLB and with DMI
  uint8_t* micro_ptr_ = nullptr;
  bool micro_writable_ = false;
  uint8_t* last_ptr_ = nullptr;
  sc_core::sc_time dmi_latency_;
  sc_core::sc_time hit_latency_;  // TLB hit + DMI access
  uint64_t fast_ = 0;
  Addr shared_alias_ = 0;
  Addr td_tag_mask_ = 0;
  bool machine_check_ = false;  // the last bus access raised #MC
  uint64_t& accesses_;
  uint64_t& exits_;
  uint64_t& dmi_accesses_;
  uint64_t& transactions_;
  uint64_t& translation_faults_;
  uint64_t& permission_faults_;
  uint64_t& run_pages_;  // pages translate_run() added beside the translated one
  Stats& stats_;  // faults the hypervisor injects, counted by name as they come
};

}  // namespace cocosim
