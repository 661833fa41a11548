#include "op_table.h"

#include <cerrno>
#include <csignal>
#include <unordered_map>

namespace cocosim {

namespace {

using A = Vmm::Access;

std::vector<OpHandler> make_table() {
  constexpr bool kSyscall = true;
  return {
      {"KVM_CREATE_VM", [](OpContext& c, const Step& s) { return c.vmm.create_vm(s); }, kSyscall, 0, ENOMEM},
      {"KVM_CREATE_VCPU", [](OpContext& c, const Step& s) { return c.vmm.create_vcpu(s); }, kSyscall, 0, ENOMEM},
      {"KVM_CREATE_GUEST_MEMFD", [](OpContext& c, const Step& s) { return c.vmm.create_guest_memfd(s); },
       kSyscall, 0, ENOMEM},
      {"KVM_SET_USER_MEMORY_REGION",
       [](OpContext& c, const Step& s) { return c.vmm.set_user_memory_region(s, false); }, kSyscall, 0, ENOMEM},
      {"KVM_SET_USER_MEMORY_REGION2",
       [](OpContext& c, const Step& s) { return c.vmm.set_user_memory_region(s, true); }, kSyscall, 0, ENOMEM},
      {"KVM_ENABLE_CAP", [](OpContext& c, const Step& s) { return c.vmm.enable_cap(s); }, kSyscall, 0, ENOMEM},
      {"KVM_SET_MEMORY_ATTRIBUTES", [](OpContext& c, const Step& s) { return c.vmm.set_memory_attributes(s); },
       kSyscall, 0, ENOMEM},
      {"KVM_SET_MEMORY_ATTRIBUTES2", [](OpContext& c, const Step& s) { return c.vmm.set_memory_attributes2(s); },
       kSyscall, 0, ENOMEM},
      {"KVM_TDX_INIT_VM", [](OpContext& c, const Step& s) { return c.vmm.tdx_init_vm(s); }, kSyscall, 0, ENOMEM},
      {"KVM_TDX_INIT_VCPU", [](OpContext& c, const Step& s) { return c.vmm.tdx_init_vcpu(s); }, kSyscall, 0, ENOMEM},
      {"KVM_TDX_INIT_MEM_REGION", [](OpContext& c, const Step& s) { return c.vmm.tdx_init_mem_region(s); },
       kSyscall, 0, ENOMEM},
      {"KVM_TDX_FINALIZE_VM", [](OpContext& c, const Step& s) { return c.vmm.tdx_finalize_vm(s); }, kSyscall, 0,
       ENOMEM},
      // SEAMCALL from the host kernel: charged timing.seamcall.
      {"seamcall", [](OpContext& c, const Step& s) { return c.vmm.seamcall(s); }, false, 0, ENOMEM},
      // The vCPU charges its own time (entries, exits, guest accesses).
      {"KVM_RUN", [](OpContext& c, const Step& s) { return c.vmm.kvm_run(s); }, false, 0, ENOMEM},
      {"mmap", [](OpContext& c, const Step& s) { return c.vmm.mmap(s); }, kSyscall, 0, ENOMEM},
      {"munmap", [](OpContext& c, const Step& s) { return c.vmm.munmap(s); }, kSyscall, 0, ENOMEM},
      {"read", [](OpContext& c, const Step& s) { return c.vmm.no_file_op(s); }, kSyscall, 0, ENOMEM},
      {"write", [](OpContext& c, const Step& s) { return c.vmm.no_file_op(s); }, kSyscall, 0, ENOMEM},
      {"ftruncate", [](OpContext& c, const Step& s) { return c.vmm.no_file_op(s); }, kSyscall, 0, ENOMEM},
      {"fallocate", [](OpContext& c, const Step& s) { return c.vmm.fallocate(s); }, kSyscall, 0, ENOSPC},
      {"fstat", [](OpContext& c, const Step& s) { return c.vmm.fstat(s); }, kSyscall, 0, ENOMEM},
      {"close", [](OpContext& c, const Step& s) { return c.vmm.close(s); }, kSyscall, 0, ENOMEM},
      {"fork", [](OpContext& c, const Step& s) { return c.vmm.fork(s); }, kSyscall, 0, ENOMEM},
      {"pin", [](OpContext& c, const Step& s) { return c.vmm.pin(s, true); }, kSyscall, 0, ENOMEM},
      {"unpin", [](OpContext& c, const Step& s) { return c.vmm.pin(s, false); }, kSyscall, 0, ENOMEM},
      // Host user accesses are charged what the host MMU and DRAM took.
      {"load", [](OpContext& c, const Step& s) { return c.vmm.user_access(s, A::Load); }, false, SIGBUS, 0},
      {"store", [](OpContext& c, const Step& s) { return c.vmm.user_access(s, A::Store); }, false, SIGBUS, 0},
      {"memset", [](OpContext& c, const Step& s) { return c.vmm.user_access(s, A::Memset); }, false, SIGBUS, 0},
      {"load_elf", [](OpContext& c, const Step& s) { return c.vmm.load_elf(s); }, false, SIGBUS, 0},
      {"host_kernel", [](OpContext& c, const Step& s) { return c.vmm.host_kernel(s); }, false, 0, ENOMEM},
      {"hvc", [](OpContext& c, const Step& s) { return c.vmm.hvc(s); }, false, 0, ENOMEM},
      {"dram_read", [](OpContext& c, const Step& s) { return c.inspection.dram_read(s); }, false, 0, ENOMEM},
      {"inspect", [](OpContext& c, const Step& s) { return c.inspection.inspect(s); }, false, 0, ENOMEM},
  };
}

}  // namespace

const std::vector<OpHandler>& op_handlers() {
  static const std::vector<OpHandler> table = make_table();
  return table;
}

const OpHandler* op_handler(const std::string& op) {
  static const std::unordered_map<std::string, const OpHandler*> by_name = [] {
    std::unordered_map<std::string, const OpHandler*> m;
    for (const OpHandler& h : op_handlers()) m[h.op] = &h;
    return m;
  }();
  auto it = by_name.find(op);
  return it == by_name.end() ? nullptr : it->second;
}

}  // namespace cocosim
