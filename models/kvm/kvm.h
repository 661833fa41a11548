// Host KVM: creates VMs and guest_memfd files and owns their lifetimes. A
// guest_memfd holds a reference on its VM (as kvm_gmem_create's kvm_get_kvm
// does), so a VM whose fd is closed lives on until its last file is gone.
#pragma once
#include <functional>
#include <map>
#include <memory>
#include <string>

#include "common/memory_port.h"
#include "common/stats.h"
#include "gmem/guest_memfd.h"
#include "host/frame_allocator.h"
#include "kvm/vm.h"

namespace cocosim {

class Kvm {
 public:
  struct Hooks {
    std::function<void(Vm&)> vm_created;
    std::function<void(Vm&)> vm_destroyed;
    std::function<void(GuestMemfd&)> gmem_created;
    std::function<void(GuestMemfd&)> gmem_destroyed;
  };

  Kvm(const Architecture& arch, FrameAllocator& frames, MemoryPort& mem, Stats& stats)
      : arch_(arch), frames_(frames), mem_(mem), stats_(stats) {}
  ~Kvm();
  void set_hooks(Hooks h) { hooks_ = std::move(h); }
  // Destroy every VM (platform shutdown; no file may still reference them).
  void shutdown();

  const Architecture& arch() const { return arch_; }
  // Whether TDX is enabled (the platform says so: it has a memory encryption
  // engine with TDX KeyIDs); without it KVM_X86_TDX_VM is not among the
  // supported types. On by default for KVM on its own (unit tests).
  void set_tdx_enabled(bool on) { tdx_enabled_ = on; }
  bool tdx_enabled() const { return tdx_enabled_; }

  int create_vm(const std::string& name, VmType type, Vm** out);
  // Closes the VMM's fd; the VM is destroyed once nothing references it.
  void close_vm(Vm* vm);
  // A vCPU's fd is closed: the reference it held on its VM goes (the VM may go with it).
  void vcpu_closed(Vm* vm) { put_vm(vm->id()); }
  int create_guest_memfd(Vm& vm, const std::string& name, uint64_t size, uint64_t flags,
                         std::shared_ptr<GuestMemfd>* out);

  Vm* vm_by_id(int id) const;
  const std::map<int, std::unique_ptr<Vm>>& vms() const { return vms_; }
  // Live guest_memfd files (fd open, mapped or pinned).
  const std::map<int, GuestMemfd*>& gmems() const { return gmems_; }

 private:
  void destroy_gmem(GuestMemfd* f);
  void put_vm(int id);

  const Architecture& arch_;
  FrameAllocator& frames_;
  MemoryPort& mem_;
  Stats& stats_;
  Hooks hooks_;
  std::map<int, std::unique_ptr<Vm>> vms_;
  std::map<int, GuestMemfd*> gmems_;
  int next_vm_ = 1;
  bool tdx_enabled_ = true;
  static constexpr int kMaxGmemFiles = 1 << 16;
  int next_gmem_ = 1;
};

}  // namespace cocosim
