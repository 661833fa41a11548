// Assembles the models into an x86-tdx or arm64-pkvm platform for a scenario:
// the physical bus with DRAM, the host CPU and its MMU, guest_memfd's mmap
// target, KVM with one stage-2 MMU per VM, and a pool of vCPUs.
#pragma once
#include <map>
#include <memory>
#include <vector>

#include <systemc>

#include "bus/bus.h"
#include "common/stats.h"
#include "cpu/stage2_format.h"
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
#include "kvm/kvm_vcpu.h"
#include "scenario/scenario.h"

namespace cocosim {

class Platform {
 public:
  // Frames below this are kept for firmware and never handed out.
  static constexpr uint64_t kFirstFreePfn = 0x100;

  Platform(const PlatformConfig& cfg, unsigned vcpu_slots, Stats& stats);
  ~Platform();

  const PlatformConfig& config() const { return cfg_; }
  bool arm64() const { return cfg_.arch == Arch::Arm64Pkvm; }
  Stats& stats() { return stats_; }

  // Whether the frame is a private page of some VM (guest_memfd state).
  bool private_frame(uint64_t pfn) const;
  // Whether any host PTE, DMI pointer or long-term pin reaches the frame.
  bool host_mapped(uint64_t pfn) const;

  // Creates KVM's vCPU and gives it a vCPU module; false when none is left.
  KvmVcpu* create_vcpu(Vm& vm, int id, std::unique_ptr<Executor> exec, int* err);
  KvmVcpu* kvm_vcpu(int vm, int id);
  Vcpu* vcpu_module(int vm, int id);
  KvmMmu* mmu(int vm);

  // Latency charged by control-plane work since the last call.
  sc_core::sc_time take_control_delay();
  // What the host kernel and KVM spent on memory since the last call (a vCPU
  // thread's fault handling takes its own share, the VMM's steps the rest).
  double take_port_delay_ns();
  void charge_ns(double ns) { control_ns_ += ns; }

  Stats& stats_;
  PlatformConfig cfg_;
  std::unique_ptr<Stage2Format> s2fmt;
  FrameAllocator frames;
  Bus phys_bus;
  Dram dram;
  KernelPort kernel_port;
  KernelPort hyp_port;
  GmemMmapTarget gmem_target;
  HostMm mm;
  HostMmu host_mmu;
  HostCpu host_cpu;
  Kvm kvm;
  std::vector<std::unique_ptr<Vcpu>> vcpus;
  std::vector<unsigned> vcpu_bus_port;  // each vCPU's initiator index on phys_bus

 private:
  void vm_created(Vm& vm);
  void vm_destroyed(Vm& vm);

  struct VcpuBinding {
    std::unique_ptr<KvmVcpu> kvm;
    Vcpu* module;
  };
  std::map<int, std::unique_ptr<KvmMmu>> mmus_;
  std::map<std::pair<int, int>, VcpuBinding> vcpu_bindings_;
  double control_ns_ = 0;
};

}  // namespace cocosim
