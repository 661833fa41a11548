// The VMM a scenario drives: its file descriptors and names (VMs, vCPUs,
// guest_memfd files, mappings, processes, pins), the host-side operations on
// them, QEMU's kvm_convert_memory() and the KVM_RUN loop with `auto:` and
// `during:`. One method per operation; the dispatch table (op_table.h) maps
// operation names to them.
#pragma once
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include "platform.h"
#include "result.h"
#include "scenario/scenario.h"

namespace cocosim {

class Report;
class OpObserver;

// What the VMM's fds and names refer to (an fd closed or never made gives EBADF).
class VmmNames {
 public:
  Vm* vm(const std::string& name) const;
  std::shared_ptr<GuestMemfd> gmem(const std::string& name) const;
  // The process a step names (`process:`, the VMM by default); -1: none.
  int pid(const Args& a) const;
  int vmm_pid() const;

  std::map<std::string, Vm*> vms;
  std::map<std::string, Vm*> vcpu_vms;  // VMs by name for their vCPU fds (outlive the VM fd)
  std::map<std::string, std::shared_ptr<GuestMemfd>> gmems;
  std::map<std::string, int> procs;
  struct Pin {
    std::shared_ptr<GuestMemfd> file;  // a pinned page holds its file
    uint64_t pfn;
  };
  std::multimap<std::pair<std::string, uint64_t>, Pin> pins;
};

Result errno_result(int err);

class Vmm {
 public:
  // Exits one KVM_RUN's `auto:` may handle before the VMM gives up.
  static constexpr uint64_t kMaxAutoRounds = 100000;
  // How often, in simulated time, the VMM looks at the limits while a vCPU runs.
  static constexpr double kPollNs = 10000;
  // `run_step` executes one of a KVM_RUN's `during:` steps as the runner would;
  // `poll` is called while a vCPU runs (it ends the run when a limit is reached).
  Vmm(const Scenario& sc, Platform& p, Report& report, std::function<void(const Step&)> run_step,
      std::function<void(const Step&)> poll);
  ~Vmm();
  VmmNames& names() { return names_; }
  const VmmNames& names() const { return names_; }
  // Given to every scripted guest from KVM_CREATE_VCPU on (a debugger; null: none).
  void set_op_observer(OpObserver* o) { op_observer_ = o; }

  // KVM ioctls.
  Result create_vm(const Step& s);
  Result create_vcpu(const Step& s);
  Result create_guest_memfd(const Step& s);
  Result set_user_memory_region(const Step& s, bool v2);
  Result enable_cap(const Step& s);
  Result set_memory_attributes(const Step& s);
  Result set_memory_attributes2(const Step& s);
  Result kvm_run(const Step& s);
  // Host processes and files.
  Result mmap(const Step& s);
  Result munmap(const Step& s);
  Result pin(const Step& s, bool pin);
  Result fork(const Step& s);
  Result close(const Step& s);
  Result no_file_op(const Step& s);  // read, write, ftruncate: guest_memfd has none
  Result fallocate(const Step& s);
  Result fstat(const Step& s);
  enum class Access { Load, Store, Memset };
  Result user_access(const Step& s, Access kind);
  // An ELF program's loadable segments written through a host mapping whose
  // offset 0 backs guest-physical `gpa` (how a VMM loads a guest image).
  Result load_elf(const Step& s);
  Result host_kernel(const Step& s);
  // TDX (vmm_tdx.cpp).
  Result tdx_init_vm(const Step& s);
  Result tdx_init_vcpu(const Step& s);
  Result tdx_init_mem_region(const Step& s);
  Result tdx_finalize_vm(const Step& s);
  Result seamcall(const Step& s);
  // arm64-pkvm: an EL2 function called by name, as pKVM's ownership selftest does.
  Result hvc(const Step& s);

 private:
  Vma* vma(int pid, const std::string& map) { return p_.mm.find_vma(pid, map); }
  // The TD a TDX ioctl names; nullptr with the refusal (EBADF, ENOTTY, EIO) in `refused`.
  KvmTdx* td_for(const Step& s, Result* refused);
  // Whether the scenario initializes this vCPU itself (KVM_TDX_INIT_VCPU).
  bool scenario_inits_vcpu(const std::string& vm, uint64_t id) const;
  // -v: a line for each exit of the vCPU, with the guest's PC (op index for
  // a scripted guest), those KVM handles itself too.
  void watch_exits(KvmVcpu& kv, const std::string& vm_name, int vm, int id);
  // QEMU's kvm_convert_memory(): refuses memory not backed by guest_memfd,
  // sets the attributes, then discards the other copy. 0, or an errno and why.
  int convert_memory(Vm& vm, Addr gpa, uint64_t size, bool to_private, std::string* why);
  // Whether the GPAs of [gpa, gpa + size) already have that attribute.
  bool attributes_are(const Vm& vm, Addr gpa, uint64_t size, bool to_private) const;

  const Scenario& sc_;
  Platform& p_;
  Report& report_;
  std::function<void(const Step&)> run_step_;
  std::function<void(const Step&)> poll_;
  VmmNames names_;
  OpObserver* op_observer_ = nullptr;
};

}  // namespace cocosim
