// The platform: one sc_module whose children are the models, named by the
// hierarchy (platform.bus, platform.dram, platform.vcpu0, ...), so counters
// and (later) waveform scopes follow it. Two slots hold models that see every
// access on a path: `mee` between the bus and DRAM (the memory encryption
// engine on x86-tdx with `encryption: ci|li`; otherwise it only decodes the
// KeyID bits above the physical address width) and `host_s2` between the
// host's initiators and the bus (pass-through until pKVM's host stage-2 sits there).
//
//   host_kernel ─┐                                  ┌─► mee ─► dram
//   gmem_mmap ───┼─► host_s2 ─┐                     │
//   host_mmu ────┘            ├─► bus ──────────────┘
//   hypervisor ───────────────┤   (DMI policy and registry)
//   tdx_module (SEAM) ────────┤
//   vcpu0..N ─────────────────┘
#pragma once
#include <map>
#include <memory>
#include <vector>

#include <systemc>

#include "arch/architecture.h"
#include "bus/bus.h"
#include "bus/interposer.h"
#include "common/stats.h"
#include "cpu/vcpu.h"
#include "dram/dram.h"
#include "gmem/gmem_mmap_target.h"
#include "host/frame_allocator.h"
#include "host/host_cpu.h"
#include "host/host_mm.h"
#include "host/host_mmu.h"
#include "host/kernel_port.h"
#include "kvm/kvm.h"
#include "kvm/kvm_mmu.h"
#include "kvm/kvm_tdx.h"
#include "kvm/kvm_vcpu.h"
#include "mee/key_ids.h"
#include "mee/mee_slot.h"
#include "ownership/pamt.h"
#include "tdx/tdx_module.h"
#include "ownership/ownership.h"
#include "pkvm/host_stage2_policy.h"
#include "pkvm/pkvm_hyp.h"
#include "scenario/scenario.h"

namespace cocosim {

// The architecture a platform configuration asks for.
std::unique_ptr<Architecture> make_platform_arch(const PlatformConfig& cfg, Stats& stats);

class Platform : public sc_core::sc_module {
 public:
  // Frames below this are kept for firmware and never handed out.
  static constexpr uint64_t kFirstFreePfn = 0x100;
  // arm64-pkvm: EL2's own memory (its pool for stage-2 tables), carved out
  // above the host's `platform.dram` as Linux reserves it at boot.
  static constexpr uint64_t kHypPoolBytes = uint64_t{32} << 20;

  Platform(const PlatformConfig& cfg, unsigned vcpu_slots, Stats& stats,
           sc_core::sc_module_name name = "platform");
  ~Platform() override;
  void start_of_simulation() override;

  const PlatformConfig& config() const { return cfg_; }
  const Architecture& architecture() const { return *arch; }
  Stats& stats() { return stats_; }

  // Whether the frame is a private page of some VM (the ownership model's record).
  bool private_frame(uint64_t pfn) const { return ownership.guest_private(pfn); }
  // Whether any host PTE, DMI pointer or long-term pin reaches the frame.
  bool host_mapped(uint64_t pfn) const;
  // Whether a DMI pointer of the host's initiators (bus ports of the host
  // kernel, guest_memfd's mmap target and the host MMU, or a host MMU grant)
  // reaches the frame.
  bool host_mapped_by_dmi(uint64_t pfn) const;
  // A vCPU (bus port `initiator`) may hold a DMI pointer to a page pKVM
  // donated to its own VM: EL2 maps it for that guest alone.
  bool guest_dmi_allowed(unsigned initiator, uint64_t pfn) const;

  // ---- The memory encryption engine and the KeyID space (x86-tdx) --------
  // The engine in the `mee` slot, or null (arm64, or `encryption: off`): then
  // there are no TDX KeyIDs and KVM refuses TDs (KVM_CREATE_VM type tdx: EINVAL).
  MeeSlot* mee() { return mee_.get(); }
  bool tdx_capable() const { return mee_ != nullptr; }
  // MKTME / TDX partition of the KeyIDs; null without the engine.
  KeyIdSpace* keyids() { return keyids_.get(); }
  // A private HKID for a new TD (tdx_guest_keyid_alloc); nullopt when none is left.
  std::optional<unsigned> alloc_hkid();
  // Back to the pool at teardown (after TDH.MNG.KEY.FREEID): frames whose
  // plaintext the engine still holds under it are written back first.
  bool free_hkid(unsigned hkid);
  // TDH.MNG.KEY.CONFIG (PCONFIG): a fresh key for the KeyID, drawn from
  // platform.seed, so runs repeat.
  void program_key(unsigned keyid);
  // PA | keyid << pa_bits: how an access names a KeyID (Linux's mk_keyed_paddr).
  Addr keyid_address(Addr pa, unsigned keyid) const;
  // MOVDIR64B over [pa, pa + len) (64-byte aligned) with KeyID 0, as KVM's
  // tdx_clear_page does on reclaim: full lines of zeros, which clear the TD
  // bit and any poison. Charged as hypervisor memory traffic.
  void movdir64b_clear(Addr pa, size_t len);

  // Creates KVM's vCPU and gives it a vCPU module; false when none is left.
  // On a TD, `init_td_vcpu` runs KVM_TDX_INIT_VCPU too; `why` explains a refusal.
  KvmVcpu* create_vcpu(Vm& vm, int id, std::unique_ptr<Executor> exec, int* err,
                       bool init_td_vcpu = true, std::string* why = nullptr);
  KvmVcpu* kvm_vcpu(int vm, int id);
  // Closes a vCPU's fd: its module is free again, and its reference on the VM
  // goes (the last one destroys the VM). EBADF: no such vCPU; EBUSY: it runs.
  int close_vcpu(Vm& vm, int id);
  unsigned vcpu_count(int vm) const;
  Vcpu* vcpu_module(int vm, int id);
  KvmMmu* mmu(int vm);
  // KVM's TDX side of a `tdx` VM (nullptr for other VM types).
  KvmTdx* td(int vm);

  // Latency charged by control-plane work since the last call.
  sc_core::sc_time take_control_delay();
  // What the host kernel and KVM spent on memory since the last call (a vCPU
  // thread's fault handling takes its own share, the VMM's steps the rest).
  double take_port_delay_ns();
  void charge_ns(double ns) { control_ns_ += ns; }
  // Levels that are read once at the end of a run (frames in use, DRAM
  // backed, frames by owner).
  void record_gauges();
  // Folds the vCPUs' fast-path counts into their counters (reads nothing
  // else, changes nothing simulated): before a --stats-interval snapshot.
  void publish_counters();
  // --no-dmi: no initiator gets a DMI pointer; every access is a b_transport.
  void disable_dmi() { phys_bus.set_dmi_enabled(false); }
  // The simulated time of the calling SystemC process in ps, a vCPU's local
  // time ahead of the kernel included (the trace's clock).
  uint64_t now_ps() const;
  // Tracing on: each VM's private and shared frame counts as waveforms.
  void trace_page_counts() const;

  Stats& stats_;
  PlatformConfig cfg_;
  std::unique_ptr<Architecture> arch;
  FrameAllocator frames;
  Ownership ownership;
  KeyIdPolicy keyid_policy;
  HostStage2Policy host_s2_policy;  // passes everything unless pKVM is there
  Bus phys_bus;
  Interposer host_slot;  // "host_s2": host initiators -> bus
  Dram dram;
  KernelPort kernel_port;
  KernelPort hyp_port;
  // The TDX module's accesses (SecurityState::Seam): at PA | KeyID << pa_bits
  // through keyid_address(), a private KeyID makes them TD-owner accesses.
  KernelPort seam_port;
  GmemMmapTarget gmem_target;
  HostMm mm;
  HostMmu host_mmu;
  HostCpu host_cpu;
  Kvm kvm;
  // x86-tdx with an engine: PAMT over all of DRAM (one TDMR) and the TDX
  // module, whose accesses go through seam_port.
  std::unique_ptr<Pamt> pamt;
  std::unique_ptr<TdxModule> tdx;
  std::vector<std::unique_ptr<Vcpu>> vcpus;
  std::vector<unsigned> vcpu_bus_port;  // each vCPU's initiator index on phys_bus
  // pKVM at EL2 on arm64-pkvm (null elsewhere), with its pool of frames.
  std::unique_ptr<FrameAllocator> hyp_pool;
  std::unique_ptr<PkvmHyp> pkvm;
  // A pkvm VM's handle at EL2 (-1: not a pkvm VM).
  int pkvm_handle(int vm) const;
  // EL2's own non-protected VM for the ownership selftest's guest shares
  // (selftest_vm in mem_protect.c), made on first use.
  uint16_t pkvm_selftest_vm();

 private:
  void vm_created(Vm& vm);
  void vm_destroyed(Vm& vm);
  void start_pkvm();
  void drop_vcpu_dmi(Vcpu& v);
  int host_unmap_for_guest(uint64_t pfn);

  struct VcpuBinding {
    std::unique_ptr<KvmVcpu> kvm;
    Vcpu* module;
  };
  // Exactly one of these is the "mee" slot (bus -> DRAM).
  std::unique_ptr<KeyIdSpace> keyids_;
  std::unique_ptr<MeeSlot> mee_;         // the engine
  std::unique_ptr<Interposer> mem_slot_;  // no engine: KeyID decode only
  std::map<int, std::unique_ptr<KvmMmu>> mmus_;
  std::map<std::pair<int, int>, VcpuBinding> vcpu_bindings_;
  std::map<int, uint16_t> pkvm_handles_;  // KVM VM id -> EL2 handle
  int selftest_vm_ = -1;
  double control_ns_ = 0;
};

}  // namespace cocosim
